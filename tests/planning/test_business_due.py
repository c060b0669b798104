"""Stored calendars, SLA targets in working time, and a "business hours" timer in a diagram.

The timer test shows the pattern diagrams use (no engine change): a service task
`service/business_due` computes the due time, and a timer's `timeDate` expression reads
it (`due["due_at"]`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import pytest
from bpmn_builder import Process, service

from handlers.calendars import business_due, load_calendar, make_calendar, save_calendar, sla_due
from handlers.errors import DomainError, RecordNotFound
from handlers.service.cases import open_case

BERLIN = ZoneInfo("Europe/Berlin")
WEEKDAYS_9_TO_17 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
FRIDAY_16_BERLIN = datetime(2026, 1, 9, 15, 0, tzinfo=UTC)
MONDAY_12_BERLIN = datetime(2026, 1, 12, 11, 0, tzinfo=UTC)


def _support_calendar(session, now: datetime) -> None:  # noqa: ANN001
    save_calendar(session, "Support Berlin", "Europe/Berlin", WEEKDAYS_9_TO_17,
                  holidays={"2026-01-06": "Epiphany"}, exceptions={"2026-01-07": [["09:00", "12:00"]]}, now=now)


def test_a_saved_calendar_loads_back_the_same(crm) -> None:  # noqa: ANN001
    with crm.session() as s:
        _support_calendar(s, crm.now)
    with crm.session() as s:
        loaded = load_calendar(s, "Support Berlin")
    expected = make_calendar("Support Berlin", "Europe/Berlin", WEEKDAYS_9_TO_17, ["2026-01-06"],
                             {"2026-01-07": [["09:00", "12:00"]]})
    assert loaded == expected


def test_saving_again_replaces_hours_holidays_and_exceptions(crm) -> None:  # noqa: ANN001
    with crm.session() as s:
        _support_calendar(s, crm.now)
    with crm.session() as s:
        save_calendar(s, "Support Berlin", "America/New_York", {"sat": [["10:00", "14:00"]]}, now=crm.now)
    with crm.session() as s:
        loaded = load_calendar(s, "Support Berlin")
    assert loaded.zone.key == "America/New_York"
    assert loaded.weekly == ((), (), (), (), (), ((600, 840),), ())  # Saturday 10:00–14:00 only
    assert loaded.holidays == frozenset() and dict(loaded.exceptions) == {}


def test_unknown_calendar(crm) -> None:  # noqa: ANN001
    with crm.session() as s, pytest.raises(RecordNotFound, match="'Nope'"):
        load_calendar(s, "Nope")


def test_sla_due_counts_working_hours_from_case_creation(crm) -> None:  # noqa: ANN001
    # the case opens Mon 5 Jan 10:00 Berlin; Tue 6 is a holiday, Wed 7 a short day (09–12)
    with crm.session() as s:
        _support_calendar(s, crm.now)
    case = crm.call(open_case, title="Printer on fire", origin="Phone", customer_email="ada@example.com")
    with crm.session() as s:
        assert sla_due(s, case["case_id"], 4, "Support Berlin") == datetime(2026, 1, 5, 14, 0, tzinfo=BERLIN)
        # seven hours on Monday (10–17), none on Tuesday, three on Wednesday
        assert sla_due(s, case["case_id"], 8, "Support Berlin") == datetime(2026, 1, 7, 10, 0, tzinfo=BERLIN)
        assert sla_due(s, case["case_id"], "10", "Support Berlin") == datetime(2026, 1, 7, 12, 0, tzinfo=BERLIN)
        assert sla_due(s, case["case_id"], 11, "Support Berlin") == datetime(2026, 1, 8, 10, 0, tzinfo=BERLIN)


def test_business_due_operation(crm) -> None:  # noqa: ANN001
    with crm.session() as s:
        _support_calendar(s, crm.now)
    result = crm.call(business_due, calendar="Support Berlin", start_iso="2026-01-09T15:00:00Z", hours=4,
                      warning_fraction=0.75)
    assert result["due_at"] == "2026-01-12T11:00:00+00:00"
    assert result["due_local"] == "2026-01-12T12:00:00+01:00"
    assert result["warning_at"] == "2026-01-12T10:00:00+00:00"  # three working hours in: Monday 11:00 Berlin
    assert result["time_zone"] == "Europe/Berlin"
    # no start: from now (Mon 10:00 Berlin)
    now = crm.call(business_due, calendar="Support Berlin", hours="1.5")
    assert now["start"] == "2026-01-05T09:00:00+00:00" and now["due_at"] == "2026-01-05T10:30:00+00:00"


@pytest.mark.parametrize(
    ("params", "error", "message"),
    [
        ({"start_iso": "2026-01-09T15:00:00"}, DomainError, "UTC offset"),
        ({"start_iso": "Friday"}, DomainError, "not an ISO"),
        ({"hours": -1}, DomainError, "at least 0"),
        ({"hours": "soon"}, DomainError, "must be a number"),
        ({"warning_fraction": 1.5}, DomainError, "between 0 and 1"),
        ({"calendar": "Nope"}, RecordNotFound, "Nope"),
    ],
)
def test_business_due_refuses_bad_input(crm, params, error, message) -> None:  # noqa: ANN001
    with crm.session() as s:
        _support_calendar(s, crm.now)
    call = {"calendar": "Support Berlin", "start_iso": None, "hours": 4, **params}
    with pytest.raises(error, match=message):
        crm.call(business_due, **call)


def _timer_date(expr: str) -> str:
    return (f'<bpmn:timerEventDefinition><bpmn:timeDate xsi:type="bpmn:tFormalExpression">{escape(expr)}'
            "</bpmn:timeDate></bpmn:timerEventDefinition>")


def business_hours_timer(folder: Path) -> Path:
    """start → compute the due time in business hours → wait for it → end."""
    p = Process("business_hours_timer", "Follow up in business hours")
    p.node("start", "startEvent")
    p.node("due", "serviceTask", "When is it due?",
           service("service/business_due", "due", calendar='"Support Berlin"', start_iso="None", hours="4"))
    p.node("wait", "intermediateCatchEvent", "4 business hours", _timer_date('due["due_at"]'))
    p.node("end", "endEvent")
    return p.chain("start", "due", "wait", "end").write(folder)


def test_a_diagram_timer_waits_four_business_hours_over_the_weekend(crm_engine, clock, tmp_path) -> None:  # noqa: ANN001
    with crm_engine.db.write() as s:
        _support_calendar(s, clock.now())
    crm_engine.deploy([business_hours_timer(tmp_path)])
    clock.set(FRIDAY_16_BERLIN)
    inst = crm_engine.start("business_hours_timer", {})
    [timer] = crm_engine.get_instance(inst.id).timers
    assert timer.kind == "date" and timer.due_at == MONDAY_12_BERLIN

    clock.set(MONDAY_12_BERLIN - timedelta(seconds=1))
    assert crm_engine.fire_due_timers() == []
    clock.set(MONDAY_12_BERLIN)
    [fired] = crm_engine.fire_due_timers()
    assert fired.element_id == "wait"
    assert crm_engine.get_instance(inst.id).status == "completed"
