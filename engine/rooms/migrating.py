"""Migration: move running instances to another deployed version of their process.

`engine/migration.py` plans and applies the move on one loaded workflow; this room owns the
transaction around it (lock, plan, refuse or apply, advance, save).
"""

from __future__ import annotations

from sqlalchemy import select

from .. import instances as records
from .. import migration
from ..clock import frozen_time
from ..core import EngineCore, conflicts_as_errors
from ..errors import Conflict, NotFound
from ..models import Instance
from ..unit import Unit
from .deployments import version_row
from .starting import save


def migrate(core: EngineCore, instance_id: int, to_version: int | None, dry_run: bool,
            user: str | None) -> migration.MigrationPlan:
    """Move a running instance to another version (default: the latest) if its active
    elements all exist there; otherwise refuse with the reasons. `dry_run` only plans."""
    now = core.now()
    with conflicts_as_errors(), core.db.write() as session:
        record = records.load(session, instance_id, lock=not core.db.is_sqlite)
        if record is None:
            raise NotFound(f"instance {instance_id} does not exist")
        if record.status in ("completed", "terminated", "cancelled"):
            raise Conflict(f"instance {instance_id} has already {record.status}; only running instances move")
        target = version_row(session, record.process_id, to_version)
        current = core.specs_for(session, record.version_id)
        new = core.specs_for(session, target.id)
        unit = Unit(core, session, record, now)
        active, reasons, diffs = migration.plan(unit.workflow, new.spec, new.subprocess_specs)
        result = migration.MigrationPlan(
            instance_id=instance_id, from_version=current.version, to_version=target.version,
            allowed=not reasons, reasons=reasons, active_elements=active,
        )
        if target.id == record.version_id:
            result.allowed = False
            result.reasons = [f"instance {instance_id} is already on version {target.version}"]
        if dry_run or not result.allowed:
            session.rollback()
            return result
        with frozen_time(now):
            migration.apply(unit.workflow, diffs, new.spec, new.subprocess_specs)
        record.version_id = target.id
        unit.version = new
        unit.refresh_task_rows = True
        unit.recorder.record(
            "migrated", now, user=user, delta={"from_version": current.version, "to_version": target.version}
        )
        unit.advance()
        save(core, session, unit)
        return result


def migrate_all(core: EngineCore, process_id: str, to_version: int | None, dry_run: bool,
                user: str | None) -> list[migration.MigrationPlan]:
    """Every running instance of a process, one transaction each; refusals are reported."""
    with core.db.read() as session:
        ids = list(session.scalars(
            select(Instance.id).where(
                Instance.process_id == process_id, Instance.status.not_in(("completed", "terminated", "cancelled"))
            ).order_by(Instance.id)
        ))
    return [migrate(core, i, to_version, dry_run, user) for i in ids]
