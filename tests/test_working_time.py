"""Timers marked with a business calendar count working time only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from bpmn_builder import Process, script, timer_duration

from crmflow.settings import build_engine

BERLIN = ZoneInfo("Europe/Berlin")
MON_FRI_9_17 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def business_process(calendar: str = '"support"', duration: str = '"PT4H"') -> Process:
    """A case waits for a first response; 'Late' fires after `duration` of the calendar's working time."""
    ext = ('<bpmn:extensionElements><spiffworkflow:properties><spiffworkflow:property name="businessCalendar" '
           f'value=\'{calendar}\'/></spiffworkflow:properties></bpmn:extensionElements>')
    p = Process("first_response")
    p.node("start", "startEvent").node("respond", "userTask", "Respond")
    p.node("late", "boundaryEvent", "Late", ext + timer_duration(duration), row=1,
           attrs=' attachedToRef="respond" cancelActivity="false"')
    p.node("warn", "scriptTask", "Warn", script("warned = True"), row=1).node("warned", "endEvent", row=1)
    p.node("end", "endEvent")
    return p.chain("start", "respond", "end").chain("late", "warn", "warned")


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN).astimezone(UTC)


def test_the_engine_asks_its_working_time_function_with_the_evaluated_calendar(make_engine, clock, tmp_path):
    calls = []

    def doubled(session, calendar, start, duration):
        calls.append((calendar, start, duration))
        return start + 2 * duration

    engine = make_engine(working_time=doubled)
    engine.deploy([business_process(calendar="team").write(tmp_path)])
    inst = engine.start("first_response", {"team": "emea"})
    [timer] = engine.get_instance(inst.id).timers
    assert calls == [("emea", clock.now(), timedelta(hours=4))]
    assert timer.due_at == clock.now() + timedelta(hours=8)
    clock.advance(timedelta(hours=8))
    assert len(engine.fire_due_timers()) == 1
    assert [h.element_id for h in engine.history(inst.id) if h.event == "completed"] == ["start", "late", "warn",
                                                                                          "warned"]
    assert len(calls) == 1, "the due time is computed once, when the timer starts waiting"


def test_an_unmarked_timer_ignores_the_calendar(make_engine, clock, tmp_path):
    p = Process("plain")
    p.node("start", "startEvent").node("wait", "intermediateCatchEvent", "Wait", timer_duration('"PT4H"'))
    p.node("end", "endEvent").chain("start", "wait", "end")
    engine = make_engine(working_time=lambda *a: pytest.fail("not a business-hours timer"))
    engine.deploy([p.write(tmp_path)])
    [timer] = engine.get_instance(engine.start("plain", {}).id).timers
    assert timer.due_at == clock.now() + timedelta(hours=4)


@pytest.mark.parametrize(
    ("working_time", "duration", "message"),
    [
        (None, '"PT4H"', "no working-time calendar"),
        (lambda s, c, start, d: start + d, '"P2D"', "takes hours and minutes"),
        (lambda s, c, start, d: start + d, '"soon"', "is not an ISO 8601 duration"),
    ],
)
def test_a_timer_that_cannot_count_working_time_is_an_incident_naming_it(
    make_engine, tmp_path, working_time, duration, message
):
    engine = make_engine(working_time=working_time)
    engine.deploy([business_process(duration=duration).write(tmp_path)], force=True)  # validate refuses it
    inst = engine.start("first_response", {})
    [incident] = engine.list_incidents()
    assert incident.instance_id == inst.id and message in incident.message and "late" in incident.message


@pytest.fixture
def crm_engine(db_url, clock):
    from handlers.calendars import save_calendar

    eng = build_engine(db_url, clock)
    with eng.db.write() as session:
        save_calendar(session, "support", "Europe/Berlin", MON_FRI_9_17, holidays=["2026-04-06"], now=clock.now())
    yield eng
    eng.close()


@pytest.mark.parametrize(
    ("raised", "due"),
    [
        (berlin(2026, 1, 9, 16, 0), berlin(2026, 1, 12, 12, 0)),  # Friday 16:00 → Monday 12:00
        (berlin(2026, 4, 3, 16, 0), berlin(2026, 4, 7, 12, 0)),  # Easter Monday is a holiday → Tuesday
        (berlin(2026, 3, 27, 16, 0), berlin(2026, 3, 30, 12, 0)),  # across the spring DST change
        (berlin(2026, 1, 10, 11, 0), berlin(2026, 1, 12, 13, 0)),  # raised on Saturday: from Monday 09:00
    ],
)
def test_a_four_business_hour_timer_with_the_crm_calendar(crm_engine, clock, tmp_path, raised, due):
    clock.set(raised)
    crm_engine.deploy([business_process().write(tmp_path)])
    inst = crm_engine.start("first_response", {})
    [timer] = crm_engine.get_instance(inst.id).timers
    assert timer.due_at == due
    clock.set(due - timedelta(seconds=1))
    assert crm_engine.fire_due_timers() == []
    clock.set(due)
    assert len(crm_engine.fire_due_timers()) == 1
    assert crm_engine.get_instance(inst.id).data.get("warned") is True


def test_a_calendar_that_does_not_exist_is_an_incident_naming_it(crm_engine, tmp_path):
    crm_engine.deploy([business_process(calendar='"nights"').write(tmp_path)])
    crm_engine.start("first_response", {})
    [incident] = crm_engine.list_incidents()
    assert "nights" in incident.message


def dated_task_process(calendar: str = '"support"') -> Process:
    from bpmn_builder import props

    p = Process("dated_in_hours")
    p.node("start", "startEvent").node("triage", "userTask", "Triage",
                                        props(dueDate='"PT4H"', followUpDate='"PT1H"', businessCalendar=calendar))
    p.node("end", "endEvent")
    return p.chain("start", "triage", "end")


def test_task_dates_marked_with_a_calendar_count_working_time(crm_engine, clock, tmp_path):
    clock.set(berlin(2026, 1, 9, 16, 30))  # Friday 16:30
    crm_engine.deploy([dated_task_process().write(tmp_path)])
    inst = crm_engine.start("dated_in_hours", {})
    [task] = inst.open_tasks
    assert task.due_at == berlin(2026, 1, 12, 12, 30) and task.follow_up_at == berlin(2026, 1, 12, 9, 30)
    assert {t.kind: t.due_at for t in crm_engine.get_instance(inst.id).timers} == {
        "task_due": berlin(2026, 1, 12, 12, 30), "task_follow_up": berlin(2026, 1, 12, 9, 30)}
    clock.set(berlin(2026, 1, 10, 12, 0))
    assert crm_engine.fire_due_timers() == [], "nothing is overdue over the weekend"


def test_a_task_date_with_an_unknown_calendar_falls_back_to_wall_clock_with_a_warning(crm_engine, clock, tmp_path):
    crm_engine.deploy([dated_task_process(calendar='"nights"').write(tmp_path)])
    inst = crm_engine.start("dated_in_hours", {})
    assert inst.open_tasks[0].due_at == clock.now() + timedelta(hours=4)
    warnings = [h for h in crm_engine.history(inst.id) if h.event == "warning"]
    assert warnings and all("nights" in h.data_delta["error"] for h in warnings)
