"""engine.db.Database's units of work: SQLite writers take the write lock at BEGIN, and a
thread's Session is reused only once the unit that had it is over."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from engine.db import Database, connection


@pytest.fixture
def db(tmp_path: Path):  # noqa: ANN201
    database = Database(f"sqlite:///{tmp_path / 'units.db'}")
    with database.write_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    yield database
    database.dispose()


def _can_write(path: str) -> bool:
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as err:
        assert "locked" in str(err)
        return False
    finally:
        other.close()


def test_a_sqlite_writer_holds_the_write_lock_from_its_begin_and_a_reader_does_not(db: Database) -> None:
    path = db.url.removeprefix("sqlite:///")
    with db.write() as session:
        connection(session)  # the unit's transaction begins: BEGIN IMMEDIATE, no statement yet
        assert not _can_write(path)
    assert _can_write(path)
    with db.read() as session:
        session.execute(text("SELECT count(*) FROM t")).scalar_one()
        assert _can_write(path)


def test_a_unit_inside_another_on_one_thread_has_a_session_of_its_own(db: Database) -> None:
    with db.read() as outer:
        with db.read() as inner:
            assert inner is not outer
            assert connection(inner) is not connection(outer)
            assert connection(inner).in_transaction() and connection(outer).in_transaction()
        assert connection(outer).in_transaction()
        outer.execute(text("SELECT 1"))


def test_a_reused_session_starts_clean_after_a_failed_unit(db: Database) -> None:
    with pytest.raises(ZeroDivisionError), db.write() as session:
        session.execute(text("INSERT INTO t VALUES (1)"))
        session.info["left over"] = True
        1 / 0  # noqa: B018
    with db.write() as again:
        assert "left over" not in again.info and not again.identity_map
        assert again.execute(text("SELECT count(*) FROM t")).scalar_one() == 0  # rolled back
        again.execute(text("INSERT INTO t VALUES (2)"))
    with db.read() as session:
        assert session.execute(text("SELECT x FROM t")).scalars().all() == [2]


def test_a_writer_that_cannot_get_the_lock_is_store_busy_and_leaves_nothing_open(db: Database, monkeypatch) -> None:
    from engine import db as db_module
    from engine.errors import StoreBusy

    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_SECONDS", 0)  # read when the engines are made
    impatient = Database(db.url)
    holder = sqlite3.connect(db.url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreBusy, match="busy with other work"), impatient.write() as session:
            connection(session)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with impatient.write() as session:  # the pool and the thread's Session are fine afterwards
        session.execute(text("INSERT INTO t VALUES (3)"))
    impatient.dispose()
    with db.read() as session:
        assert session.execute(text("SELECT x FROM t")).scalars().all() == [3]


def test_orm_work_joins_the_unit_and_a_session_rollback_undoes_the_whole_unit(db: Database) -> None:
    from sqlalchemy import Column, Integer, MetaData, Table
    from sqlalchemy.orm import registry

    table = Table("t", MetaData(), Column("x", Integer, primary_key=True))

    class Row:
        def __init__(self, x: int) -> None:
            self.x = x

    registry().map_imperatively(Row, table)
    with db.write() as session:
        connection(session).exec_driver_sql("INSERT INTO t VALUES (1)")
        session.add(Row(2))  # pending: flushed by the unit before it commits
    with db.write() as session:
        connection(session).exec_driver_sql("INSERT INTO t VALUES (5)")
        session.add(Row(6))
        session.flush()
        session.rollback()  # e.g. a dry run: the Connection's statements go too
    with db.read() as session:
        assert sorted(session.execute(text("SELECT x FROM t")).scalars()) == [1, 2]


def test_a_savepoint_holds_the_statements_sent_straight_to_the_units_connection(db: Database) -> None:
    with db.write() as session:
        connection(session).exec_driver_sql("INSERT INTO t VALUES (1)")
        nested = session.begin_nested()  # the Session has not begun: the SAVEPOINT must still be there
        connection(session).exec_driver_sql("INSERT INTO t VALUES (2)")
        nested.rollback()
        with session.begin_nested():
            connection(session).exec_driver_sql("INSERT INTO t VALUES (3)")
    with db.read() as session:
        assert sorted(session.execute(text("SELECT x FROM t")).scalars()) == [1, 3]


def test_a_session_rollback_undoes_statements_the_session_never_saw(db: Database) -> None:
    with db.write() as session:
        connection(session).exec_driver_sql("INSERT INTO t VALUES (1)")
        session.rollback()  # a dry run: nothing of the unit may be committed
    with db.write() as session:
        connection(session).exec_driver_sql("INSERT INTO t VALUES (2)")
        session.rollback()
        connection(session).exec_driver_sql("INSERT INTO t VALUES (4)")  # a fresh transaction, committed
    with db.read() as session:
        assert sorted(session.execute(text("SELECT x FROM t")).scalars()) == [4]
