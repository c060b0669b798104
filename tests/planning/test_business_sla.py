"""SLA targets and warnings counted in business hours when triage names a calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from handlers.calendars import save_calendar
from handlers.models import SlaKpiInstance
from handlers.service import cases, sla

MON_FRI_9_17 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def _open_friday_case(crm) -> int:
    crm.now = datetime(2026, 1, 9, 16, 0, tzinfo=UTC)  # Friday 16:00 (UTC calendar below)
    with crm.session() as session:
        save_calendar(session, "Support UTC", "UTC", MON_FRI_9_17)
    opened = crm.call(cases.open_case, title="Printer offline", origin="Phone", customer_email="kim@example.com")
    return opened["case_id"]


def test_four_business_hours_raised_friday_16_are_due_monday_12(crm):
    case_id = _open_friday_case(crm)
    view = crm.call(sla.triage, case_id=case_id, priority="High", queue="Support", first_response_hours=4,
                    resolve_hours=16, calendar="Support UTC")
    first = datetime.fromisoformat(view["first_response_by"])
    resolve = datetime.fromisoformat(view["resolve_by"])
    assert first == datetime(2026, 1, 12, 12, 0, tzinfo=UTC)
    assert resolve == datetime(2026, 1, 13, 16, 0, tzinfo=UTC)  # 1 h Fri + 8 h Mon + 7 h Tue


def test_warning_falls_in_working_time_too(crm):
    case_id = _open_friday_case(crm)
    crm.call(sla.triage, case_id=case_id, priority="High", queue="Support", first_response_hours=4,
             resolve_hours=16, calendar="Support UTC")
    crm.call(sla.start_sla, case_id=case_id, warning_fraction=0.75, calendar="Support UTC")
    with crm.session() as session:
        kpi = session.query(SlaKpiInstance).filter_by(case_id=case_id, kpi="first_response").one()
        # 75 % of 4 working hours = 3 h: Friday 16-17 then Monday 9-11.
        assert kpi.warning_at.replace(tzinfo=UTC) == datetime(2026, 1, 12, 11, 0, tzinfo=UTC)
        assert kpi.failure_at.replace(tzinfo=UTC) == datetime(2026, 1, 12, 12, 0, tzinfo=UTC)


def test_without_a_calendar_targets_are_wall_clock(crm):
    case_id = _open_friday_case(crm)
    view = crm.call(sla.triage, case_id=case_id, priority="High", queue="Support", first_response_hours=4,
                    resolve_hours=16)
    first = datetime.fromisoformat(view["first_response_by"])
    assert first == datetime(2026, 1, 9, 16, 0, tzinfo=UTC) + timedelta(hours=4)
