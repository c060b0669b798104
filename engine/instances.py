"""Reading and writing the instance row with prebuilt Core statements.

The instance row is written on every step; going through the ORM's change tracking and
flush costs more than the SQL itself, so the hot path uses statements built once here.
Optimistic concurrency is explicit: an update names the `lock_version` it read and
fails with a `Conflict` if another unit got there first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from .db import Prepared
from .errors import Conflict
from .models import Instance, ProcessVersion

TABLE = Instance.__table__
_COLUMNS = [c.name for c in TABLE.columns]
_PV = ProcessVersion.__table__
_NEW_COLUMNS = [k for k in _COLUMNS if k != "id"]
# A new instance of the latest version in one statement: the version is looked up inside the
# INSERT (no second round trip, and always the latest committed deploy, whichever process made it).
_INSERT_LATEST = Prepared(
    insert(TABLE)
    .from_select(
        _NEW_COLUMNS,
        select(*[_PV.c.id if k == "version_id" else bindparam(k, type_=TABLE.c[k].type) for k in _NEW_COLUMNS])
        .where(_PV.c.process_id == bindparam("latest_of"))
        .order_by(_PV.c.version.desc())
        .limit(1),
    )
    .returning(TABLE.c.id, TABLE.c.version_id)
)
_SELECT = select(TABLE).where(TABLE.c.id == bindparam("iid"))
_SELECT_LOCKED = _SELECT.with_for_update()
_SELECT_SKIP_LOCKED = _SELECT.with_for_update(skip_locked=True)
_INSERT = Prepared(insert(TABLE).returning(TABLE.c.id), column_keys=_NEW_COLUMNS)
_UPDATE = Prepared(
    update(TABLE)
    .where(TABLE.c.id == bindparam("iid"), TABLE.c.lock_version == bindparam("expected"))
    .values(
        status=bindparam("status"),
        state=bindparam("state"),
        variables=bindparam("variables"),
        serializer_version=bindparam("serializer_version"),
        lock_version=bindparam("next_version"),
        version_id=bindparam("version_id"),
        updated_at=bindparam("updated_at"),
        ended_at=bindparam("ended_at"),
        steps=bindparam("steps"),
    )
)


@dataclass
class InstanceRecord:
    """The instance row as a plain object the unit of work reads and changes."""

    id: int
    process_id: str
    version_id: int
    business_key: str | None
    status: str
    state: str
    variables: str | None
    serializer_version: str
    lock_version: int
    started_by: str | None
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    steps: int


def load(session: Session, instance_id: int, lock: bool, skip_locked: bool = False) -> InstanceRecord | None:
    """The row, locked for this transaction when `lock` (None when missing — or, with
    `skip_locked`, when another transaction holds it)."""
    stmt = (_SELECT_SKIP_LOCKED if skip_locked else _SELECT_LOCKED) if lock else _SELECT
    row = session.connection().execute(stmt, {"iid": instance_id}).mappings().first()
    return None if row is None else InstanceRecord(**{k: row[k] for k in _COLUMNS})


def create(session: Session, record: InstanceRecord) -> InstanceRecord:
    values = {k: getattr(record, k) for k in _COLUMNS if k != "id"}
    record.id = _INSERT.execute(session.connection(), values).scalar_one()
    return record


def create_latest(session: Session, record: InstanceRecord) -> InstanceRecord | None:
    """Insert `record` as an instance of its process's latest version (set on `record`); None,
    and nothing inserted, when the process has no deployed version."""
    values = {k: getattr(record, k) for k in _NEW_COLUMNS if k != "version_id"}
    row = _INSERT_LATEST.execute(session.connection(), {**values, "latest_of": record.process_id}).first()
    if row is None:
        return None
    record.id, record.version_id = row
    return record


def save(session: Session, record: InstanceRecord) -> None:
    result = _UPDATE.execute(
        session.connection(),
        {
            "iid": record.id,
            "expected": record.lock_version,
            "next_version": record.lock_version + 1,
            "status": record.status,
            "state": record.state,
            "variables": record.variables,
            "serializer_version": record.serializer_version,
            "updated_at": record.updated_at,
            "ended_at": record.ended_at,
            "steps": record.steps,
            "version_id": record.version_id,
        },
    )
    if result.rowcount != 1:
        raise Conflict(f"instance {record.id} was changed by someone else at the same time; try again")
    record.lock_version += 1
