"""Handlers for the scale-out fault tests, loaded by `crmflow worker` via `CRMFLOW_HANDLERS`.

Every call writes a row to `scaleout_call` through the step's own session, so the row
commits exactly when the step does. The table's primary key (instance, idempotency key)
means a step committed twice could not go unnoticed: the second insert fails.
`SCALEOUT_HANDLER_DELAY` (seconds, default 0) keeps a handler busy so a `kill -9` is
likely to land inside it; `SCALEOUT_CALL_LOG` names a file that gets one line per call
*begun*, outside any transaction, so calls cut short by a kill can be counted.
"""

from __future__ import annotations

import os
import time
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table

from engine import HandlerRegistry, ServiceContext

METADATA = MetaData()
CALLS = Table(
    "scaleout_call",
    METADATA,
    Column("instance_id", Integer, primary_key=True),
    Column("call_key", String(80), primary_key=True),
    Column("element_id", String(80), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
DELAY_ENV = "SCALEOUT_HANDLER_DELAY"
CALL_LOG_ENV = "SCALEOUT_CALL_LOG"


def _begin(ctx: ServiceContext) -> None:
    """Note the call outside the transaction (it survives a kill), then dawdle if asked."""
    log = os.environ.get(CALL_LOG_ENV)
    if log:
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{ctx.instance_id} {os.getpid()}\n".encode())
        finally:
            os.close(fd)
    delay = float(os.environ.get(DELAY_ENV) or 0)
    if delay > 0:
        time.sleep(delay)


def _record(ctx: ServiceContext) -> None:
    ctx.session.execute(
        CALLS.insert().values(
            instance_id=ctx.instance_id, call_key=ctx.idempotency_key, element_id=ctx.element_id,
            pid=os.getpid(), at=ctx.now,
        )
    )


def record(ctx: ServiceContext, n: Any = None) -> dict[str, Any]:
    """The asynchronous step of the 3-worker test: leave one row per committed call."""
    _begin(ctx)
    _record(ctx)
    return {"n": n, "pid": os.getpid()}


def mail(ctx: ServiceContext, n: Any = None) -> dict[str, Any]:
    """The crash test's step: queue one email through the outbox (delivered after commit)."""
    _begin(ctx)
    _record(ctx)
    key = ctx.send(
        "email",
        {"to": f"customer{n}@crmflow.test", "subject": f"Your order {n}", "body": f"instance {ctx.instance_id}"},
    )
    return {"n": n, "mail_key": key}


def register(registry: HandlerRegistry) -> None:
    registry.register("scaleout/record", record)
    registry.register("scaleout/mail", mail)
