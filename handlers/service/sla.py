"""Service SLA: triage sets the targets, the first-response and resolve-by KPIs run on a
clock, holds pause it, a response or resolution meets it, a check brings statuses up to now.

SLA clock: a KPI's failure time is its target (case creation + the triaged hours), its
warning time is `warning_fraction` of the way there; time the case spends On Hold (or
Resolved, before a reopen) pushes both times by that long. A KPI started with a business
calendar runs on that calendar's clock throughout: its targets count working time, and a
hold pushes its times by the working time that passed while it was held (so the working
time left is kept and the new failure time falls in working hours); `paused_seconds`
counts those pushes in working seconds. Without a calendar everything is wall-clock time.

Split from the service module; `cases` uses `kpi_met`, `evaluate_kpi` and `push_kpi` when a
case is resolved or reopened.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from engine.services import ServiceContext

from .. import lifecycle as lc
from ..calendars import WorkCalendar, add_business_time, business_time_between, load_calendar
from ..errors import DomainError
from ..models.service import CASE_PRIORITIES, Case, SlaKpiInstance
from ..support import choose, fetch, operation, to_decimal
from .views import active_case, case_kpis, case_sla_view, iso_time

DEFAULT_WARNING_FRACTION = 0.75


def _hours(value: Any, field: str) -> timedelta:
    hours = to_decimal(value, field, minimum=Decimal("0"))
    if hours == 0:
        raise DomainError(f"{field} must be more than 0 hours")
    return timedelta(seconds=float(hours * 3600))


# -- the KPI's clock: wall-clock time, or the working time of its business calendar ----------
def kpi_clock(session: Session, kpi: SlaKpiInstance) -> WorkCalendar | None:
    """The calendar the KPI's clock runs on (None: wall-clock time)."""
    return load_calendar(session, kpi.calendar) if kpi.calendar else None


def _elapsed(cal: WorkCalendar | None, since: datetime, until: datetime) -> timedelta:
    """Time on the clock from `since` to `until`: working time on a calendar, else elapsed time."""
    return business_time_between(cal, since, until) if cal is not None else until - since


def _later(cal: WorkCalendar | None, at: datetime, by: timedelta) -> datetime:
    """`at` plus `by` on the clock (the earliest instant that much working time later)."""
    return add_business_time(cal, at, by) if cal is not None else at + by


def push_kpi(kpi: SlaKpiInstance, cal: WorkCalendar | None, since: datetime, until: datetime) -> None:
    """Push the KPI's times by the clock time from `since` to `until` (a hold, or time resolved).

    On a calendar this keeps the working time that was left at `since`: the working time
    from `until` to the new failure time is what there was from `since` to the old one.
    """
    pushed = _elapsed(cal, since, until)
    kpi.warning_at = _later(cal, kpi.warning_at, pushed)
    kpi.failure_at = _later(cal, kpi.failure_at, pushed)
    kpi.paused_seconds += int(pushed.total_seconds())


def _fraction(kpi: SlaKpiInstance, start: datetime, cal: WorkCalendar | None) -> float:
    """The warning fraction a KPI was started with (from its own times on its clock, pauses taken out)."""
    paused = timedelta(seconds=kpi.paused_seconds)
    total = (_elapsed(cal, start, kpi.failure_at) - paused).total_seconds()
    warning = (_elapsed(cal, start, kpi.warning_at) - paused).total_seconds()
    return warning / total if total > 0 else DEFAULT_WARNING_FRACTION


def _set_times(
    kpi: SlaKpiInstance, start: datetime, target: datetime, fraction: float, calendar: WorkCalendar | None = None
) -> None:
    """Failure at the target, warning at `fraction` of the way there — of working time when
    the SLA runs on a business-hours calendar, so a warning never falls on a weekend — both
    pushed by the pauses so far; the KPI remembers the calendar for later pushes."""
    paused = timedelta(seconds=kpi.paused_seconds)
    kpi.calendar = calendar.name if calendar is not None else None
    kpi.failure_at = _later(calendar, target, paused)
    if calendar is None:
        kpi.warning_at = start + (target - start) * fraction + paused
    else:
        working = business_time_between(calendar, start, target)
        kpi.warning_at = add_business_time(calendar, start, working * fraction + paused)


def follow_kpi(case: Case, kpi: SlaKpiInstance) -> None:
    """The case's target for this KPI is the KPI's failure time, once a re-triage, a resume
    or a reopen has moved it."""
    if kpi.kpi == "first_response":
        case.first_response_by = kpi.failure_at
    else:
        case.resolve_by = kpi.failure_at


def back_on_clock(session: Session, case: Case, kpi: SlaKpiInstance, machine: lc.Lifecycle, since: datetime,
                  now: datetime) -> None:
    """A KPI stopped since `since` (a hold, or the case sitting resolved) runs again: its times
    pushed by the stop, In Progress (moved by `machine`), its status as of `now`, and the case's
    target following it."""
    push_kpi(kpi, kpi_clock(session, kpi), since, now)
    machine.move(kpi, "Active", "In Progress", now)
    evaluate_kpi(kpi, now)
    follow_kpi(case, kpi)


@operation("service/triage")
def triage(
    ctx: ServiceContext,
    case_id: int,
    priority: str,
    queue: str,
    first_response_hours: float | int | str,
    resolve_hours: float | int | str,
    calendar: str | None = None,
) -> dict[str, Any]:
    """Record the triage decision and the SLA targets it implies (from the case's creation).

    With a business-hours `calendar` (by name) the targets count working time only.
    Re-triage (an escalation) moves the targets of KPIs still on the clock, which then run
    on the calendar given here (their pushes so far are kept as counted).
    """
    case = active_case(ctx.session, case_id, "triaged")
    choose(priority, CASE_PRIORITIES, "priority")
    if not isinstance(queue, str) or not queue.strip():
        raise DomainError("triage needs a queue name")
    first = _hours(first_response_hours, "first_response_hours")
    resolve = _hours(resolve_hours, "resolve_hours")
    case.priority, case.queue = priority, queue.strip()
    if not case.sla_name:
        case.sla_name = f"{priority} priority"
    start = case.created_at
    cal = load_calendar(ctx.session, calendar) if calendar else None
    case.first_response_by = add_business_time(cal, start, first) if cal else start + first
    case.resolve_by = add_business_time(cal, start, resolve) if cal else start + resolve
    for kpi in case_kpis(ctx.session, case).values():
        if kpi.state == "Active":
            target = case.first_response_by if kpi.kpi == "first_response" else case.resolve_by
            _set_times(kpi, start, target, _fraction(kpi, start, kpi_clock(ctx.session, kpi)), cal)
            evaluate_kpi(kpi, ctx.now)
            follow_kpi(case, kpi)
    ctx.session.flush()
    return case_sla_view(ctx.session, case)


def evaluate_kpi(kpi: SlaKpiInstance, now: datetime) -> None:
    """Move an unpaused KPI on the clock to the status `now` implies."""
    if kpi.state != "Active" or kpi.status == "Paused":
        return
    # The KPI's own times, not the time of the check: after downtime a breach still
    # happened when the clock ran out, not when someone looked.
    if now >= kpi.failure_at:
        lc.SLA_KPI.move(kpi, "Closed", "Noncompliant", now)
        kpi.failed_at = kpi.failure_at
        kpi.warned_at = kpi.warned_at or kpi.warning_at
    elif now >= kpi.warning_at and kpi.status != "Nearing Noncompliance":
        lc.SLA_KPI.move(kpi, "Active", "Nearing Noncompliance", now)
        kpi.warned_at = kpi.warned_at or kpi.warning_at
    elif now < kpi.warning_at and kpi.status != "In Progress":
        lc.SLA_KPI.move(kpi, "Active", "In Progress", now)  # targets moved later (re-triage)


def kpi_met(session: Session, kpi: SlaKpiInstance, now: datetime) -> None:
    """The KPI's goal was reached `now`: Succeeded in time, else Noncompliant.

    A KPI paused right now counts the ongoing pause as if it had been resumed.
    """
    if kpi.state != "Active":
        return
    deadline = kpi.failure_at
    if kpi.status == "Paused" and kpi.paused_at is not None:
        cal = kpi_clock(session, kpi)
        pushed = _elapsed(cal, kpi.paused_at, now)
        deadline = _later(cal, deadline, pushed)
        kpi.paused_seconds += int(pushed.total_seconds())
        kpi.paused_at = None
    if now <= deadline:
        lc.SLA_KPI.move(kpi, "Closed", "Succeeded", now)
        kpi.succeeded_at = now
    else:
        lc.SLA_KPI.move(kpi, "Closed", "Noncompliant", now)
        kpi.failed_at = now


@operation("service/start_sla")
def start_sla(
    ctx: ServiceContext, case_id: int, warning_fraction: float = DEFAULT_WARNING_FRACTION,
    calendar: str | None = None,
) -> dict[str, Any]:
    """Create the first-response and resolve-by KPIs from the triaged targets.

    Warning time = creation + `warning_fraction` × (target − creation), in working time
    when a business-hours `calendar` is named; the KPIs keep running on that calendar
    (holds and reopens push them by working time). Starting again returns the KPIs that exist.
    """
    case = active_case(ctx.session, case_id, "put under SLA")
    if isinstance(warning_fraction, bool) or not isinstance(warning_fraction, (int, float)):
        raise DomainError(f"warning_fraction must be a number between 0 and 1, not {warning_fraction!r}")
    if not 0 < warning_fraction < 1:
        raise DomainError(f"warning_fraction must be between 0 and 1 (exclusive), not {warning_fraction!r}")
    if case.first_response_by is None or case.resolve_by is None:
        raise DomainError(f"case {case.number} has no SLA targets; triage it before starting the SLA")
    existing = case_kpis(ctx.session, case)
    if existing:
        view = case_sla_view(ctx.session, case)
        view["started"] = False
        return view
    cal = load_calendar(ctx.session, calendar) if calendar else None
    for name, target in (("first_response", case.first_response_by), ("resolve", case.resolve_by)):
        kpi = SlaKpiInstance(case_id=case.id, kpi=name, paused_seconds=0)
        lc.SLA_KPI.start(kpi, ctx.now)
        _set_times(kpi, case.created_at, target, float(warning_fraction), cal)
        ctx.session.add(kpi)
        if name == "first_response" and case.first_responded_at is not None:
            kpi_met(ctx.session, kpi, case.first_responded_at)
        elif case.on_hold_since is not None:
            lc.SLA_KPI.move(kpi, "Active", "Paused", ctx.now)
            kpi.paused_at = ctx.now
        else:
            evaluate_kpi(kpi, ctx.now)
    ctx.session.flush()
    view = case_sla_view(ctx.session, case)
    view["started"] = True
    return view


@operation("service/pause_sla")
def pause_sla(ctx: ServiceContext, case_id: int) -> dict[str, Any]:
    """Put the case On Hold and stop its SLA clock (KPIs on the clock become Paused)."""
    case = active_case(ctx.session, case_id, "put on hold")
    lc.CASE.move(case, "Active", "On Hold", ctx.now)
    case.on_hold_since = ctx.now
    for kpi in case_kpis(ctx.session, case).values():
        evaluate_kpi(kpi, ctx.now)  # a breach before the hold is a breach
        if kpi.state == "Active":
            lc.SLA_KPI.move(kpi, "Active", "Paused", ctx.now)
            kpi.paused_at = ctx.now
    ctx.session.flush()
    return case_sla_view(ctx.session, case)


@operation("service/resume_sla")
def resume_sla(ctx: ServiceContext, case_id: int) -> dict[str, Any]:
    """Take the case off hold (In Progress) and push each paused KPI's times by the pause
    (its working time, for a KPI on a business calendar).

    `paused_seconds` in the answer is how long the case was on hold (wall-clock).
    """
    case = active_case(ctx.session, case_id, "resumed")
    if case.status != "On Hold":
        raise DomainError(f"case {case.number} is Active ({case.status}); only a case On Hold can be resumed")
    lc.CASE.move(case, "Active", "In Progress", ctx.now)
    held = ctx.now - case.on_hold_since if case.on_hold_since is not None else timedelta(0)
    case.on_hold_since = None
    for kpi in case_kpis(ctx.session, case).values():
        if kpi.state != "Active" or kpi.status != "Paused":
            continue
        since, kpi.paused_at = kpi.paused_at or ctx.now, None
        back_on_clock(ctx.session, case, kpi, lc.SLA_KPI, since, ctx.now)
    ctx.session.flush()
    view = case_sla_view(ctx.session, case)
    view["paused_seconds"] = int(held.total_seconds())
    return view


@operation("service/record_first_response")
def record_first_response(ctx: ServiceContext, case_id: int) -> dict[str, Any]:
    """The customer got a first answer now: first-response KPI Succeeded, or Noncompliant if late.

    A second call keeps the first response's time.
    """
    case = active_case(ctx.session, case_id, "responded to")
    first = case.first_responded_at is None
    if first:
        case.first_responded_at = ctx.now
        kpi = case_kpis(ctx.session, case).get("first_response")
        if kpi is not None:
            kpi_met(ctx.session, kpi, ctx.now)
    ctx.session.flush()
    view = case_sla_view(ctx.session, case)
    view.update(first_responded_at=iso_time(case.first_responded_at), recorded=first)
    return view


@operation("service/check_sla")
def check_sla(ctx: ServiceContext, case_id: int) -> dict[str, Any]:
    """Bring KPI statuses up to `ctx.now` (Nearing Noncompliance after the warning time,
    Noncompliant after the failure time) and report them: `sla_status` is the most severe,
    `warned` / `breached` are flags a gateway can test."""
    case = fetch(ctx.session, Case, case_id)
    kpis = case_kpis(ctx.session, case)
    if case.state == "Active":
        for kpi in kpis.values():
            evaluate_kpi(kpi, ctx.now)
        ctx.session.flush()
    view = case_sla_view(ctx.session, case)
    statuses = {name: kpi.status for name, kpi in kpis.items()}
    view.update(
        first_response=statuses.get("first_response"),
        resolve=statuses.get("resolve"),
        warned=any(s in ("Nearing Noncompliance", "Noncompliant") for s in statuses.values()),
        breached="Noncompliant" in statuses.values(),
    )
    return view

