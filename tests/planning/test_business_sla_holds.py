"""Holds and reopens of an SLA that runs on a business calendar push its times by working time.

Expected times are worked out here minute by minute from the calendar's plain rules
(weekdays 09:00-17:00 on the local wall clock, holidays off), independently of
`handlers.calendars`: the working time left when the clock stopped is left again when it
restarts, so the new failure time falls in working hours.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import inspect

import handlers
from engine.db import Database
from handlers.calendars import save_calendar
from handlers.models import SlaKpiInstance
from handlers.service import cases, sla

MON_FRI_9_17 = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
MINUTE = timedelta(minutes=1)
BERLIN = ZoneInfo("Europe/Berlin")
UTC_ZONE = ZoneInfo("UTC")
NO_DAYS: frozenset[date] = frozenset()


def _open(at: datetime, zone: ZoneInfo, holidays: frozenset[date]) -> bool:
    """Whether the minute starting at `at` is working time of a Mon-Fri 9-17 calendar in `zone`."""
    local = at.astimezone(zone)
    return local.weekday() < 5 and local.date() not in holidays and 9 <= local.hour < 17


def work_minutes(a: datetime, b: datetime, zone: ZoneInfo = UTC_ZONE, holidays: frozenset[date] = NO_DAYS) -> int:
    """Working minutes from `a` to `b`, counted one real minute at a time."""
    n, at = 0, a
    while at < b:
        n += _open(at, zone, holidays)
        at += MINUTE
    return n


def after_work(
    start: datetime, minutes: int, zone: ZoneInfo = UTC_ZONE, holidays: frozenset[date] = NO_DAYS
) -> datetime:
    """The instant `minutes` working minutes after `start` (the end of the last one)."""
    at = start
    while minutes:
        minutes -= _open(at, zone, holidays)
        at += MINUTE
    return at


def utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def kpis(crm, case_id: int) -> dict[str, SlaKpiInstance]:  # noqa: ANN001
    with crm.session() as session:
        rows = session.query(SlaKpiInstance).filter_by(case_id=case_id).all()
        session.expunge_all()
    return {k.kpi: k for k in rows}


def sla_case(crm, opened: datetime, calendar: str | None, *, zone: ZoneInfo = UTC_ZONE, holidays=(),  # noqa: ANN001
             first: float = 4, resolve: float = 16) -> int:
    """A case opened at `opened`, triaged and put under SLA (warning at 75 %) on `calendar`."""
    crm.now = opened
    with crm.session() as session:
        save_calendar(session, "Support", zone.key, MON_FRI_9_17, holidays=list(holidays))
    case_id = crm.call(cases.open_case, title="Printer offline", origin="Phone",
                       customer_email="kim@example.com")["case_id"]
    crm.call(sla.triage, case_id=case_id, priority="High", queue="Support", first_response_hours=first,
             resolve_hours=resolve, calendar=calendar)
    crm.call(sla.start_sla, case_id=case_id, warning_fraction=0.75, calendar=calendar)
    return case_id


def hold(crm, case_id: int, start: datetime, end: datetime) -> dict:  # noqa: ANN001
    crm.now = start
    crm.call(sla.pause_sla, case_id=case_id)
    crm.now = end
    return crm.call(sla.resume_sla, case_id=case_id)


def check_working_time_kept(before: SlaKpiInstance, after: SlaKpiInstance, paused: datetime, resumed: datetime,
                            zone: ZoneInfo = UTC_ZONE, holidays: frozenset[date] = NO_DAYS) -> int:
    """The KPI's new times are its old ones moved on by the working time on hold; returns that time (minutes)."""
    held = work_minutes(paused, resumed, zone, holidays)
    for old, new in ((before.failure_at, after.failure_at), (before.warning_at, after.warning_at)):
        assert utc(new) == after_work(utc(old), held, zone, holidays)
    # what was left at the hold is left at the resume
    assert (work_minutes(resumed, utc(after.failure_at), zone, holidays)
            == work_minutes(paused, utc(before.failure_at), zone, holidays))
    assert after.paused_seconds == before.paused_seconds + held * 60
    return held


# -- holds ---------------------------------------------------------------------------------
def test_a_hold_over_a_weekend_pushes_by_the_working_hours_on_hold(crm) -> None:  # noqa: ANN001
    friday_15 = datetime(2026, 1, 9, 15, 0, tzinfo=UTC)
    case_id = sla_case(crm, friday_15, "Support")
    before = kpis(crm, case_id)
    assert utc(before["first_response"].failure_at) == datetime(2026, 1, 12, 11, 0, tzinfo=UTC)  # Fri 2 h, Mon 2 h
    assert before["first_response"].calendar == "Support"
    paused, resumed = datetime(2026, 1, 9, 16, 0, tzinfo=UTC), datetime(2026, 1, 12, 10, 0, tzinfo=UTC)
    view = hold(crm, case_id, paused, resumed)
    after = kpis(crm, case_id)
    for name in ("first_response", "resolve"):
        assert check_working_time_kept(before[name], after[name], paused, resumed) == 120  # Fri 16-17, Mon 9-10
        assert after[name].status == "In Progress" and after[name].paused_at is None
    # 3 working hours were left at Friday 16:00: Monday 10:00 + 3 h, not Monday 11:00 + the 66 h on hold
    assert utc(after["first_response"].failure_at) == datetime(2026, 1, 12, 13, 0, tzinfo=UTC)
    assert view["first_response_by"] == after["first_response"].failure_at.isoformat()
    assert view["kpis"]["first_response"]["calendar"] == "Support"
    assert view["paused_seconds"] == 66 * 3600  # the answer still says how long the case was on hold
    assert utc(datetime.fromisoformat(view["resolve_by"])) == utc(after["resolve"].failure_at)


def test_a_hold_across_a_holiday_does_not_count_the_holiday(crm) -> None:  # noqa: ANN001
    holiday = frozenset({date(2026, 1, 7)})  # Wednesday
    monday = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    case_id = sla_case(crm, monday, "Support", holidays=holiday, first=4, resolve=24)
    before = kpis(crm, case_id)
    # 24 working hours: Mon, Tue, (Wed off) Thu
    assert utc(before["resolve"].failure_at) == after_work(monday, 24 * 60, holidays=holiday)
    assert utc(before["resolve"].failure_at) == datetime(2026, 1, 8, 17, 0, tzinfo=UTC)
    crm.now = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
    crm.call(sla.record_first_response, case_id=case_id)
    paused, resumed = datetime(2026, 1, 6, 16, 0, tzinfo=UTC), datetime(2026, 1, 8, 10, 0, tzinfo=UTC)
    hold(crm, case_id, paused, resumed)
    after = kpis(crm, case_id)
    assert check_working_time_kept(before["resolve"], after["resolve"], paused, resumed, holidays=holiday) == 120
    assert utc(after["resolve"].failure_at) == datetime(2026, 1, 9, 11, 0, tzinfo=UTC)  # Thu 17:00 + 2 h
    assert after["first_response"].status == "Succeeded"  # closed before the hold: not moved
    assert after["first_response"].failure_at == before["first_response"].failure_at


@pytest.mark.parametrize(
    ("opened", "paused", "resumed"),
    [
        # spring forward on Sunday 29 March 2026 (CET +1 → CEST +2)
        (datetime(2026, 3, 27, 14, 0), datetime(2026, 3, 27, 16, 0), datetime(2026, 3, 30, 10, 0)),
        # fall back on Sunday 25 October 2026 (CEST +2 → CET +1)
        (datetime(2026, 10, 23, 14, 0), datetime(2026, 10, 23, 16, 0), datetime(2026, 10, 26, 10, 0)),
    ],
    ids=["spring-forward", "fall-back"],
)
def test_a_hold_across_a_dst_change_keeps_local_working_hours(crm, opened, paused, resumed) -> None:  # noqa: ANN001
    opened, paused, resumed = (t.replace(tzinfo=BERLIN) for t in (opened, paused, resumed))
    case_id = sla_case(crm, opened, "Support", zone=BERLIN, first=4, resolve=16)
    before = kpis(crm, case_id)
    # Fri 14-17 (3 h), Mon 9-17 (8 h), Tue 9-14 (5 h), Berlin wall clock
    tuesday = (resumed + timedelta(days=1)).date()
    assert utc(before["resolve"].failure_at) == datetime.combine(tuesday, time(14, 0), BERLIN)
    hold(crm, case_id, paused, resumed)
    after = kpis(crm, case_id)
    for name in ("first_response", "resolve"):
        assert check_working_time_kept(before[name], after[name], paused, resumed, zone=BERLIN) == 120
    # 14 working hours left at Friday 16:00 run from Monday 10:00: Mon 7 h, Tue 9-16 local
    failure = utc(after["resolve"].failure_at).astimezone(BERLIN)
    assert (failure.date(), failure.hour, failure.minute) == (tuesday, 16, 0)


def test_resolving_while_on_hold_counts_only_the_working_time_on_hold(crm) -> None:  # noqa: ANN001
    friday_15 = datetime(2026, 1, 9, 15, 0, tzinfo=UTC)
    case_id = sla_case(crm, friday_15, "Support")
    before = kpis(crm, case_id)
    crm.now = datetime(2026, 1, 9, 16, 0, tzinfo=UTC)
    crm.call(sla.pause_sla, case_id=case_id)
    crm.now = datetime(2026, 1, 12, 12, 30, tzinfo=UTC)  # still on hold; past the unpushed first-response time
    view = crm.call(cases.resolve_case, case_id=case_id, resolution_type="Problem Solved", summary="fixed")
    assert view["kpis"]["first_response"]["status"] == "Succeeded"
    after = kpis(crm, case_id)
    held = work_minutes(datetime(2026, 1, 9, 16, 0, tzinfo=UTC), crm.now)
    assert held == 60 + 210  # Fri 16-17, Mon 9:00-12:30
    assert after["resolve"].paused_seconds == before["resolve"].paused_seconds + held * 60


# -- reopen --------------------------------------------------------------------------------
def test_reopen_pushes_the_resolve_by_time_by_the_working_time_resolved(crm) -> None:  # noqa: ANN001
    friday_15 = datetime(2026, 1, 9, 15, 0, tzinfo=UTC)
    case_id = sla_case(crm, friday_15, "Support")
    before = kpis(crm, case_id)
    resolved, replied = datetime(2026, 1, 9, 16, 30, tzinfo=UTC), datetime(2026, 1, 12, 9, 45, tzinfo=UTC)
    crm.now = resolved
    crm.call(cases.resolve_case, case_id=case_id, resolution_type="Problem Solved", summary="fixed")
    crm.now = replied
    view = crm.call(cases.reopen_case, case_id=case_id)
    after = kpis(crm, case_id)
    assert after["resolve"].status == "In Progress"
    assert check_working_time_kept(before["resolve"], after["resolve"], resolved, replied) == 75  # Fri 30, Mon 45
    assert view["resolve_by"] == after["resolve"].failure_at.isoformat()
    assert after["first_response"].status == "Succeeded"


# -- re-triage after a hold ----------------------------------------------------------------
def test_retriage_after_a_hold_keeps_the_pushes_and_the_warning_fraction_in_working_time(crm) -> None:  # noqa: ANN001
    friday_15 = datetime(2026, 1, 9, 15, 0, tzinfo=UTC)
    case_id = sla_case(crm, friday_15, "Support")
    hold(crm, case_id, datetime(2026, 1, 9, 16, 0, tzinfo=UTC), datetime(2026, 1, 12, 10, 0, tzinfo=UTC))
    crm.call(sla.triage, case_id=case_id, priority="High", queue="Escalations", first_response_hours=8,
             resolve_hours=16, calendar="Support")
    first = kpis(crm, case_id)["first_response"]
    # 8 working hours from Friday 15:00 plus the 2 on hold; the warning at 75 % of 8 h plus the 2 h
    assert utc(first.failure_at) == after_work(friday_15, (8 + 2) * 60) == datetime(2026, 1, 12, 17, 0, tzinfo=UTC)
    assert utc(first.warning_at) == after_work(friday_15, (6 + 2) * 60) == datetime(2026, 1, 12, 15, 0, tzinfo=UTC)
    assert (first.paused_seconds, first.calendar) == (7200, "Support")


# -- without a calendar: wall-clock, as before -----------------------------------------------
def test_without_a_calendar_a_weekend_hold_pushes_by_the_whole_hold(crm) -> None:  # noqa: ANN001
    friday_15 = datetime(2026, 1, 9, 15, 0, tzinfo=UTC)
    case_id = sla_case(crm, friday_15, None)
    before = kpis(crm, case_id)
    hold(crm, case_id, datetime(2026, 1, 9, 16, 0, tzinfo=UTC), datetime(2026, 1, 12, 10, 0, tzinfo=UTC))
    after = kpis(crm, case_id)
    for name in ("first_response", "resolve"):
        assert after[name].calendar is None
        assert utc(after[name].failure_at) == utc(before[name].failure_at) + timedelta(hours=66)
        assert utc(after[name].warning_at) == utc(before[name].warning_at) + timedelta(hours=66)
        assert after[name].paused_seconds == 66 * 3600


# -- the migration ---------------------------------------------------------------------------
def test_revision_0006_adds_the_kpi_calendar_and_downgrade_removes_it(tmp_path) -> None:  # noqa: ANN001
    from alembic import command

    from engine.db import alembic_config

    url = f"sqlite:///{tmp_path / 'k.db'}"
    db = Database(url, migrations=[handlers.MIGRATIONS])
    db.upgrade("0005_sales_quotas")
    assert "calendar" not in {c["name"] for c in inspect(db.write_engine).get_columns("crm_sla_kpi_instance")}
    db.upgrade()
    columns = {c["name"]: c for c in inspect(db.write_engine).get_columns("crm_sla_kpi_instance")}
    assert columns["calendar"]["nullable"] is True
    with db.write_engine.begin() as conn:
        cfg = alembic_config(url, [handlers.MIGRATIONS])
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0005_sales_quotas")
    assert "calendar" not in {c["name"] for c in inspect(db.write_engine).get_columns("crm_sla_kpi_instance")}
    db.dispose()
