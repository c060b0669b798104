"""A user task's due and follow-up dates are timer rows that fire a reminder, once."""

from __future__ import annotations

import threading
from datetime import timedelta

from bpmn_builder import Process, props
from sqlalchemy import select

from engine.models import OutboxMessage


def dated_process(due: str = '"PT4H"', follow_up: str | None = '"PT1H"') -> Process:
    values = {"dueDate": due, "candidateGroups": '"sales"'}
    if follow_up:
        values["followUpDate"] = follow_up
    p = Process("dated")
    p.node("start", "startEvent").node("call", "userTask", "Call the customer", props(**values))
    p.node("end", "endEvent")
    return p.chain("start", "call", "end")


def reminders(engine) -> list[OutboxMessage]:
    with engine.db.read() as session:
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "task_reminder")))


def test_task_dates_become_timer_rows_and_fire_once_each(engine, clock, tmp_path):
    engine.deploy([dated_process().write(tmp_path)])
    start = clock.now()
    inst = engine.start("dated", {})
    task = inst.open_tasks[0]
    pending = {t.kind: t.due_at for t in engine.get_instance(inst.id).timers}
    assert pending == {"task_due": start + timedelta(hours=4), "task_follow_up": start + timedelta(hours=1)}
    assert {t.kind for t in engine.list_timers()} == {"task_due", "task_follow_up"}, "crmflow timers lists them"

    clock.advance(timedelta(hours=1))
    [fired] = engine.fire_due_timers()
    assert fired.element_id == "call" and fired.due_at == start + timedelta(hours=1)
    assert engine.fire_due_timers() == [], "a follow-up date fires once"
    history = engine.history(inst.id)
    [follow_up] = [h for h in history if h.event == "task_follow_up"]
    assert follow_up.element_id == "call" and follow_up.data_delta["task_id"] == task.id

    engine.claim_task(task.id, "ann")
    clock.advance(timedelta(hours=3, seconds=1))
    [fired] = engine.fire_due_timers()
    assert fired.due_at == start + timedelta(hours=4)
    [overdue] = [h for h in engine.history(inst.id) if h.event == "task_overdue"]
    assert overdue.data_delta["assignee"] == "ann", "the reminder names who holds the task at that moment"
    clock.advance(timedelta(days=3))
    assert engine.fire_due_timers() == [], "an overdue task is reported once, not on every pass"

    sent = reminders(engine)
    assert [m.payload["kind"] for m in sent] == ["task_follow_up", "task_due"]
    assert sent[1].payload["assignee"] == "ann" and sent[1].payload["name"] == "Call the customer"
    assert sent[1].payload["candidate_groups"] == ["sales"]
    assert engine.get_instance(inst.id).status == "waiting", "a task date moves no token"
    assert [t.id for t in engine.get_instance(inst.id).open_tasks] == [task.id]


def test_task_dates_are_cancelled_when_the_task_is_done_first(engine, clock, tmp_path):
    engine.deploy([dated_process().write(tmp_path)])
    inst = engine.start("dated", {})
    engine.complete_task(inst.open_tasks[0].id, "ann", {})
    clock.advance(timedelta(days=1))
    assert engine.fire_due_timers() == []
    assert {t.state for t in engine.list_timers(state="all")} == {"cancelled"}
    assert reminders(engine) == []


def test_a_due_date_already_passed_fires_at_the_next_pass_and_a_restart_does_not_repeat_it(
    make_engine, clock, tmp_path
):
    first = make_engine()
    first.deploy([dated_process(due='"2026-01-01T00:00:00+00:00"', follow_up=None).write(tmp_path)])
    inst = first.start("dated", {})
    assert len(first.fire_due_timers()) == 1
    restarted = make_engine()
    clock.advance(timedelta(hours=1))
    assert restarted.fire_due_timers() == []
    assert [h.event for h in restarted.history(inst.id)].count("task_overdue") == 1
    assert len(reminders(restarted)) == 1


def test_two_schedulers_fire_each_task_date_once(make_engine, clock, tmp_path):
    first, second = make_engine(), make_engine()
    first.deploy([dated_process().write(tmp_path)])
    ids = [first.start("dated", {}).id for _ in range(30)]
    clock.advance(timedelta(hours=5))
    results: list[list] = [[], []]

    def run(eng, out):
        out.extend(eng.fire_due_timers())

    threads = [threading.Thread(target=run, args=(e, out)) for e, out in zip((first, second), results, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    fired = results[0] + results[1]
    assert len(fired) == 60, "two dates per task, each fired by exactly one scheduler"
    assert len(reminders(first)) == 60
    for instance_id in ids:
        events = [h.event for h in first.history(instance_id)]
        assert events.count("task_overdue") == 1 and events.count("task_follow_up") == 1


def test_the_next_task_of_a_loop_gets_its_own_dates(engine, clock, tmp_path):
    p = Process("again")
    p.node("start", "startEvent").node("call", "userTask", "Call", props(dueDate='"PT2H"'))
    p.node("more", "exclusiveGateway").node("end", "endEvent")
    p.chain("start", "call", "more").flow("more", "call", "again == True").flow("more", "end", default=True)
    engine.deploy([p.write(tmp_path)])
    inst = engine.start("again", {"again": True})
    clock.advance(timedelta(hours=3))
    assert len(engine.fire_due_timers()) == 1
    inst = engine.complete_task(inst.open_tasks[0].id, "ann", {"again": True})
    [row] = engine.get_instance(inst.id).timers
    assert row.kind == "task_due" and row.due_at == clock.now() + timedelta(hours=2)
    clock.advance(timedelta(hours=2))
    assert len(engine.fire_due_timers()) == 1
    assert [h.event for h in engine.history(inst.id)].count("task_overdue") == 2
    engine.complete_task(inst.open_tasks[0].id, "ann", {"again": False})
    assert engine.get_instance(inst.id).status == "completed"
    assert [t.state for t in engine.list_timers(state="all")] == ["fired", "fired"]
