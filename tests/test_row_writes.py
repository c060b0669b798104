"""engine.row_writes writes a unit's projection rows as the ORM's flush would, and leaves the
session as a flush would: the same rows and columns, values as committed, rollbacks undone."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta

import pytest
from bpmn_builder import Process, props
from sqlalchemy import event, inspect, select
from sqlalchemy.exc import SAWarning
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from engine import row_writes
from engine.models import HumanTask, MessageSubscription, Timer

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TASK_COLUMNS = [c.name for c in HumanTask.__table__.columns if c.name not in ("claimed_at", "completed_at",
                                                                              "completed_by")]
TIMER_COLUMNS = ["instance_id", "task_id", "element_id", "name", "kind", "due_at", "state", "created_at"]


@pytest.fixture
def instance_id(engine, tmp_path) -> int:  # noqa: ANN001
    p = Process("plain")
    p.node("start", "startEvent").node("check", "userTask", "Check").node("end", "endEvent")
    engine.deploy([p.chain("start", "check", "end").write(tmp_path)])
    return engine.start("plain", {}).id


def _task(task_id: str, instance_id: int, model: type | None = HumanTask, **values) -> HumanTask:  # noqa: ANN003
    make = HumanTask if model is HumanTask else lambda **kw: row_writes.new_row(HumanTask, **kw)
    return make(id=task_id, instance_id=instance_id, process_id="plain", business_key=None, element_id="e",
                     name=None, kind="user", lane=None, queue="q", form=None, ui_form=None, instructions=None,
                     assignee=None, candidate_groups=values.pop("candidate_groups", None), priority=None,
                     due_at=NOW + timedelta(hours=1), follow_up_at=None, state="open", created_at=NOW, **values)


def _timer(instance_id: int, task_id: str, orm: bool = True) -> Timer:
    make = Timer if orm else lambda **kw: row_writes.new_row(Timer, **kw)
    return make(instance_id=instance_id, task_id=task_id, element_id="t", name=None, kind="timer",
                 due_at=NOW + timedelta(minutes=5), state="pending", created_at=NOW)


def _statements(session: Session) -> list[str]:
    seen: list[str] = []
    event.listen(session.connection(), "before_cursor_execute",
                 lambda _c, _cur, statement, *_: seen.append(statement))
    return seen


def _row(session: Session, model: type, key: object) -> dict:
    table = model.__table__
    pk = next(iter(table.primary_key.columns))
    return dict(session.connection().execute(select(table).where(pk == key)).mappings().one())


def test_new_rows_hold_what_a_flush_writes(engine, instance_id) -> None:  # noqa: ANN001
    """Every column, None and JSON included, as the ORM stores it; ids numbered in order."""
    with engine.db.write() as session:
        session.add_all([_task("orm-1", instance_id), _task("orm-2", instance_id, candidate_groups=["a", "b"])])
        flushed = [_timer(instance_id, "orm-1"), _timer(instance_id, "orm-2")]
        session.add_all(flushed)
        session.flush()
        ours = [_task("core-1", instance_id, None), _task("core-2", instance_id, None, candidate_groups=["a", "b"])]
        row_writes.insert_rows(session, HumanTask, ours, TASK_COLUMNS)
        timers = [_timer(instance_id, "core-1", orm=False), _timer(instance_id, "core-2", orm=False)]
        row_writes.insert_with_ids(session, Timer, timers, TIMER_COLUMNS)
        assert not session.new and not session.dirty, "written, not left for a flush"
        assert all(t.claimed_at is None and t.completed_by is None for t in ours), "unset columns read None"
        assert [t.fired_at for t in timers] == [None, None]
        for n in (1, 2):
            theirs, mine = _row(session, HumanTask, f"orm-{n}"), _row(session, HumanTask, f"core-{n}")
            assert {**theirs, "id": None} == {**mine, "id": None}
        assert [t.id for t in timers] == [flushed[1].id + 1, flushed[1].id + 2], "numbered as a flush numbers"
        for orm, core in zip(flushed, timers, strict=True):
            theirs, mine = _row(session, Timer, orm.id), _row(session, Timer, core.id)
            assert {**theirs, "id": None, "task_id": None} == {**mine, "id": None, "task_id": None}
        assert session.get(HumanTask, "core-2").candidate_groups == ["a", "b"], "later ORM reads see them"


def test_an_update_writes_only_changed_columns_as_committed(engine, instance_id) -> None:  # noqa: ANN001
    with engine.db.write() as session:
        row = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).one()
        seen = _statements(session)
        row_writes.update_rows(session, HumanTask, [(row, {"state": "open", "name": row.name})])
        assert seen == [], "equal values write nothing"
        row_writes.update_rows(session, HumanTask, [(row, {"state": "completed", "name": row.name,
                                                           "completed_at": NOW})])
        [sql] = seen
        assert "state" in sql and "completed_at" in sql and "name" not in sql.split("WHERE")[0]
        assert row.state == "completed" and row.completed_at == NOW
        assert not session.dirty and not session.is_modified(row), "nothing left for a flush"
        session.flush()
        assert len(seen) == 1
        assert _row(session, HumanTask, row.id)["state"] == "completed"
        again = session.scalars(select(HumanTask).where(HumanTask.id == row.id)).one()
        assert again is row and again.state == "completed"


def test_an_update_of_a_row_gone_meanwhile_raises_as_a_flush_does(engine, instance_id) -> None:  # noqa: ANN001
    with engine.db.write() as session:
        row = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).one()
        session.connection().execute(HumanTask.__table__.delete().where(HumanTask.id == row.id))
        with pytest.raises(StaleDataError, match="expected to update 1 row"):
            row_writes.update_rows(session, HumanTask, [(row, {"state": "cancelled"})])


def test_a_rolled_back_savepoint_undoes_an_update_in_the_session_too(engine, instance_id) -> None:  # noqa: ANN001
    """As after a flush inside it: the object is expired and reads the table again."""
    with engine.db.write() as session:
        row = session.scalars(select(HumanTask).where(HumanTask.instance_id == instance_id)).one()
        try:
            with session.begin_nested():
                row_writes.update_rows(session, HumanTask, [(row, {"state": "cancelled"})])
                assert row.state == "cancelled"
                raise RuntimeError("the unit failed")
        except RuntimeError:
            pass
        assert row.state == "open", "the savepoint's write is gone from the object as from the table"
        assert _row(session, HumanTask, row.id)["state"] == "open"


def test_a_delete_removes_the_row_and_the_object(engine, instance_id) -> None:  # noqa: ANN001
    with engine.db.write() as session:
        sub, gone = (MessageSubscription(instance_id=instance_id, task_id="t", element_id="e", message_name=m,
                                         correlation_key=None, created_at=NOW, kind="message") for m in "ab")
        session.add_all([sub, gone])
        session.flush()
        sub_id = sub.id
        row_writes.delete_rows(session, MessageSubscription, [sub])
        assert inspect(sub).detached
        assert session.get(MessageSubscription, sub_id) is None
        session.connection().execute(MessageSubscription.__table__.delete().where(MessageSubscription.id == gone.id))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            row_writes.delete_rows(session, MessageSubscription, [gone])
        assert any(issubclass(w.category, SAWarning) and "expected to delete 1 row" in str(w.message)
                   for w in caught), "a row already gone is the ORM's warning, not silence"


def test_a_unit_save_leaves_no_projection_row_to_the_orm_flush(engine, clock, tmp_path) -> None:  # noqa: ANN001
    """Tasks, their date timers, boundary timers and message waits: written, and the caller's
    view and the tables agree (fails if `Unit._sync_*` hand rows to the session again)."""
    p = Process("waits", root_elements='<bpmn:message id="msg_paid" name="paid" />')
    p.node("start", "startEvent").node("call", "userTask", "Call", props(dueDate='"PT4H"'))
    p.node("wait", "intermediateCatchEvent", "Paid", '<bpmn:messageEventDefinition messageRef="msg_paid" />')
    p.node("end", "endEvent")
    engine.deploy([p.chain("start", "call", "wait", "end").write(tmp_path)])
    flushed: list[str] = []

    @event.listens_for(Session, "before_flush")
    def _seen(session, _ctx, _instances) -> None:  # noqa: ANN001
        flushed.extend(type(o).__name__ for o in [*session.new, *session.dirty, *session.deleted]
                       if isinstance(o, HumanTask | Timer | MessageSubscription))

    try:
        inst = engine.start("waits", {})
        [task] = inst.open_tasks
        assert [t.kind for t in inst.timers] == ["task_due"] and inst.timers[0].id
        done = engine.complete_task(task.id, "ann", {})
        assert done.open_tasks == [] and done.timers == []
        assert [s.message_name for s in done.subscriptions] == ["paid"]
        shown = engine.get_instance(inst.id)
        assert [s.message_name for s in shown.subscriptions] == ["paid"] and shown.timers == []
        assert engine.get_task(task.id).state == "completed"
        clock.advance(timedelta(minutes=1))
        assert engine.correlate("paid", None, {}).status == "completed"
        assert engine.get_instance(inst.id).subscriptions == []
    finally:
        event.remove(Session, "before_flush", _seen)
    assert flushed == []


def test_reading_gives_the_sessions_own_object_or_a_plain_row(engine, instance_id) -> None:  # noqa: ANN001
    """As an ORM query would: a held object with its in-memory values (a timer the scheduler
    marked fired is not pending for the unit), else the row's columns; autoflush on request."""
    table = HumanTask.__table__
    open_rows = select(table).where(table.c.instance_id == instance_id, table.c.state == "open").order_by(table.c.id)
    with engine.db.write() as session:
        [stored] = row_writes.read_rows(session, HumanTask, open_rows, {})
        assert not hasattr(stored, "_sa_instance_state") and stored.state == "open" and stored.queue
        held = session.get(HumanTask, stored.id)
        held.queue = "moved"  # pending, not flushed
        [same] = row_writes.read_rows(session, HumanTask, open_rows, {}, autoflush=False)
        assert same is held and _row(session, HumanTask, held.id)["queue"] != "moved", "no flush asked"
        added = _task("new-1", instance_id)
        session.add(added)
        rows = {r.id: r for r in row_writes.read_rows(session, HumanTask, open_rows, {})}
        assert set(rows) == {held.id, "new-1"} and rows[held.id] is held
        assert rows["new-1"] is added, "flushed, so held: the session's object"
        assert _row(session, HumanTask, held.id)["queue"] == "moved", "flushed first, as a query autoflushes"


def test_plain_rows_are_updated_in_place_and_deleted(engine, instance_id) -> None:  # noqa: ANN001
    table = MessageSubscription.__table__
    with engine.db.write() as session:
        row_writes.insert_rows(session, MessageSubscription, [
            MessageSubscription(instance_id=instance_id, task_id="t", element_id="e", message_name=m,
                                correlation_key=None, created_at=NOW, kind="message") for m in "ab"],
            ["instance_id", "task_id", "element_id", "message_name", "correlation_key", "created_at", "kind"])
        mine = select(table).where(table.c.instance_id == instance_id).order_by(table.c.message_name)
        a, b = row_writes.read_rows(session, MessageSubscription, mine, {}, autoflush=False)
        row_writes.update_rows(session, MessageSubscription, [(a, {"correlation_key": "k-1"})])
        assert a.correlation_key == "k-1" and _row(session, MessageSubscription, a.id)["correlation_key"] == "k-1"
        row_writes.delete_rows(session, MessageSubscription, [b])
        assert [r.message_name for r in row_writes.read_rows(session, MessageSubscription, mine, {})] == ["a"]
        assert not session.new and not session.dirty


def test_a_new_row_names_only_its_tables_columns() -> None:
    with pytest.raises(TypeError, match="Timer has no column when"):
        row_writes.new_row(Timer, when=NOW)


def test_a_plain_row_refuses_a_change_that_would_never_reach_the_table() -> None:
    row = row_writes.new_row(Timer, state="pending")
    with pytest.raises(AttributeError, match="change it with row_writes.update_rows"):
        row.state = "fired"
    assert row.state == "pending"
