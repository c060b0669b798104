"""engine.db.Prepared sends what SQLAlchemy itself would send: same SQL, same bound values."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, insert, select, text
from sqlalchemy.exc import IntegrityError

from engine import instances
from engine.db import Prepared, driver_execute
from engine.models import HistoryEntry, ProcessVersion
from engine.validation import ValidationContext


class _Stop(Exception):
    pass


def _captured(conn, run):  # noqa: ANN001, ANN202
    """What reaches the driver (statement, parameters), stopped before it runs."""
    seen = []

    def capture(_conn, _cursor, statement, parameters, _context, executemany):  # noqa: ANN001
        seen.append((statement, parameters, executemany))
        raise _Stop

    event.listen(conn, "before_cursor_execute", capture)
    try:
        run()
    except Exception:  # noqa: BLE001, S110 - _Stop, however SQLAlchemy wraps it
        pass
    finally:
        event.remove(conn, "before_cursor_execute", capture)
    return seen


@pytest.fixture
def conn(engine):  # noqa: ANN001, ANN201
    with engine.db.write_engine.connect() as connection, connection.begin() as tx:
        yield connection
        tx.rollback()


def test_history_rows_bound_as_sqlalchemy_binds_them(conn) -> None:  # noqa: ANN001
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    rows = [
        {"instance_id": 1, "at": now, "event": "completed", "task_id": "t", "element_id": "e", "element_name": "n",
         "element_type": "ScriptTask", "user": None, "data_delta": {"set": {"a": [1, "x"]}}},
        {"instance_id": 1, "at": now, "event": "instance_completed", "task_id": None, "element_id": None,
         "element_name": None, "element_type": None, "user": "ann", "data_delta": None},
    ]
    prepared = Prepared(insert(HistoryEntry.__table__), column_keys=list(rows[0]), many=True)
    ours = _captured(conn, lambda: prepared.execute(conn, rows))
    theirs = _captured(conn, lambda: conn.execute(insert(HistoryEntry.__table__), rows))
    assert ours[0][0] == theirs[0][0]
    assert ours[0][2] and theirs[0][2], "one executemany"
    assert repr([tuple(p) if isinstance(p, tuple | list) else p for p in ours[0][1]]) == repr(
        [tuple(p) if isinstance(p, tuple | list) else p for p in theirs[0][1]])


def test_a_statement_with_fixed_binds_gets_them(conn) -> None:  # noqa: ANN001
    """The latest-version INSERT fixes its LIMIT itself; Prepared fills it in as SQLAlchemy does."""
    sql, order, fixed = instances._INSERT_LATEST._compile(conn.dialect)
    assert fixed, "the LIMIT is a bind the statement fixes"
    compiled = instances._INSERT_LATEST.statement.compile(dialect=conn.dialect)
    given = {name: f"v-{name}" for name, _, _ in order if name not in fixed}
    expected = compiled.construct_params(given, escape_names=False)
    assert {name: (given | fixed)[name] for name, _, _ in order} == {name: expected[name] for name, _, _ in order}
    assert sql == compiled.string


def test_a_driver_error_is_sqlalchemys_and_listeners_see_each_statement(conn) -> None:  # noqa: ANN001
    """driver_execute skips SQLAlchemy's execution context, not its events or its error wrapping:
    a constraint violation is SQLAlchemy's IntegrityError (so callers and `db.is_busy` see the
    same classes), and before/after_cursor_execute see the statement."""
    seen = []
    before = lambda _c, _cur, statement, _p, _ctx, many: seen.append(("before", statement, many))  # noqa: E731
    after = lambda _c, _cur, statement, _p, _ctx, many: seen.append(("after", statement, many))  # noqa: E731
    event.listen(conn, "before_cursor_execute", before)
    event.listen(conn, "after_cursor_execute", after)
    try:
        row = {"instance_id": None, "at": datetime(2026, 1, 5, tzinfo=UTC), "event": "x", "task_id": None,
               "element_id": None, "element_name": None, "element_type": None, "user": None, "data_delta": None}
        prepared = Prepared(insert(HistoryEntry.__table__), column_keys=list(row), many=True)
        result = driver_execute(conn, "SELECT 1", ())
        assert result.scalar_one() == 1 and tuple(result.first()) == (1,)
        with pytest.raises(IntegrityError):
            prepared.execute(conn, [row])  # instance_id is NOT NULL
    finally:
        event.remove(conn, "before_cursor_execute", before)
        event.remove(conn, "after_cursor_execute", after)
    assert [kind for kind, _, _ in seen] == ["before", "after", "before"]
    assert seen[0][1] == "SELECT 1" and seen[2][2] is True


def test_a_pooled_connection_the_server_dropped_is_replaced_unseen(engine) -> None:  # noqa: ANN001
    """PostgreSQL: the checkout's BEGIN is the pool's ping (engine/db.py `_pinged_by_begin`), so
    a connection the server terminated while it sat in the pool never reaches a unit."""
    if engine.db.is_sqlite:
        pytest.skip("PostgreSQL only")
    with engine.db.write() as session:
        pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    admin = create_engine(engine.db.url)
    try:
        with admin.connect() as other:
            assert other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    finally:
        admin.dispose()
    with engine.db.write() as session:  # the same pooled connection, dead: replaced at checkout
        assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() != pid
        assert session.execute(text("SELECT count(*) FROM wf_instance")).scalar_one() >= 0


def test_postgresql_save_writes_history_as_sqlalchemy_would(engine) -> None:  # noqa: ANN001
    """PostgreSQL saves the instance row and its history in one statement (the history as one
    JSON parameter): the rows stored are those SQLAlchemy's own INSERT stores, in order."""
    if engine.db.is_sqlite:
        pytest.skip("PostgreSQL only")
    now = datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC)
    history = [
        {"event": "instance_started", "at": now, "task_id": None, "element_id": None, "element_name": None,
         "element_type": None, "user": "ann", "data_delta": {"set": {"naïve": "ü €", "n": [1, 2.5, None]}}},
        {"event": "completed", "at": now, "task_id": "t-1", "element_id": "prepare", "element_name": "Prépare",
         "element_type": "ScriptTask", "user": None, "data_delta": None},
        {"event": "instance_completed", "at": now, "task_id": None, "element_id": None, "element_name": None,
         "element_type": None, "user": None, "data_delta": {"quote": "a \"b\" \\ c"}},
    ]
    columns = 'at, event, task_id, element_id, element_name, element_type, "user", data_delta::text'
    engine.deploy([Path(__file__).parents[1] / "bench" / "diagrams" / "bench_linear.bpmn"],
                  context=ValidationContext(check_handlers=False))
    with engine.db.write() as session:
        version_id = session.scalar(select(ProcessVersion.id))
        ours = instances.InstanceRecord(
            id=0, process_id="bench_linear", version_id=version_id, business_key=None, status="running", state="",
            variables=None, serializer_version="1", lock_version=1, started_by=None, created_at=now, updated_at=now,
            ended_at=None, steps=0,
        )
        theirs = instances.InstanceRecord(**{**ours.__dict__})
        instances.create(session, ours)
        instances.create(session, theirs)
        instances.save(session, ours, [dict(row, instance_id=ours.id) for row in history])
        session.execute(insert(HistoryEntry.__table__), [dict(row, instance_id=theirs.id) for row in history])
        read = [
            session.execute(text(f"SELECT {columns} FROM wf_history WHERE instance_id = :i ORDER BY id"),
                            {"i": iid}).all()
            for iid in (ours.id, theirs.id)
        ]
        session.rollback()
    assert read[0] == read[1]
    assert [row[1] for row in read[0]] == ["instance_started", "completed", "instance_completed"]


def test_savepoints_go_to_the_driver_and_roll_back_as_before(engine) -> None:  # noqa: ANN001
    """The write engine's SAVEPOINT / RELEASE / ROLLBACK TO go through `driver_execute`: listeners
    see each statement, a rolled-back savepoint leaves none of its writes, a released one keeps
    them, and a failed statement inside a savepoint leaves the transaction usable (PostgreSQL)."""
    seen: list[tuple[str, object]] = []

    def listen(_conn, _cursor, statement, _parameters, context, _many):  # noqa: ANN001, ANN202
        seen.append((statement, context))

    with engine.db.write_engine.connect() as conn, conn.begin() as tx:
        event.listen(conn, "before_cursor_execute", listen)
        conn.execute(text("CREATE TEMPORARY TABLE sp_probe (x integer)"))
        nested = conn.begin_nested()
        conn.execute(text("INSERT INTO sp_probe VALUES (1)"))
        nested.rollback()
        nested = conn.begin_nested()
        conn.execute(text("INSERT INTO sp_probe VALUES (2)"))
        nested.commit()
        nested = conn.begin_nested()
        with pytest.raises(Exception):  # noqa: B017, PT011 - each database names it its own way
            conn.execute(text("SELECT * FROM sp_probe_missing"))
        nested.rollback()
        assert conn.execute(text("SELECT x FROM sp_probe")).scalars().all() == [2]
        tx.rollback()
    points = [statement for statement, _ in seen if "SAVEPOINT" in statement]
    assert all(context is None for statement, context in seen if "SAVEPOINT" in statement)  # the driver's
    assert points == [
        "SAVEPOINT sa_savepoint_1", "ROLLBACK TO SAVEPOINT sa_savepoint_1",
        "SAVEPOINT sa_savepoint_2", "RELEASE SAVEPOINT sa_savepoint_2",
        "SAVEPOINT sa_savepoint_3", "ROLLBACK TO SAVEPOINT sa_savepoint_3",
    ]
