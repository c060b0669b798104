"""Timer semantics the engine adds on top of SpiffWorkflow: downtime, cycles, races."""

from __future__ import annotations

from datetime import timedelta

from bpmn_builder import Process, script, timer_cycle, timer_duration


def reminder_process() -> Process:
    """A follow-up task with a daily, non-interrupting reminder."""
    p = Process("daily_reminder")
    p.node("start", "startEvent").node("follow_up", "userTask", "Follow up")
    p.node("remind", "boundaryEvent", "Daily", timer_cycle('"R/P1D"'), row=1,
           attrs=' attachedToRef="follow_up" cancelActivity="false"')
    p.node("count", "scriptTask", "Count reminder", script("reminders = reminders + 1"), row=1)
    p.node("reminded", "endEvent", row=1)
    p.node("end", "endEvent")
    return p.chain("start", "follow_up", "end").chain("remind", "count", "reminded")


def test_cycle_after_a_week_of_downtime_fires_once_then_waits_for_the_future(engine, clock, tmp_path):
    engine.deploy([reminder_process().write(tmp_path)])
    start = clock.now()
    inst = engine.start("daily_reminder", {"reminders": 0})
    [timer] = engine.get_instance(inst.id).timers
    assert timer.kind == "cycle" and timer.due_at == start + timedelta(days=1)

    clock.advance(timedelta(days=7, hours=1))  # the scheduler was down for a week
    fired = engine.fire_due_timers()

    assert len(fired) == 1
    detail = engine.get_instance(inst.id)
    assert [h.event for h in detail.history].count("timer_fired") == 1
    assert [h.element_id for h in detail.history if h.event == "completed"].count("count") == 1, "no burst"
    [pending] = detail.timers
    assert pending.due_at == start + timedelta(days=8), "next occurrence is the first one after now"
    assert engine.fire_due_timers() == [], "nothing more is due until then"
    assert [t.state for t in engine.list_timers(state="all")].count("fired") == 1
    assert len(detail.open_tasks) == 1


def test_timer_cancelled_when_its_activity_finishes_never_fires(engine, clock, tmp_path):
    p = Process("escalate")
    p.node("start", "startEvent").node("work", "userTask", "Work")
    p.node("late", "boundaryEvent", "Late", timer_duration('"PT4H"'), row=1,
           attrs=' attachedToRef="work" cancelActivity="true"')
    p.node("escalated", "endEvent", row=1).node("end", "endEvent")
    p.chain("start", "work", "end").chain("late", "escalated")
    engine.deploy([p.write(tmp_path)])
    inst = engine.start("escalate", {})
    engine.complete_task(inst.open_tasks[0].id, "ann", {})
    clock.advance(timedelta(hours=5))
    assert engine.fire_due_timers() == []
    [row] = engine.list_timers(state="all")
    assert row.state == "cancelled" and row.fired_at is None
    assert engine.get_instance(inst.id).status == "completed"


def test_two_engines_firing_the_same_due_timers_fire_each_once(make_engine, clock, tmp_path):
    p = Process("wait_hour")
    p.node("start", "startEvent").node("wait", "intermediateCatchEvent", "Wait", timer_duration('"PT1H"'))
    p.node("after", "scriptTask", "After", script("fired = True")).node("end", "endEvent")
    p.chain("start", "wait", "after", "end")
    first, second = make_engine(), make_engine()
    first.deploy([p.write(tmp_path)])
    ids = [first.start("wait_hour", {}).id for _ in range(20)]
    clock.advance(timedelta(hours=2))
    fired = first.fire_due_timers() + second.fire_due_timers()
    assert sorted(f.instance_id for f in fired) == ids
    for instance_id in ids:
        history = first.history(instance_id)
        assert [h.event for h in history].count("timer_fired") == 1
        assert [h.element_id for h in history if h.event == "completed"].count("after") == 1
