"""Service handlers: case → entitlement → triage → SLA → knowledge → resolution → survey.

Each function is a service-task operation (`service/...`) taking a `ServiceContext` and
plain parameters, working through `ctx.session`, returning a small JSON-able dict.
`BpmnError` codes a diagram can catch: `no_entitlement` (route to paid support) and
`entitlement_exhausted` (the customer's terms are used up).

SLA clock: a KPI's failure time is its target (case creation + the triaged hours), its
warning time is `warning_fraction` of the way there; time the case spends On Hold (or
Resolved, before a reopen) pushes both times by that long. A KPI started with a business
calendar runs on that calendar's clock throughout: its targets count working time, and a
hold pushes its times by the working time that passed while it was held (so the working
time left is kept and the new failure time falls in working hours); `paused_seconds`
counts those pushes in working seconds. Without a calendar everything is wall-clock time.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import Session

from engine.services import BpmnError, ServiceContext

from . import lifecycle as lc
from .activities import new_activity
from .calendars import WorkCalendar, add_business_time, business_time_between, load_calendar
from .customers import customer_address
from .errors import DomainError
from .models import Account, Activity, Contact, Product
from .models.service import (
    CASE_ORIGINS,
    CASE_PRIORITIES,
    Case,
    CaseArticle,
    CaseResolution,
    Contract,
    Entitlement,
    KnowledgeArticle,
    SlaKpiInstance,
)
from .support import choose, fetch, next_number, normalize_email, operation, to_decimal

RESOLUTION_TYPES = lc.CASE.statuses["Resolved"]
CANCEL_REASONS = lc.CASE.statuses["Canceled"]
DEFAULT_WARNING_FRACTION = 0.75
#: how the first contact is logged for each origin: activity type, subject prefix, completed status
ORIGIN_ACTIVITY = {
    "Phone": ("phone_call", "Call", "Received"),
    "Email": ("email", "Email", "Received"),
    "Web": ("task", "Web form", "Completed"),
}
#: a reopened case's closed resolve-by KPI is put back on the clock; the shared SLA KPI table
#: has Closed as final, so this one extra move is allowed here, for `reopen_case` only
KPI_REOPEN = lc.lifecycle(
    "SLA KPI",
    dict(lc.SLA_KPI.statuses),
    {**{k: set(v) for k, v in lc.SLA_KPI.moves.items()}, "Closed": {"Active"}},
)
#: most severe first, for a single status a gateway can test
SEVERITY = ("Noncompliant", "Nearing Noncompliance", "Paused", "In Progress", "Succeeded", "Canceled")


# -- views -----------------------------------------------------------------------------
def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def case_view(case: Case) -> dict[str, Any]:
    return {
        "case_id": case.id,
        "number": case.number,
        "state": case.state,
        "status": case.status,
        "priority": case.priority,
        "queue": case.queue,
        "contact_id": case.contact_id,
        "account_id": case.account_id,
        "entitlement_id": case.entitlement_id,
        "first_response_by": _iso(case.first_response_by),
        "resolve_by": _iso(case.resolve_by),
    }


def kpi_view(kpi: SlaKpiInstance) -> dict[str, Any]:
    return {
        "kpi": kpi.kpi,
        "state": kpi.state,
        "status": kpi.status,
        "warning_at": _iso(kpi.warning_at),
        "failure_at": _iso(kpi.failure_at),
        "calendar": kpi.calendar,
    }


def _kpis(session: Session, case: Case) -> dict[str, SlaKpiInstance]:
    rows = session.scalars(select(SlaKpiInstance).where(SlaKpiInstance.case_id == case.id))
    return {kpi.kpi: kpi for kpi in rows}


def _sla_view(session: Session, case: Case) -> dict[str, Any]:
    kpis = _kpis(session, case)
    view = case_view(case)
    view["kpis"] = {name: kpi_view(kpi) for name, kpi in sorted(kpis.items())}
    statuses = [kpi.status for kpi in kpis.values()]
    view["sla_status"] = next((s for s in SEVERITY if s in statuses), None)
    return view


def _active_case(session: Session, case_id: int, action: str) -> Case:
    case = fetch(session, Case, case_id)
    lc.CASE.require(case, ["Active"], action)
    return case


# -- opening ---------------------------------------------------------------------------
def _customer(
    ctx: ServiceContext, customer_email: str | None, contact_id: int | None, account_id: int | None
) -> tuple[Contact | None, Account | None, bool]:
    """The case's contact and account; an unknown email becomes a new contact (as email-to-case does)."""
    contact = account = None
    created = False
    if contact_id is not None:
        contact = fetch(ctx.session, Contact, contact_id)
    if account_id is not None:
        account = fetch(ctx.session, Account, account_id)
    if contact is None and account is None:
        if customer_email is None:
            raise DomainError("a case needs a customer: customer_email, contact_id or account_id")
        email = normalize_email(customer_email)
        contact = ctx.session.scalars(
            select(Contact).where(Contact.email_normalized == email).order_by(Contact.id)
        ).first()
        if contact is None:
            account = ctx.session.scalars(
                select(Account).where(func.lower(func.trim(Account.email)) == email).order_by(Account.id)
            ).first()
        if contact is None and account is None:
            given = customer_email.strip()
            contact = Contact(last_name=given.rpartition("@")[0], email=given, email_normalized=email)
            lc.CONTACT.start(contact, ctx.now)
            ctx.session.add(contact)
            ctx.session.flush()
            created = True
    if account is None and contact is not None and contact.account_id is not None:
        account = ctx.session.get(Account, contact.account_id)
    return contact, account, created


def _product_id(session: Session, product: int | str | None) -> int | None:
    if product is None:
        return None
    if isinstance(product, int) and not isinstance(product, bool):
        return fetch(session, Product, product).id
    found = session.scalars(select(Product).where(Product.number == str(product))).first()
    if found is None:
        raise DomainError(f"product {product} does not exist")
    return found.id


@operation("service/open_case")
def open_case(
    ctx: ServiceContext,
    title: str,
    origin: str,
    customer_email: str | None = None,
    contact_id: int | None = None,
    account_id: int | None = None,
    description: str | None = None,
    product: int | str | None = None,
    case_type: str | None = None,
) -> dict[str, Any]:
    """Open an Active (In Progress) case and log the call / email / web form that raised it.

    `product` is a product id or number. A retried call returns the first call's case.
    """
    choose(origin, CASE_ORIGINS, "case origin")
    if not isinstance(title, str) or not title.strip():
        raise DomainError("a case needs a title")
    if case_type is not None:
        choose(case_type, ("Question", "Problem", "Request"), "case type")
    contact, account, new_contact = _customer(ctx, customer_email, contact_id, account_id)
    case = Case(
        number=next_number(ctx.session, "case", "CAS"),
        title=title.strip(),
        description=description,
        origin=origin,
        case_type=case_type,
        product_id=_product_id(ctx.session, product),
        contact_id=contact.id if contact else None,
        account_id=account.id if account else None,
        reopened_count=0,
    )
    lc.CASE.start(case, ctx.now)
    ctx.session.add(case)
    ctx.session.flush()
    activity_type, prefix, done = ORIGIN_ACTIVITY[origin]
    activity = new_activity(
        ctx,
        activity_type,
        f"{prefix}: {case.title}",
        "case",
        case.id,
        description,
        "incoming",
        details={"origin": origin, "case_number": case.number},
    )
    lc.ACTIVITY.move(activity, "Completed", done, ctx.now)
    activity.completed_at = ctx.now
    ctx.session.flush()
    view = case_view(case)
    view.update(
        origin=origin,
        product_id=case.product_id,
        activity_id=activity.id,
        activity_type=activity_type,
        new_contact=new_contact,
    )
    return view


# -- entitlements ----------------------------------------------------------------------
def _candidate_entitlements(session: Session, case: Case) -> list[Entitlement]:
    """Active, in-date entitlements of the case's contact or account (under an active contract)."""
    owners = []
    if case.contact_id is not None:
        owners.append(Entitlement.contact_id == case.contact_id)
    if case.account_id is not None:
        owners.append(Entitlement.account_id == case.account_id)
    if not owners:
        return []
    query = select(Entitlement).where(Entitlement.state == "Active", or_(*owners))
    return list(session.scalars(query.order_by(Entitlement.end_date, Entitlement.id)))


def _in_force(session: Session, entitlement: Entitlement, now: datetime) -> bool:
    today = now.date()
    if not entitlement.start_date <= today <= entitlement.end_date:
        return False
    if entitlement.contract_id is None:
        return True
    contract = session.get(Contract, entitlement.contract_id)
    return contract is not None and contract.state == "Active" and contract.start_date <= today <= contract.end_date


def entitlement_view(entitlement: Entitlement) -> dict[str, Any]:
    return {
        "entitlement_id": entitlement.id,
        "name": entitlement.name,
        "allocation_type": entitlement.allocation_type,
        "decrease_on": entitlement.decrease_on,
        "remaining_terms": str(entitlement.remaining_terms),
        "sla_name": entitlement.sla_name,
    }


def _charge(entitlement: Entitlement, terms: Decimal) -> Decimal:
    """Take `terms` off the remaining terms (never below zero); returns what could not be covered."""
    covered = min(terms, entitlement.remaining_terms)
    entitlement.remaining_terms = entitlement.remaining_terms - covered
    return terms - covered


@operation("service/check_entitlement")
def check_entitlement(ctx: ServiceContext, case_id: int) -> dict[str, Any]:
    """Link the case to the customer's entitlement in force, charging one case now if it
    decreases on creation (hours are always charged at resolution, from the time spent).

    Raises `BpmnError("no_entitlement")` when the customer has none in force and
    `BpmnError("entitlement_exhausted")` when every one in force is used up.
    """
    case = _active_case(ctx.session, case_id, "checked for an entitlement")
    if case.entitlement_id is not None:  # checked before (e.g. a loop back); never charge twice
        view = entitlement_view(fetch(ctx.session, Entitlement, case.entitlement_id))
        view.update(case_id=case.id, charged=False, already_linked=True)
        return view
    in_force = [e for e in _candidate_entitlements(ctx.session, case) if _in_force(ctx.session, e, ctx.now)]
    if not in_force:
        raise BpmnError("no_entitlement", f"case {case.number}: the customer has no entitlement in force")
    # the contact's own terms before the account's, then the one ending soonest
    in_force.sort(key=lambda e: (e.contact_id != case.contact_id, e.end_date, e.id))
    usable = next((e for e in in_force if e.remaining_terms > 0), None)
    if usable is None:
        names = ", ".join(e.name for e in in_force)
        raise BpmnError("entitlement_exhausted", f"case {case.number}: entitlement(s) {names} have no terms left")
    case.entitlement_id = usable.id
    if usable.sla_name and not case.sla_name:
        case.sla_name = usable.sla_name
    charged = usable.allocation_type == "cases" and usable.decrease_on == "creation"
    if charged:
        _charge(usable, Decimal(1))
    ctx.session.flush()
    view = entitlement_view(usable)
    view.update(case_id=case.id, charged=charged, already_linked=False)
    return view


# -- triage and SLA --------------------------------------------------------------------
def _hours(value: Any, field: str) -> timedelta:
    hours = to_decimal(value, field, minimum=Decimal("0"))
    if hours == 0:
        raise DomainError(f"{field} must be more than 0 hours")
    return timedelta(seconds=float(hours * 3600))


# -- the KPI's clock: wall-clock time, or the working time of its business calendar ----------
def _clock(session: Session, kpi: SlaKpiInstance) -> WorkCalendar | None:
    """The calendar the KPI's clock runs on (None: wall-clock time)."""
    return load_calendar(session, kpi.calendar) if kpi.calendar else None


def _elapsed(cal: WorkCalendar | None, since: datetime, until: datetime) -> timedelta:
    """Time on the clock from `since` to `until`: working time on a calendar, else elapsed time."""
    return business_time_between(cal, since, until) if cal is not None else until - since


def _later(cal: WorkCalendar | None, at: datetime, by: timedelta) -> datetime:
    """`at` plus `by` on the clock (the earliest instant that much working time later)."""
    return add_business_time(cal, at, by) if cal is not None else at + by


def _push(kpi: SlaKpiInstance, cal: WorkCalendar | None, since: datetime, until: datetime) -> None:
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
    case = _active_case(ctx.session, case_id, "triaged")
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
    for kpi in _kpis(ctx.session, case).values():
        if kpi.state == "Active":
            target = case.first_response_by if kpi.kpi == "first_response" else case.resolve_by
            _set_times(kpi, start, target, _fraction(kpi, start, _clock(ctx.session, kpi)), cal)
            _evaluate(kpi, ctx.now)
            if kpi.kpi == "first_response":
                case.first_response_by = kpi.failure_at
            else:
                case.resolve_by = kpi.failure_at
    ctx.session.flush()
    return _sla_view(ctx.session, case)


def _evaluate(kpi: SlaKpiInstance, now: datetime) -> None:
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


def _met(session: Session, kpi: SlaKpiInstance, now: datetime) -> None:
    """The KPI's goal was reached `now`: Succeeded in time, else Noncompliant.

    A KPI paused right now counts the ongoing pause as if it had been resumed.
    """
    if kpi.state != "Active":
        return
    deadline = kpi.failure_at
    if kpi.status == "Paused" and kpi.paused_at is not None:
        cal = _clock(session, kpi)
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
    case = _active_case(ctx.session, case_id, "put under SLA")
    if isinstance(warning_fraction, bool) or not isinstance(warning_fraction, (int, float)):
        raise DomainError(f"warning_fraction must be a number between 0 and 1, not {warning_fraction!r}")
    if not 0 < warning_fraction < 1:
        raise DomainError(f"warning_fraction must be between 0 and 1 (exclusive), not {warning_fraction!r}")
    if case.first_response_by is None or case.resolve_by is None:
        raise DomainError(f"case {case.number} has no SLA targets; triage it before starting the SLA")
    existing = _kpis(ctx.session, case)
    if existing:
        view = _sla_view(ctx.session, case)
        view["started"] = False
        return view
    cal = load_calendar(ctx.session, calendar) if calendar else None
    for name, target in (("first_response", case.first_response_by), ("resolve", case.resolve_by)):
        kpi = SlaKpiInstance(case_id=case.id, kpi=name, paused_seconds=0)
        lc.SLA_KPI.start(kpi, ctx.now)
        _set_times(kpi, case.created_at, target, float(warning_fraction), cal)
        ctx.session.add(kpi)
        if name == "first_response" and case.first_responded_at is not None:
            _met(ctx.session, kpi, case.first_responded_at)
        elif case.on_hold_since is not None:
            lc.SLA_KPI.move(kpi, "Active", "Paused", ctx.now)
            kpi.paused_at = ctx.now
        else:
            _evaluate(kpi, ctx.now)
    ctx.session.flush()
    view = _sla_view(ctx.session, case)
    view["started"] = True
    return view


@operation("service/pause_sla")
def pause_sla(ctx: ServiceContext, case_id: int) -> dict[str, Any]:
    """Put the case On Hold and stop its SLA clock (KPIs on the clock become Paused)."""
    case = _active_case(ctx.session, case_id, "put on hold")
    lc.CASE.move(case, "Active", "On Hold", ctx.now)
    case.on_hold_since = ctx.now
    for kpi in _kpis(ctx.session, case).values():
        _evaluate(kpi, ctx.now)  # a breach before the hold is a breach
        if kpi.state == "Active":
            lc.SLA_KPI.move(kpi, "Active", "Paused", ctx.now)
            kpi.paused_at = ctx.now
    ctx.session.flush()
    return _sla_view(ctx.session, case)


@operation("service/resume_sla")
def resume_sla(ctx: ServiceContext, case_id: int) -> dict[str, Any]:
    """Take the case off hold (In Progress) and push each paused KPI's times by the pause
    (its working time, for a KPI on a business calendar).

    `paused_seconds` in the answer is how long the case was on hold (wall-clock).
    """
    case = _active_case(ctx.session, case_id, "resumed")
    if case.status != "On Hold":
        raise DomainError(f"case {case.number} is Active ({case.status}); only a case On Hold can be resumed")
    lc.CASE.move(case, "Active", "In Progress", ctx.now)
    held = ctx.now - case.on_hold_since if case.on_hold_since is not None else timedelta(0)
    case.on_hold_since = None
    for kpi in _kpis(ctx.session, case).values():
        if kpi.state != "Active" or kpi.status != "Paused":
            continue
        _push(kpi, _clock(ctx.session, kpi), kpi.paused_at or ctx.now, ctx.now)
        kpi.paused_at = None
        lc.SLA_KPI.move(kpi, "Active", "In Progress", ctx.now)
        _evaluate(kpi, ctx.now)
        if kpi.kpi == "first_response":
            case.first_response_by = kpi.failure_at
        else:
            case.resolve_by = kpi.failure_at
    ctx.session.flush()
    view = _sla_view(ctx.session, case)
    view["paused_seconds"] = int(held.total_seconds())
    return view


@operation("service/record_first_response")
def record_first_response(ctx: ServiceContext, case_id: int) -> dict[str, Any]:
    """The customer got a first answer now: first-response KPI Succeeded, or Noncompliant if late.

    A second call keeps the first response's time.
    """
    case = _active_case(ctx.session, case_id, "responded to")
    first = case.first_responded_at is None
    if first:
        case.first_responded_at = ctx.now
        kpi = _kpis(ctx.session, case).get("first_response")
        if kpi is not None:
            _met(ctx.session, kpi, ctx.now)
    ctx.session.flush()
    view = _sla_view(ctx.session, case)
    view.update(first_responded_at=_iso(case.first_responded_at), recorded=first)
    return view


@operation("service/check_sla")
def check_sla(ctx: ServiceContext, case_id: int) -> dict[str, Any]:
    """Bring KPI statuses up to `ctx.now` (Nearing Noncompliance after the warning time,
    Noncompliant after the failure time) and report them: `sla_status` is the most severe,
    `warned` / `breached` are flags a gateway can test."""
    case = fetch(ctx.session, Case, case_id)
    kpis = _kpis(ctx.session, case)
    if case.state == "Active":
        for kpi in kpis.values():
            _evaluate(kpi, ctx.now)
        ctx.session.flush()
    view = _sla_view(ctx.session, case)
    statuses = {name: kpi.status for name, kpi in kpis.items()}
    view.update(
        first_response=statuses.get("first_response"),
        resolve=statuses.get("resolve"),
        warned=any(s in ("Nearing Noncompliance", "Noncompliant") for s in statuses.values()),
        breached="Noncompliant" in statuses.values(),
    )
    return view


# -- knowledge -------------------------------------------------------------------------
WORD = re.compile(r"[^\W_]{3,}", re.UNICODE)
STOP_WORDS = frozenset(
    "the and for with that this from have has not but are was were you your our can cannot can't "
    "when what how why who does did will would could should into onto after before about there their "
    "they them then than its it's all any some get got".split()
)


def _terms(*texts: str | None) -> list[str]:
    seen: dict[str, None] = {}
    for chunk in texts:
        for word in WORD.findall(chunk or ""):
            word = word.lower()
            if word not in STOP_WORDS:
                seen.setdefault(word, None)
    return list(seen)[:32]


def _search_fts(session: Session, terms: list[str], limit: int) -> list[int]:
    """Published article ids by FTS5 relevance (bm25; title weighs most, then keywords)."""
    query = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
    rows = session.execute(
        text(
            "SELECT a.id FROM crm_knowledge_article_fts f JOIN crm_knowledge_article a ON a.id = f.rowid"
            " WHERE crm_knowledge_article_fts MATCH :query AND a.state = 'Published'"
            " ORDER BY bm25(crm_knowledge_article_fts, 10.0, 1.0, 5.0), a.id LIMIT :limit"
        ),
        {"query": query, "limit": limit},
    )
    return [row[0] for row in rows]


def _search_tsvector(session: Session, terms: list[str], limit: int) -> list[int]:
    """Published article ids by PostgreSQL full-text rank (weighted title > keywords > content)."""
    words = [w for w in (re.sub(r"[^0-9a-z]", "", t) for t in terms) if w]
    if not words:
        return []
    rows = session.execute(
        text(
            "SELECT id FROM crm_knowledge_article, to_tsquery('english', :query) q"
            " WHERE state = 'Published' AND search_vector @@ q"
            " ORDER BY ts_rank(search_vector, q) DESC, id LIMIT :limit"
        ),
        {"query": " | ".join(words), "limit": limit},
    )
    return [row[0] for row in rows]


def _search_like(session: Session, terms: list[str], limit: int) -> list[int]:
    """Fallback without a full-text index: rank by how many terms an article mentions."""
    scored = []
    for article in session.scalars(select(KnowledgeArticle).where(KnowledgeArticle.state == "Published")):
        haystack = " ".join((article.title, article.content, article.keywords or "")).lower()
        title = article.title.lower()
        score = sum(3 if term in title else 1 for term in terms if term in haystack)
        if score:
            scored.append((-score, article.id))
    return [article_id for _, article_id in sorted(scored)[:limit]]


@operation("service/suggest_articles")
def suggest_articles(ctx: ServiceContext, case_id: int, limit: int = 3) -> dict[str, Any]:
    """Suggest published knowledge articles matching the case's title and description, best
    first, and link them to the case."""
    case = _active_case(ctx.session, case_id, "given article suggestions")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 50:
        raise DomainError(f"limit must be a whole number from 1 to 50, not {limit!r}")
    terms = _terms(case.title, case.description)
    if not terms:
        ids: list[int] = []
    elif ctx.session.get_bind().dialect.name == "sqlite":
        ids = _search_fts(ctx.session, terms, limit)
    elif ctx.session.get_bind().dialect.name == "postgresql":
        ids = _search_tsvector(ctx.session, terms, limit)
    else:
        ids = _search_like(ctx.session, terms, limit)
    suggestions = []
    for rank, article_id in enumerate(ids, start=1):
        article = ctx.session.get(KnowledgeArticle, article_id)
        link = ctx.session.get(CaseArticle, (case.id, article_id))
        if link is None:
            ctx.session.add(CaseArticle(case_id=case.id, article_id=article_id, rank=rank, suggested_at=ctx.now))
        else:
            link.rank, link.suggested_at = rank, ctx.now
        suggestions.append({"article_id": article.id, "number": article.number, "title": article.title, "rank": rank})
    ctx.session.flush()
    return {"case_id": case.id, "articles": suggestions, "article_ids": ids}


# -- resolution and after --------------------------------------------------------------
def _charge_resolution(session: Session, case: Case, time_spent_minutes: int, first: bool) -> dict[str, Any] | None:
    """Charge the entitlement at resolution: hours always (time spent), a case once if it
    decreases on resolution."""
    if case.entitlement_id is None:
        return None
    entitlement = fetch(session, Entitlement, case.entitlement_id)
    if entitlement.allocation_type == "hours":
        terms = (Decimal(time_spent_minutes) / Decimal(60)).quantize(Decimal("0.001"))
    elif entitlement.decrease_on == "resolution" and first:
        terms = Decimal(1)
    else:
        terms = Decimal(0)
    uncovered = _charge(entitlement, terms)
    view = entitlement_view(entitlement)
    view.update(charged=str(terms), uncovered=str(uncovered))
    return view


@operation("service/resolve_case")
def resolve_case(
    ctx: ServiceContext,
    case_id: int,
    resolution_type: str,
    summary: str,
    time_spent_minutes: int = 0,
    description: str | None = None,
) -> dict[str, Any]:
    """Resolve: record the resolution, close the KPIs (resolve-by Succeeded or Noncompliant;
    a resolution is also the first response if there was none), charge the entitlement."""
    choose(resolution_type, RESOLUTION_TYPES, "resolution type")
    if not isinstance(summary, str) or not summary.strip():
        raise DomainError("a resolution needs a summary")
    if isinstance(time_spent_minutes, bool) or not isinstance(time_spent_minutes, int) or time_spent_minutes < 0:
        raise DomainError(f"time_spent_minutes must be a whole number ≥ 0, not {time_spent_minutes!r}")
    case = _active_case(ctx.session, case_id, "resolved")
    first = ctx.session.scalars(select(CaseResolution.id).where(CaseResolution.case_id == case.id)).first() is None
    resolution = CaseResolution(
        case_id=case.id,
        subject=summary.strip(),
        resolution_type=resolution_type,
        description=description,
        time_spent_minutes=time_spent_minutes,
        resolved_at=ctx.now,
    )
    ctx.session.add(resolution)
    lc.CASE.move(case, "Resolved", resolution_type, ctx.now)
    case.resolved_at = ctx.now
    case.on_hold_since = None
    if case.first_responded_at is None:
        case.first_responded_at = ctx.now
    for kpi in _kpis(ctx.session, case).values():
        _met(ctx.session, kpi, ctx.now)
    entitlement = _charge_resolution(ctx.session, case, time_spent_minutes, first)
    ctx.session.flush()
    view = _sla_view(ctx.session, case)
    view.update(resolution_id=resolution.id, entitlement=entitlement)
    return view


@operation("service/cancel_case")
def cancel_case(
    ctx: ServiceContext, case_id: int, reason: str = "Canceled", merged_into: int | None = None
) -> dict[str, Any]:
    """Cancel an Active case (Canceled, or Merged into another active case); its KPIs are Canceled."""
    choose(reason, CANCEL_REASONS, "cancel reason")
    case = _active_case(ctx.session, case_id, "canceled")
    if reason == "Merged":
        if merged_into is None:
            raise DomainError(f"merging case {case.number} needs merged_into (the case it is merged into)")
        target = fetch(ctx.session, Case, merged_into)
        if target.id == case.id:
            raise DomainError(f"case {case.number} cannot be merged into itself")
        lc.CASE.require(target, ["Active"], "merged into")
        case.merged_into_id = target.id
    elif merged_into is not None:
        raise DomainError("merged_into is only for reason 'Merged'")
    lc.CASE.move(case, "Canceled", reason, ctx.now)
    case.on_hold_since = None
    for kpi in _kpis(ctx.session, case).values():
        if kpi.state == "Active":
            lc.SLA_KPI.move(kpi, "Closed", "Canceled", ctx.now)
            kpi.paused_at = None
    ctx.session.flush()
    view = _sla_view(ctx.session, case)
    view["merged_into"] = case.merged_into_id
    return view


@operation("service/reopen_case")
def reopen_case(ctx: ServiceContext, case_id: int) -> dict[str, Any]:
    """A reply on a resolved case: back to Active (In Progress). The resolution record stays.

    The resolve-by KPI goes back on the clock if it had Succeeded, its times pushed by how
    long the case sat resolved (nobody could work on it; on a business calendar, by the
    working time that passed); a breach stays a breach, and the first response stays answered.
    """
    case = fetch(ctx.session, Case, case_id)
    lc.CASE.require(case, ["Resolved"], "reopened")
    if case.closed_at is not None:
        raise DomainError(
            f"case {case.number} was closed on {case.closed_at.isoformat()}; a reply to a closed case opens a new case"
        )
    lc.CASE.move(case, "Active", "In Progress", ctx.now)
    resolved_at = case.resolved_at if case.resolved_at is not None else ctx.now
    case.resolved_at = None
    case.reopened_count += 1
    kpi = _kpis(ctx.session, case).get("resolve")
    if kpi is not None and kpi.status == "Succeeded":
        KPI_REOPEN.move(kpi, "Active", "In Progress", ctx.now)
        kpi.succeeded_at = None
        _push(kpi, _clock(ctx.session, kpi), resolved_at, ctx.now)
        _evaluate(kpi, ctx.now)
        case.resolve_by = kpi.failure_at
    ctx.session.flush()
    view = _sla_view(ctx.session, case)
    view["reopened_count"] = case.reopened_count
    return view


@operation("service/close_resolved_case")
def close_resolved_case(ctx: ServiceContext, case_id: int, after_days: int = 7) -> dict[str, Any]:
    """Auto-close: a case still Resolved `after_days` after its resolution is closed for good
    (a later reply opens a new case). A reopened case (or one resolved again too recently)
    is left alone: `reopened=True` / `closed=False` tell the diagram which."""
    case = fetch(ctx.session, Case, case_id)
    view = case_view(case)
    if case.state == "Active":
        view.update(closed=False, reopened=True)
        return view
    if case.state != "Resolved":
        view.update(closed=False, reopened=False)
        return view
    due = case.resolved_at + timedelta(days=after_days) if case.resolved_at else ctx.now
    if case.closed_at is None and ctx.now < due:
        view.update(closed=False, reopened=False, close_due_at=_iso(due))
        return view
    if case.closed_at is None:
        case.closed_at = ctx.now
        for activity in ctx.session.scalars(
            select(Activity).where(
                Activity.regarding_type == "case", Activity.regarding_id == case.id, Activity.state == "Open"
            )
        ):
            lc.ACTIVITY.move(activity, "Canceled", "Canceled", ctx.now)
            activity.completed_at = ctx.now
        ctx.session.flush()
    view.update(closed=True, reopened=False, closed_at=_iso(case.closed_at))
    return view


@operation("service/send_satisfaction_survey")
def send_satisfaction_survey(ctx: ServiceContext, case_id: int, survey_url: str | None = None) -> dict[str, Any]:
    """Email the customer a satisfaction survey about a resolved case (through the outbox)
    and log the email on the case."""
    case = fetch(ctx.session, Case, case_id)
    lc.CASE.require(case, ["Resolved"], "surveyed")
    to, name = customer_address(ctx.session, case.contact_id, case.account_id,
                                f"case {case.number} has no customer email to send a survey to")
    subject = f"How did we do? Your case {case.number}"
    link = survey_url or f"https://support.example.com/survey?case={case.number}"
    body = (
        f'Hello {name},\n\nyour case {case.number} "{case.title}" was resolved ({case.status}).\n'
        f"Please tell us how satisfied you are: {link}\n\nThank you,\nCustomer Service\n"
    )
    key = ctx.send("email", {"to": to, "subject": subject, "body": body})
    activity = new_activity(
        ctx, "email", subject, "case", case.id, body, "outgoing", details={"to": to, "outbox_key": key}
    )
    lc.ACTIVITY.move(activity, "Completed", "Sent", ctx.now)
    activity.completed_at = ctx.now
    ctx.session.flush()
    return {"case_id": case.id, "to": to, "subject": subject, "outbox_key": key, "activity_id": activity.id}
