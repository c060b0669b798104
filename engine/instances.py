"""Reading and writing the instance row with prebuilt Core statements.

The instance row is written on every step; going through the ORM's change tracking and
flush costs more than the SQL itself, so the hot path uses statements built once here.
Optimistic concurrency is explicit: an update names the `lock_version` it read and
fails with a `Conflict` if another unit got there first.
"""

from __future__ import annotations

import json
import weakref
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from .db import Prepared, bind_processor, connection, driver_execute
from .errors import Conflict
from .history import write as write_history
from .models import HistoryEntry, Instance, ProcessVersion

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
    row = connection(session).execute(stmt, {"iid": instance_id}).mappings().first()
    return None if row is None else InstanceRecord(**{k: row[k] for k in _COLUMNS})


def create(session: Session, record: InstanceRecord) -> InstanceRecord:
    values = {k: getattr(record, k) for k in _COLUMNS if k != "id"}
    record.id = _INSERT.execute(connection(session), values).scalar_one()
    return record


def create_latest(session: Session, record: InstanceRecord) -> InstanceRecord | None:
    """Insert `record` as an instance of its process's latest version (set on `record`); None,
    and nothing inserted, when the process has no deployed version."""
    values = {k: getattr(record, k) for k in _NEW_COLUMNS if k != "version_id"}
    row = _INSERT_LATEST.execute(connection(session), {**values, "latest_of": record.process_id}).first()
    if row is None:
        return None
    record.id, record.version_id = row
    return record


def save(session: Session, record: InstanceRecord, history: list[dict[str, Any]] | None = None) -> None:
    """Write the changed row (refused with `Conflict` if another unit wrote it since it was read),
    then the unit's `history` rows (`HistoryRecorder.take`): on PostgreSQL both in one statement,
    one round trip instead of two."""
    conn = connection(session)
    params = {
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
    }
    if history and conn.dialect.name == "postgresql":
        matched = driver_execute(
            conn, _SAVE_WITH_HISTORY_PG, _pg_params(conn.dialect, params, history)
        ).scalar_one()
    else:
        matched = _UPDATE.execute(conn, params).rowcount
        if matched == 1 and history:
            write_history(conn, history)
    if matched != 1:
        raise Conflict(f"instance {record.id} was changed by someone else at the same time; try again")
    record.lock_version += 1


# PostgreSQL: the row's UPDATE and the history INSERT in one statement (a data-modifying CTE;
# the history rows travel as one JSON array of rows, kept in order by ORDINALITY: psycopg adapts
# one text parameter in microseconds, eight typed arrays element by element cost more than the
# statement). No history row is written when the UPDATE matched nothing (a concurrent change),
# as with two statements.
_HISTORY = HistoryEntry.__table__
_HISTORY_COLUMNS = ["at", "event", "task_id", "element_id", "element_name", "element_type", "user", "data_delta"]
_SAVE_WITH_HISTORY_PG = """WITH saved AS (
    UPDATE wf_instance SET status = %(status)s, state = %(state)s, variables = %(variables)s,
        serializer_version = %(serializer_version)s, lock_version = %(next_version)s,
        version_id = %(version_id)s, updated_at = %(updated_at)s, ended_at = %(ended_at)s, steps = %(steps)s
    WHERE id = %(iid)s AND lock_version = %(expected)s
    RETURNING id
), written AS (
    INSERT INTO wf_history (instance_id, at, event, task_id, element_id, element_name, element_type, "user",
        data_delta)
    SELECT saved.id, (h.r->>0)::timestamptz, h.r->>1, h.r->>2, h.r->>3, h.r->>4, h.r->>5, h.r->>6,
        (h.r->>7)::json
    FROM saved, json_array_elements(%(history)s::json) WITH ORDINALITY AS h(r, n)
    ORDER BY h.n
)
SELECT count(*) FROM saved"""


def _pg_params(dialect: Any, params: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """Bind values as SQLAlchemy would send them (the columns' own type processors); each history
    row as a JSON array of its columns' bound values, `at` in ISO 8601 and `data_delta` as the
    JSON text SQLAlchemy would store (so a row without one holds JSON null, as before)."""
    procs = _PG_PROCESSORS.get(dialect)
    if procs is None:
        procs = _PG_PROCESSORS[dialect] = {
            "updated_at": _processor(TABLE.c.updated_at, dialect),
            "ended_at": _processor(TABLE.c.ended_at, dialect),
            **{f"h_{k}": _processor(_HISTORY.c[k], dialect) for k in _HISTORY_COLUMNS},
        }
    bound = dict(params)
    for key in ("updated_at", "ended_at"):
        bound[key] = procs[key](bound[key]) if procs[key] else bound[key]
    columns = [(key, procs[f"h_{key}"]) for key in _HISTORY_COLUMNS]
    rows = []
    for row in history:
        values = [process(row[key]) if process else row[key] for key, process in columns]
        at, delta = values[0], values[7]
        values[0] = at.isoformat() if isinstance(at, datetime) else at
        if delta is not None and not isinstance(delta, str):  # psycopg's Json(obj, dumps): its text
            values[7] = (getattr(delta, "dumps", None) or json.dumps)(getattr(delta, "obj", delta))
        rows.append(values)
    bound["history"] = json.dumps(rows, separators=(",", ":"))
    return bound


def _processor(column: Any, dialect: Any) -> Any:
    return bind_processor(column.type.dialect_impl(dialect).bind_processor(dialect), column.type)


_PG_PROCESSORS: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()
