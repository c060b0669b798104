"""Service figures: open cases, SLA compliance, resolution time, entitlements, reopen rate,
backlog and agent throughput.

A KPI still on the clock whose failure time has passed counts as a breach even before the
next SLA check marks it Noncompliant: the report tells the truth at `now`, not at the last check.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.read_model import HumanTask, Instance

from ..models import Account, Case, CaseResolution, Entitlement, SlaKpiInstance
from ..models.service import CASE_PRIORITIES, KPI_NAMES
from .base import (
    WINDOW,
    Params,
    Report,
    ReportError,
    Row,
    average,
    cols,
    hours,
    iso,
    number,
    param_time,
    percent,
    window,
    within,
)

TERMS = Decimal("0.001")
UNATTRIBUTED = "(no task)"
BACKLOG_DAYS = 14
MAX_BACKLOG_DAYS = 366


def _priority_order(priority: str | None) -> tuple[int, str]:
    p = priority or ""
    return (CASE_PRIORITIES.index(p) if p in CASE_PRIORITIES else len(CASE_PRIORITIES), p)


# -- open cases ---------------------------------------------------------------------------------
def cases_open(session: Session, now: datetime, params: Params) -> list[Row]:
    groups: dict[tuple[str, str], list[Case]] = defaultdict(list)
    for case in session.scalars(select(Case).where(Case.state == "Active")):
        groups[(case.queue or "", case.priority or "")].append(case)
    rows = []
    for queue, priority in sorted(groups, key=lambda k: (k[0], _priority_order(k[1]))):
        cases = groups[(queue, priority)]
        oldest = min(c.created_at for c in cases)
        rows.append({
            "queue": queue or None,
            "priority": priority or None,
            "open": len(cases),
            "on_hold": sum(1 for c in cases if c.on_hold_since is not None),
            "past_resolve_by": sum(1 for c in cases if c.resolve_by is not None and c.resolve_by <= now),
            "oldest_age_hours": number(hours(now - oldest)),
        })
    return rows


# -- SLA compliance -----------------------------------------------------------------------------
def kpi_outcome(kpi: SlaKpiInstance, now: datetime) -> str | None:
    """met / breached / in_progress at `now`; None for a canceled KPI (it measures nothing)."""
    if kpi.state == "Closed":
        return {"Succeeded": "met", "Noncompliant": "breached"}.get(kpi.status)
    if kpi.status != "Paused" and kpi.failure_at <= now:
        return "breached"
    return "in_progress"


def sla_compliance(session: Session, now: datetime, params: Params) -> list[Row]:
    """Per KPI (first response, resolve-by) started in the window: met, breached, on the clock."""
    since, until = window(params)
    kpis = [k for k in session.scalars(select(SlaKpiInstance))
            if within(k.created_at, since, until)]
    by_name: dict[str, list[SlaKpiInstance]] = defaultdict(list)
    for kpi in kpis:
        if kpi_outcome(kpi, now) is not None:
            by_name[kpi.kpi].append(kpi)
    rows = []
    for name in sorted(by_name, key=lambda n: (KPI_NAMES.index(n) if n in KPI_NAMES else len(KPI_NAMES), n)):
        outcomes = [kpi_outcome(k, now) for k in by_name[name]]
        met, breached = outcomes.count("met"), outcomes.count("breached")
        rows.append({
            "kpi": name,
            "measured": len(outcomes),
            "met": met,
            "breached": breached,
            "in_progress": outcomes.count("in_progress"),
            "paused": sum(1 for k in by_name[name] if k.state == "Active" and k.status == "Paused"),
            "met_percent": percent(met, met + breached),
        })
    return rows


# -- resolution time ----------------------------------------------------------------------------
def resolution_time(session: Session, now: datetime, params: Params) -> list[Row]:
    """Hours from created to resolved for cases Resolved now (resolved in the window), by
    priority and for all (a reopened case counts from creation to its latest resolution)."""
    since, until = window(params)
    cases = [c for c in session.scalars(select(Case).where(Case.state == "Resolved", Case.resolved_at.is_not(None)))
             if within(c.resolved_at, since, until)]
    if not cases:
        return []
    groups: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        groups[case.priority or ""].append(case)
    rows = [_resolution_row(p or None, groups[p]) for p in sorted(groups, key=_priority_order)]
    rows.append(_resolution_row("All", cases))
    return rows


def _resolution_row(priority: str | None, cases: list[Case]) -> Row:
    spans = [hours(c.resolved_at - c.created_at) for c in cases]
    return {"priority": priority, "resolved": len(cases), "average_hours": number(average(spans)),
            "max_hours": number(max(spans))}


# -- entitlements -------------------------------------------------------------------------------
def _terms(value: Decimal) -> str:
    return str(value.quantize(TERMS))


def entitlements(session: Session, now: datetime, params: Params) -> list[Row]:
    rows_ = list(session.scalars(select(Entitlement).order_by(Entitlement.id)))
    accounts = {a for a in (e.account_id for e in rows_) if a is not None}
    names = dict(session.execute(select(Account.id, Account.name).where(Account.id.in_(accounts))).all()) \
        if accounts else {}
    return [{
        "name": e.name,
        "account": names.get(e.account_id) if e.account_id else None,
        "state": e.state,
        "allocation": e.allocation_type,
        "total": _terms(e.total_terms),
        "used": _terms(e.total_terms - e.remaining_terms),
        "remaining": _terms(e.remaining_terms),
        "used_percent": percent(e.total_terms - e.remaining_terms, e.total_terms),
        "end_date": iso(e.end_date),
    } for e in rows_]


# -- reopen rate --------------------------------------------------------------------------------
def reopen_rate(session: Session, now: datetime, params: Params) -> list[Row]:
    """Of the cases resolved at least once (a resolution in the window), how many were reopened."""
    since, until = window(params)
    resolved_ids = {cid for cid, at in session.execute(select(CaseResolution.case_id, CaseResolution.resolved_at))
                    if within(at, since, until)}
    if not resolved_ids:
        return []
    counts = [n for (n,) in session.execute(select(Case.reopened_count).where(Case.id.in_(resolved_ids)))]
    reopened = sum(1 for n in counts if n)
    return [{"scope": "All", "resolved_cases": len(counts), "reopened_cases": reopened, "reopens": sum(counts),
             "reopen_rate_percent": percent(reopened, len(counts))}]


# -- backlog ------------------------------------------------------------------------------------
def _ended_at(case: Case) -> datetime | None:
    """When the case last left the backlog (None while Active)."""
    if case.state == "Resolved":
        return case.resolved_at or case.state_changed_at
    if case.state == "Canceled":
        return case.state_changed_at
    return None


def backlog(session: Session, now: datetime, params: Params) -> list[Row]:
    """Open cases at the end of each day (UTC) of the window (default the last 14 days up to
    now), with the cases created and resolutions recorded that day. A reopened case counts as
    open from creation to its latest resolution: earlier resolved spells are not recorded."""
    until = param_time(params, "until") or now
    since = param_time(params, "since") or datetime.combine(until.date() - timedelta(days=BACKLOG_DAYS - 1), time(),
                                                            tzinfo=UTC)
    if until <= since:
        raise ReportError(f"until ({until.isoformat()}) must be after since ({since.isoformat()})")
    first, last = since.date(), (until - timedelta(microseconds=1)).date()
    if (last - first).days + 1 > MAX_BACKLOG_DAYS:
        raise ReportError(f"the backlog window covers at most {MAX_BACKLOG_DAYS} days")
    cases = [(c.created_at, _ended_at(c)) for c in session.scalars(select(Case))]
    if not cases:
        return []
    resolutions = [at for (at,) in session.execute(select(CaseResolution.resolved_at))]
    rows = []
    day = first
    while day <= last:
        start = max(since, datetime.combine(day, time(), tzinfo=UTC))
        end = min(until, datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC))
        rows.append({
            "day": iso(day),
            "open": sum(1 for created, ended in cases if created < end and (ended is None or ended >= end)),
            "created": sum(1 for created, _ in cases if start <= created < end),
            "resolved": sum(1 for at in resolutions if start <= at < end),
        })
        day += timedelta(days=1)
    return rows


# -- agent throughput ---------------------------------------------------------------------------
def case_of_instance(business_key: str | None, variables: str | None, by_number: dict[str, int]) -> int | None:
    """The case an instance works: its business key is the case number, or its variables
    carry `case.case_id` / `case_id` (as `service/open_case` leaves them)."""
    if business_key and business_key in by_number:
        return by_number[business_key]
    try:
        data: Any = json.loads(variables) if variables else {}
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    nested = data.get("case")
    value = nested.get("case_id") if isinstance(nested, dict) else data.get("case_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _case_tasks(session: Session) -> dict[int, list[HumanTask]]:
    """case id → the completed human tasks of the instances working it."""
    tasks = list(session.scalars(
        select(HumanTask).where(HumanTask.state == "completed", HumanTask.completed_by.is_not(None))
    ))
    if not tasks:
        return {}
    by_number = dict(session.execute(select(Case.number, Case.id)).all())
    instances = session.execute(
        select(Instance.id, Instance.business_key, Instance.variables)
        .where(Instance.id.in_({t.instance_id for t in tasks}))
    )
    case_by_instance = {iid: case_of_instance(key, variables, by_number) for iid, key, variables in instances}
    grouped: dict[int, list[HumanTask]] = defaultdict(list)
    for task in tasks:
        case_id = case_by_instance.get(task.instance_id)
        if case_id is not None:
            grouped[case_id].append(task)
    return grouped


def agent_throughput(session: Session, now: datetime, params: Params) -> list[Row]:
    """Resolutions in the window per agent: the person who completed the case's last human
    task at or before the resolution (the resolution record has no author). Also every case
    task each agent completed in the window."""
    since, until = window(params)
    tasks = _case_tasks(session)
    resolutions = [r for r in session.scalars(select(CaseResolution).order_by(CaseResolution.id))
                   if within(r.resolved_at, since, until)]
    resolved: dict[str, list[int]] = defaultdict(list)
    for res in resolutions:
        before = [t for t in tasks.get(res.case_id, [])
                  if t.completed_at is not None and t.completed_at <= res.resolved_at]
        agent = max(before, key=lambda t: (t.completed_at, t.id)).completed_by if before else UNATTRIBUTED
        resolved[agent].append(res.case_id)
    done: dict[str, int] = defaultdict(int)
    for case_tasks in tasks.values():
        for task in case_tasks:
            if within(task.completed_at, since, until):
                done[task.completed_by] += 1
    agents = sorted(set(resolved) | set(done), key=lambda a: (-len(resolved.get(a, [])), a))
    return [{"agent": a, "resolutions": len(resolved.get(a, [])), "cases": len(set(resolved.get(a, []))),
             "tasks_completed": done.get(a, 0)} for a in agents]


REPORTS = (
    Report("cases-open", "Open cases", "service",
           "Active cases by queue and priority: on hold, past their resolve-by time, age of the oldest.",
           cols(("queue", "Queue"), ("priority", "Priority"), ("open", "Open", "int"), ("on_hold", "On hold", "int"),
                ("past_resolve_by", "Past resolve-by", "int"), ("oldest_age_hours", "Oldest (h)", "number")),
           cases_open),
    Report("sla-compliance", "SLA compliance", "service",
           "Per KPI started in the window: met, breached (Noncompliant, or past failure time while on the clock), "
           "still in progress, and % met of the decided ones. Canceled KPIs are left out.",
           cols(("kpi", "KPI"), ("measured", "Measured", "int"), ("met", "Met", "int"),
                ("breached", "Breached", "int"), ("in_progress", "In progress", "int"), ("paused", "Paused", "int"),
                ("met_percent", "Met %", "percent")),
           sla_compliance, params=WINDOW),
    Report("resolution-time", "Resolution time", "service",
           "Average and longest hours from created to resolved, for cases resolved in the window, by priority.",
           cols(("priority", "Priority"), ("resolved", "Resolved", "int"), ("average_hours", "Avg hours", "number"),
                ("max_hours", "Max hours", "number")),
           resolution_time, params=WINDOW),
    Report("entitlements", "Entitlement consumption", "service",
           "Per entitlement: terms (cases or hours) in total, used and remaining.",
           cols(("name", "Entitlement"), ("account", "Account"), ("state", "State"), ("allocation", "Allocation"),
                ("total", "Total", "number"), ("used", "Used", "number"), ("remaining", "Remaining", "number"),
                ("used_percent", "Used %", "percent"), ("end_date", "Ends", "date")),
           entitlements),
    Report("reopen-rate", "Reopen rate", "service",
           "Of the cases resolved in the window, the share reopened at least once.",
           cols(("scope", "Scope"), ("resolved_cases", "Resolved cases", "int"),
                ("reopened_cases", "Reopened cases", "int"), ("reopens", "Reopens", "int"),
                ("reopen_rate_percent", "Reopen rate %", "percent")),
           reopen_rate, params=WINDOW),
    Report("backlog", "Case backlog", "service",
           "Open cases at the end of each day of the window (default the last 14 days), with cases created "
           "and resolutions recorded that day.",
           cols(("day", "Day", "date"), ("open", "Open", "int"), ("created", "Created", "int"),
                ("resolved", "Resolved", "int")),
           backlog, params=WINDOW),
    Report("agent-throughput", "Agent throughput", "service",
           "Resolutions per agent (who completed the case's last human task before each resolution) and case "
           "tasks completed, in the window.",
           cols(("agent", "Agent"), ("resolutions", "Resolutions", "int"), ("cases", "Cases", "int"),
                ("tasks_completed", "Tasks done", "int")),
           agent_throughput, params=WINDOW),
)
