"""History cleanup: finished instances older than their process's retention period go.

Completed, terminated and cancelled instances keep their history and state until then; the
worker removes them in small batches (one short transaction each) so a backlog never holds
locks for long. Retention is in days per process, with a default (`Retention`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import delete, select, true, update

from .clock import ensure_utc
from .errors import InvalidInput
from .models import HistoryEntry, HumanTask, Incident, Instance, Job, MessageSubscription, OutboxMessage, Timer
from .operations import CleanupResult

if TYPE_CHECKING:
    from .core import EngineCore as Engine

FINISHED = ("completed", "terminated", "cancelled")
DEFAULT_DAYS = 180
BATCH = 50


@dataclass(frozen=True)
class Retention:
    """Days a finished instance is kept: per process, else `default_days`."""

    default_days: int = DEFAULT_DAYS
    per_process: dict[str, int] = field(default_factory=dict)

    def days(self, process_id: str) -> int:
        return self.per_process.get(process_id, self.default_days)

    @classmethod
    def parse(cls, default_days: int | str | None = None, per_process: str | None = None) -> Retention:
        """From text like `lead_to_invoice=365,case_resolution=90` (how the environment gives it)."""
        default = _days(default_days, "default") if default_days not in (None, "") else DEFAULT_DAYS
        found: dict[str, int] = {}
        for part in (per_process or "").split(","):
            if not part.strip():
                continue
            name, sep, value = part.partition("=")
            if not sep or not name.strip():
                raise InvalidInput(f"retention {part.strip()!r}: write PROCESS=DAYS, e.g. case_resolution=90")
            found[name.strip()] = _days(value, name.strip())
        return cls(default, found)

    @classmethod
    def from_env(cls) -> Retention:
        """CRMFLOW_RETENTION_DAYS (default 180) and CRMFLOW_RETENTION (PROCESS=DAYS,...)."""
        return cls.parse(os.environ.get("CRMFLOW_RETENTION_DAYS"), os.environ.get("CRMFLOW_RETENTION"))


def _days(raw: int | str, what: str) -> int:
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise InvalidInput(f"retention for {what}: {raw!r} is not a whole number of days") from None
    if value < 1:
        raise InvalidInput(f"retention for {what}: keep finished instances at least 1 day, not {value}")
    return value


def cleanup(engine: Engine, retention: Retention, now: datetime | None = None, dry_run: bool = False,
            batch: int = BATCH, max_batches: int = 20) -> CleanupResult:
    """Remove finished instances past their retention, `batch` per transaction, at most
    `max_batches` batches per call (the worker calls again on its next pass)."""
    now = ensure_utc(now) if now else engine.now()
    result = CleanupResult(dry_run=dry_run)
    with engine.db.read() as session:
        processes = list(session.scalars(select(Instance.process_id).distinct()))
    for process_id in processes:
        cutoff = now - timedelta(days=retention.days(process_id))
        stmt = (select(Instance.id).where(Instance.process_id == process_id, Instance.status.in_(FINISHED),
                                          Instance.ended_at.is_not(None), Instance.ended_at < cutoff)
                .order_by(Instance.id))
        for _ in range(max_batches):
            with engine.db.write() as session:
                ids = list(session.scalars(stmt.where(Instance.id.not_in(result.instances) if dry_run else true())
                                           .limit(batch)))
                if not ids:
                    break
                if not dry_run:
                    _remove(session, ids)
            result.instances.extend(ids)
            result.by_process[process_id] = result.by_process.get(process_id, 0) + len(ids)
            if len(ids) < batch:
                break
    return result


def _remove(session: object, ids: list[int]) -> None:
    for model in (HistoryEntry, HumanTask, Timer, MessageSubscription, Incident, Job):
        session.execute(delete(model).where(model.instance_id.in_(ids)))  # type: ignore[attr-defined]
    session.execute(  # type: ignore[attr-defined]
        update(OutboxMessage).where(OutboxMessage.instance_id.in_(ids)).values(instance_id=None))
    session.execute(delete(Instance).where(Instance.id.in_(ids)))  # type: ignore[attr-defined]
