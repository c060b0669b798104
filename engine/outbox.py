"""Side effects leave through an outbox: written in the step's transaction, sent after commit.

A handler calls `ctx.send(channel, payload)`; the row commits (or rolls back) with the
workflow step. `deliver` hands pending rows to the sender registered for their channel
and marks them sent in a transaction of their own. A crash between sending and marking
sends again with the same idempotency key, which the receiver (an SMTP Message-ID) can
recognise — never a second, different message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import Database
from .db import connection as unit_connection
from .models import OutboxMessage

Sender = Callable[[dict[str, Any], str], None]
MAX_ATTEMPTS = 8


@dataclass
class DeliveryReport:
    sent: int
    failed: int
    errors: list[str]


@functools.cache
def _insert_new(dialect: str) -> Any:
    """INSERT … ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, built once per database
    kind (None where there is none, or no RETURNING: SQLite before 3.35): one statement instead
    of a SELECT and an ORM insert."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        return None
    table = OutboxMessage.__table__
    return insert(table).on_conflict_do_nothing(index_elements=[table.c.idempotency_key]).returning(table.c.id)


def enqueue(
    session: Session, channel: str, payload: dict[str, Any], key: str, now: datetime, instance_id: int | None
) -> bool:
    """Add a message unless one with this key exists already (a retried step); True if added."""
    connection = unit_connection(session)
    insert_new = _insert_new(connection.dialect.name) if connection.dialect.insert_returning else None
    if insert_new is not None:
        added = connection.execute(insert_new, {
            "instance_id": instance_id, "channel": channel, "idempotency_key": key, "payload": payload,
            "state": "pending", "attempts": 0, "created_at": now, "next_attempt_at": now,
        }).first()
        return added is not None
    exists = session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == key))
    if exists is not None:
        return False
    session.add(
        OutboxMessage(
            instance_id=instance_id, channel=channel, idempotency_key=key, payload=payload, state="pending",
            attempts=0, created_at=now, next_attempt_at=now,
        )
    )
    return True


def deliver(db: Database, senders: dict[str, Sender], now: datetime, limit: int = 100) -> DeliveryReport:
    """Send what is pending and due, oldest first, one row per transaction."""
    report = DeliveryReport(0, 0, [])
    with db.read() as session:
        ids = list(
            session.scalars(
                select(OutboxMessage.id)
                .where(OutboxMessage.state == "pending", OutboxMessage.next_attempt_at <= now)
                .order_by(OutboxMessage.id)
                .limit(limit)
            )
        )
    for message_id in ids:
        with db.write() as session:
            stmt = select(OutboxMessage).where(OutboxMessage.id == message_id, OutboxMessage.state == "pending")
            if not db.is_sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            row = session.scalars(stmt).first()
            if row is None:
                continue  # another worker has it
            sender = senders.get(row.channel)
            if sender is None:
                row.last_error = f"no sender is configured for channel '{row.channel}'"
                row.next_attempt_at = now + timedelta(minutes=5)
                report.errors.append(row.last_error)
                report.failed += 1
                continue
            row.attempts += 1
            try:
                sender(dict(row.payload), row.idempotency_key)
            except Exception as err:  # noqa: BLE001 - a failed delivery is retried, never lost
                row.last_error = f"{type(err).__name__}: {err}"
                row.state = "failed" if row.attempts >= MAX_ATTEMPTS else "pending"
                row.next_attempt_at = now + timedelta(seconds=30 * 2 ** (row.attempts - 1))
                report.errors.append(f"outbox {row.id} ({row.channel}): {row.last_error}")
                report.failed += 1
                continue
            row.state = "sent"
            row.sent_at = now
            report.sent += 1
    return report
