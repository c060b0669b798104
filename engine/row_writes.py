"""A unit's projection rows (human tasks, timers, subscriptions) read with Core and written
with statements compiled once, not by ORM queries and the ORM's flush.

Saving a unit changes one to three of these rows; an ORM flush of them costs ≈ 0.5 ms (change
tracking, the unit-of-work sort, a statement built per flush), ten times the SQL. Here each
kind of write is a `db.Prepared` statement per table and set of columns, run once per table as
an executemany. The ORM objects stay what the rest of the unit reads:

- a new row is a `StoredRow` (`new_row`: every column, None where not given; making an ORM
  object costs ten times more) holding the values written, and its id when the table makes one
  (`insert_with_ids`); later queries in the transaction read the row from the table, as after a
  flush;
- an updated row is a persistent object whose new values are set as committed (not dirty, so
  no flush writes them again) and registered with the session's transaction as changed, so a
  rollback (of a savepoint too) expires it and it is read again, as after a flush;
- a deleted row's object leaves the session (expunged), so no later `session.get` returns it.

Only the columns whose values differ are updated, as the ORM does; a value equal to the
current one writes nothing.

Rows are read (`read_rows`) as an ORM query would return them where it matters: the session's
own object for a row it already holds (its in-memory values, e.g. a timer the scheduler marked
fired), else a plain `StoredRow` with the row's columns as attributes, cheaper to make than an
ORM object and never tracked; the writes above change it in place.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, insert, inspect, update
from sqlalchemy import util as sa_util
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.sql import Select

from .db import Prepared, connection

_ROW_ID = "row_id"  # the primary key's bind name in UPDATE and DELETE (not a column name)
_STATEMENTS: dict[tuple[Any, ...], Prepared] = {}


class StoredRow:
    """A row read with Core, or one to insert: its columns as attributes (what the row views
    read). Never tracked by a session, so setting an attribute would change nothing in the
    table: it is refused; `update_rows` writes a change (and sets it here)."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__.update(values)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"{name} of a row read or made by engine.row_writes is not tracked by the session: "
            "change it with row_writes.update_rows")


_NO_VALUES: dict[type, dict[str, None]] = {}


def new_row(model: type, **values: Any) -> StoredRow:
    """A new row of `model`'s table: the given values, None for every other column (as an ORM
    object not yet flushed reads)."""
    empty = _NO_VALUES.get(model)
    if empty is None:
        empty = _NO_VALUES[model] = dict.fromkeys(c.key for c in model.__table__.columns)
    unknown = values.keys() - empty.keys()
    if unknown:
        raise TypeError(f"{model.__name__} has no column {', '.join(sorted(unknown))}")
    return StoredRow({**empty, **values})


def _is_orm(row: Any) -> bool:
    return hasattr(row, "_sa_instance_state")


def read_rows(session: Session, model: type, stmt: Select, params: Mapping[str, Any],
              autoflush: bool = True) -> list[Any]:
    """The rows `stmt` (a Core select of all of `model`'s table's columns) finds: the session's
    object for a row it holds, else a `StoredRow`. With `autoflush`, the session's pending
    changes are flushed first, as an ORM query does."""
    if autoflush:
        session._autoflush()  # noqa: SLF001 - the query's own autoflush (and its error message)
    mapper = inspect(model)
    pk = _pk(model).key
    identity = session.identity_map
    rows = []
    for values in connection(session).execute(stmt, params).mappings():
        held = identity.get(mapper.identity_key_from_primary_key((values[pk],))) if identity else None
        rows.append(held if held is not None else StoredRow(values))
    return rows


def _prepared(key: tuple[Any, ...], build: Callable[[], Prepared]) -> Prepared:
    """The statement for `key`, built once (two threads racing build the same one twice)."""
    stmt = _STATEMENTS.get(key)
    if stmt is None:
        stmt = _STATEMENTS[key] = build()
    return stmt


def _pk(model: type) -> Any:
    (column,) = model.__table__.primary_key.columns
    return column


def insert_rows(session: Session, model: type, rows: Sequence[Any], columns: Sequence[str]) -> None:
    """INSERT `rows` (`new_row`s of `model`) with the values of `columns` they hold, in order, in
    one executemany. Columns left out get NULL; a column with a Python-side default
    must be listed (`Prepared` refuses otherwise)."""
    if not rows:
        return
    table = model.__table__
    stmt = _prepared(("insert", table.name, tuple(columns)),
                     lambda: Prepared(insert(table), column_keys=columns, many=True))
    stmt.execute(connection(session), [{c: getattr(row, c) for c in columns} for row in rows])


def insert_with_ids(session: Session, model: type, rows: Sequence[Any], columns: Sequence[str]) -> None:
    """As `insert_rows`, for a table that numbers its rows: one INSERT … RETURNING per row, in
    order, each row's id set on its object (the ORM's flush numbers them in the same order)."""
    if not rows:
        return
    table = model.__table__
    pk = _pk(model)
    stmt = _prepared(("insert_id", table.name, tuple(columns)),
                     lambda: Prepared(insert(table).returning(pk), column_keys=columns))
    conn = connection(session)
    for row in rows:
        row.__dict__[pk.key] = stmt.execute(conn, {c: getattr(row, c) for c in columns}).scalar_one()


def update_rows(session: Session, model: type, changes: Iterable[tuple[Any, dict[str, Any]]]) -> None:
    """UPDATE each row (a persistent object or a `StoredRow`) to the given values, only where they
    differ from the row's; one executemany per set of changed columns, in the order first met."""
    groups: dict[tuple[str, ...], list[tuple[Any, dict[str, Any]]]] = {}
    for row, values in changes:
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if changed:
            groups.setdefault(tuple(changed), []).append((row, changed))
    if not groups:
        return
    table = model.__table__
    pk = _pk(model)
    conn = connection(session)
    altered = []
    for columns, rows in groups.items():
        stmt = _prepared(("update", table.name, columns), lambda columns=columns: Prepared(
            update(table).where(pk == bindparam(_ROW_ID)).values({c: bindparam(c) for c in columns}), many=True))
        matched = stmt.execute(conn, [{_ROW_ID: getattr(row, pk.key), **values} for row, values in rows]).rowcount
        if matched != len(rows) and _sane_rowcount(conn, len(rows)):
            raise StaleDataError(  # the ORM's own error for a row gone meanwhile
                f"UPDATE statement on table '{table.description}' expected to update {len(rows)} row(s); "
                f"{matched} were matched.")
        for row, values in rows:
            if not _is_orm(row):
                row.__dict__.update(values)
                continue
            for key, value in values.items():
                set_committed_value(row, key, value)
            altered.append(inspect(row))
    if altered:
        session._register_altered(altered)  # noqa: SLF001 - what a flush does: a rollback expires them


def delete_rows(session: Session, model: type, rows: Sequence[Any]) -> None:
    """DELETE these rows (one executemany); the session's objects among them are expunged."""
    if not rows:
        return
    table = model.__table__
    pk = _pk(model)
    stmt = _prepared(("delete", table.name),
                     lambda: Prepared(delete(table).where(pk == bindparam(_ROW_ID)), many=True))
    conn = connection(session)
    matched = stmt.execute(conn, [{_ROW_ID: getattr(row, pk.key)} for row in rows]).rowcount
    if matched != len(rows) and _sane_rowcount(conn, len(rows)):
        sa_util.warn(  # the ORM's own warning (a DELETE of a missing row is no error there either)
            f"DELETE statement on table '{table.description}' expected to delete {len(rows)} row(s); {matched} "
            "were matched.  Please set confirm_deleted_rows=False within the mapper configuration to prevent "
            "this warning.")
    for row in rows:
        if _is_orm(row):
            session.expunge(row)


def _sane_rowcount(conn: Any, rows: int) -> bool:
    """Whether the driver's rowcount of this executemany can be trusted (as the ORM asks)."""
    return conn.dialect.supports_sane_multi_rowcount if rows > 1 else conn.dialect.supports_sane_rowcount
