"""Sales figures: pipeline, win rate (overall and per owner), cycle time, forecast, quota
attainment and what is outstanding.

Opportunities have no sales stage field: the pipeline groups by status reason (In Progress /
On Hold). Their `owner` is a user name (set when the lead is qualified; older records have
none); pipeline, win rate, cycle time and forecast take an `owner` parameter to show one
person's figures. A probability left empty weighs 0. Won and lost times are the
opportunity's `state_changed_at` (Won and Lost are final); quota attainment counts revenue by
`actual_close_date`, the day the opportunity was won, inside the quota's (inclusive) period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import lifecycle as lc
from ..models import Account, Invoice, Lead, Opportunity, Quote, SalesOrder
from ..models.sales import SalesQuota
from ..quotas import period_label
from ..sales.orders import is_overdue
from .base import (
    WINDOW,
    ZERO,
    Params,
    Report,
    Row,
    age_days,
    average,
    cols,
    days,
    iso,
    money,
    number,
    param_int,
    percent,
    window,
    within,
)

OPEN_ORDER_STATES = ("Active", "Submitted", "Fulfilled")
OWNER = ("owner",)


def weighted(value: Decimal | None, probability: int | None) -> Decimal:
    """Probability × value (probability in percent); unknown value or probability weighs 0."""
    if value is None or probability is None:
        return ZERO
    return value * probability / 100


def _account_names(session: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(session.execute(select(Account.id, Account.name).where(Account.id.in_(wanted))).all())


def _owned(opps: Iterable[Opportunity], params: Params) -> list[Opportunity]:
    """Only `params['owner']`'s opportunities when that parameter is given."""
    owner = str(params.get("owner") or "").strip()
    return [o for o in opps if not owner or o.owner == owner]


def _owner_order(owner: str | None) -> tuple[bool, str]:
    """Owners by name, the unowned last."""
    return (owner is None, owner or "")


def _status_order(status: str) -> tuple[int, str]:
    known = lc.OPPORTUNITY.statuses["Open"]
    return (known.index(status) if status in known else len(known), status)


# -- pipeline -----------------------------------------------------------------------------------
def pipeline(session: Session, now: datetime, params: Params) -> list[Row]:
    groups: dict[str, list[Opportunity]] = defaultdict(list)
    for opp in _owned(session.scalars(select(Opportunity).where(Opportunity.state == "Open")), params):
        groups[opp.status].append(opp)
    rows = []
    for status in sorted(groups, key=_status_order):
        opps = groups[status]
        rows.append({
            "status": status,
            "opportunities": len(opps),
            "total_value": money(sum((o.estimated_value or ZERO for o in opps), ZERO)),
            "weighted_value": money(sum((weighted(o.estimated_value, o.probability) for o in opps), ZERO)),
            "without_probability": sum(1 for o in opps if o.probability is None),
        })
    return rows


# -- win rate -----------------------------------------------------------------------------------
def _closed(session: Session, params: Params) -> list[Opportunity]:
    since, until = window(params)
    opps = session.scalars(select(Opportunity).where(Opportunity.state.in_(("Won", "Lost"))).order_by(Opportunity.id))
    return [o for o in _owned(opps, params) if within(o.state_changed_at, since, until)]


def win_rate(session: Session, now: datetime, params: Params) -> list[Row]:
    closed = _closed(session, params)
    if not closed:
        return []
    return [{"scope": "All", **_rate(closed)}]


def win_rate_by_owner(session: Session, now: datetime, params: Params) -> list[Row]:
    """The win rate of each owner (the unowned together, last), for opportunities closed in the window."""
    groups: dict[str | None, list[Opportunity]] = defaultdict(list)
    for opp in _closed(session, params):
        groups[opp.owner].append(opp)
    return [{"owner": owner, **_rate(groups[owner])} for owner in sorted(groups, key=_owner_order)]


def _rate(closed: list[Opportunity]) -> Row:
    won = [o for o in closed if o.state == "Won"]
    lost = [o for o in closed if o.state == "Lost"]
    return {
        "won": len(won),
        "lost": len(lost),
        "win_rate_percent": percent(len(won), len(won) + len(lost)),
        "won_revenue": money(sum((o.actual_value or ZERO for o in won), ZERO)),
        "lost_value": money(sum((o.estimated_value or ZERO for o in lost), ZERO)),
    }


# -- cycle time ---------------------------------------------------------------------------------
def cycle_time(session: Session, now: datetime, params: Params) -> list[Row]:
    """Days from the originating lead's creation to the opportunity's win (won opportunities
    without a lead have no lead-to-won cycle and are left out)."""
    won = [o for o in _closed(session, params) if o.state == "Won" and o.originating_lead_id is not None]
    leads = dict(session.execute(
        select(Lead.id, Lead.created_at).where(Lead.id.in_({o.originating_lead_id for o in won}))
    ).all()) if won else {}
    spans = [days(o.state_changed_at - leads[o.originating_lead_id]) for o in won if o.originating_lead_id in leads]
    if not spans:
        return []
    return [{
        "scope": "All",
        "won": len(spans),
        "average_days": number(average(spans)),
        "min_days": number(min(spans)),
        "max_days": number(max(spans)),
    }]


# -- forecast -----------------------------------------------------------------------------------
def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def next_quarter(start: date) -> date:
    return date(start.year + 1, 1, 1) if start.month == 10 else date(start.year, start.month + 3, 1)


def quarter_label(start: date) -> str:
    return f"{start.year}-Q{(start.month - 1) // 3 + 1}"


def forecast(session: Session, now: datetime, params: Params) -> list[Row]:
    """Σ probability × value of open opportunities by the quarter of their expected close
    date, for this quarter and the next ones (`quarters`, default 4). Dates before this
    quarter ("earlier"), past the horizon ("later") or missing ("undated") get their own
    row when there are any."""
    quarters = param_int(params, "quarters", 4, maximum=40)
    opps = _owned(session.scalars(select(Opportunity).where(Opportunity.state == "Open")), params)
    if not opps:
        return []
    starts = [quarter_start(now.date())]
    for _ in range(quarters - 1):
        starts.append(next_quarter(starts[-1]))
    horizon = next_quarter(starts[-1])
    buckets: dict[str, list[Opportunity]] = defaultdict(list)
    for opp in opps:
        buckets[_bucket(opp.estimated_close_date, starts, horizon)].append(opp)
    rows = [_forecast_row(quarter_label(s), s, next_quarter(s), buckets[quarter_label(s)]) for s in starts]
    for label, start, end in (("earlier", None, starts[0]), ("later", horizon, None), ("undated", None, None)):
        if buckets[label]:
            rows.append(_forecast_row(label, start, end, buckets[label]))
    return rows


def _bucket(close: date | None, starts: list[date], horizon: date) -> str:
    if close is None:
        return "undated"
    if close < starts[0]:
        return "earlier"
    if close >= horizon:
        return "later"
    return quarter_label(quarter_start(close))


def _forecast_row(label: str, start: date | None, end: date | None, opps: list[Opportunity]) -> Row:
    return {
        "period": label,
        "start": iso(start),
        "end": iso(end),
        "opportunities": len(opps),
        "total_value": money(sum((o.estimated_value or ZERO for o in opps), ZERO)),
        "weighted_value": money(sum((weighted(o.estimated_value, o.probability) for o in opps), ZERO)),
    }


# -- quota attainment ---------------------------------------------------------------------------
def _period_bounds(quota: SalesQuota) -> tuple[datetime, datetime]:
    """The quota's inclusive days as the UTC times `[first midnight, midnight after the last day)`."""
    return (datetime.combine(quota.period_start, time(), tzinfo=UTC),
            datetime.combine(quota.period_end + timedelta(days=1), time(), tzinfo=UTC))


def _quotas_in_view(session: Session, now: datetime, params: Params) -> list[SalesQuota]:
    """Quotas whose period overlaps `[since, until)`; with neither given, those whose period holds today."""
    since, until = window(params)
    team = str(params.get("team") or "").strip()
    quotas = [q for q in session.scalars(select(SalesQuota)) if not team or q.team == team]
    if since is None and until is None:
        today = now.date()
        return [q for q in quotas if q.period_start <= today <= q.period_end]
    chosen = []
    for quota in quotas:
        start, end = _period_bounds(quota)
        if (until is None or start < until) and (since is None or end > since):
            chosen.append(quota)
    return chosen


def quota_attainment(session: Session, now: datetime, params: Params) -> list[Row]:
    """Per owner and quota period: target, revenue won (Σ actual value of the owner's
    opportunities won on a day inside the period) and won / target; then per team and
    period, the sums of its members' rows."""
    quotas = _quotas_in_view(session, now, params)
    if not quotas:
        return []
    first, last = min(q.period_start for q in quotas), max(q.period_end for q in quotas)
    won: dict[str, list[Opportunity]] = defaultdict(list)
    for opp in session.scalars(select(Opportunity).where(
        Opportunity.state == "Won", Opportunity.owner.in_({q.owner for q in quotas}),
        Opportunity.actual_close_date >= first, Opportunity.actual_close_date <= last,
    )):
        won[opp.owner or ""].append(opp)
    users: list[Row] = []
    for quota in quotas:
        mine = [o for o in won[quota.owner]
                if o.actual_close_date is not None and quota.period_start <= o.actual_close_date <= quota.period_end]
        users.append(_attainment_row("user", quota.owner, quota.team, quota.period_start, quota.period_end,
                                     quota.target, sum((o.actual_value or ZERO for o in mine), ZERO), len(mine)))
    teams: dict[tuple[str, date, date], list[Row]] = defaultdict(list)
    for row, quota in zip(users, quotas, strict=True):
        if quota.team:
            teams[(quota.team, quota.period_start, quota.period_end)].append(row)
    rows = users + [
        _attainment_row("team", None, team, start, end, sum((Decimal(r["target"]) for r in members), ZERO),
                        sum((Decimal(r["won"]) for r in members), ZERO), sum(r["won_opportunities"] for r in members))
        for (team, start, end), members in teams.items()
    ]
    # each period's rows together; inside it, a team's members then the team, the teamless last
    return sorted(rows, key=lambda r: (r["period_start"], r["period_end"], r["team"] is None, r["team"] or "",
                                       r["level"] == "team", r["owner"] or ""))


def _attainment_row(level: str, owner: str | None, team: str | None, start: date, end: date, target: Decimal,
                    won: Decimal, count: int) -> Row:
    return {
        "level": level,
        "owner": owner,
        "team": team,
        "period": period_label(start, end),
        "period_start": iso(start),
        "period_end": iso(end),
        "target": money(target),
        "won": money(won),
        "won_opportunities": count,
        "attainment_percent": percent(won, target),
    }


# -- outstanding documents ----------------------------------------------------------------------
def quotes_outstanding(session: Session, now: datetime, params: Params) -> list[Row]:
    """Active quotes: sent to the customer, neither won nor closed yet."""
    quotes = list(session.scalars(select(Quote).where(Quote.state == "Active").order_by(Quote.created_at, Quote.id)))
    names = _account_names(session, {q.account_id for q in quotes})
    return [{
        "number": q.number,
        "revision": q.revision,
        "name": q.name,
        "account": names.get(q.account_id) if q.account_id else None,
        "opportunity_id": q.opportunity_id,
        "status": q.status,
        "total_amount": money(q.total_amount),
        "created": iso(q.created_at.date()),
        "age_days": age_days(q.created_at, now),
        "effective_to": iso(q.effective_to),
        "expired": q.effective_to is not None and q.effective_to < now.date(),
    } for q in quotes]


def orders_outstanding(session: Session, now: datetime, params: Params) -> list[Row]:
    """Orders not invoiced (nor canceled): Active, Submitted or Fulfilled."""
    orders = list(session.scalars(
        select(SalesOrder).where(SalesOrder.state.in_(OPEN_ORDER_STATES)).order_by(SalesOrder.created_at, SalesOrder.id)
    ))
    names = _account_names(session, {o.account_id for o in orders})
    return [{
        "number": o.number,
        "name": o.name,
        "account": names.get(o.account_id) if o.account_id else None,
        "state": o.state,
        "status": o.status,
        "total_amount": money(o.total_amount),
        "created": iso(o.created_at.date()),
        "age_days": age_days(o.created_at, now),
    } for o in orders]


def invoices_overdue(session: Session, now: datetime, params: Params) -> list[Row]:
    """Invoices past their due date with a balance left (the reminder loop's rule), most overdue first."""
    today = now.date()
    candidates = session.scalars(select(Invoice).where(Invoice.state.in_(("Active", "Paid")), Invoice.due_date < today))
    overdue = sorted((i for i in candidates if is_overdue(i, today)), key=lambda i: (i.due_date, i.id))
    names = _account_names(session, {i.account_id for i in overdue})
    return [{
        "number": i.number,
        "name": i.name,
        "account": names.get(i.account_id) if i.account_id else None,
        "due_date": iso(i.due_date),
        "days_overdue": (today - i.due_date).days,
        "total_amount": money(i.total_amount),
        "amount_paid": money(i.amount_paid),
        "balance": money(i.balance),
        "reminders_sent": i.reminders_sent,
    } for i in overdue]


REPORTS = (
    Report("pipeline", "Pipeline", "sales",
           "Open opportunities by status reason: count, estimated value and weighted value (probability × value); "
           "param owner.",
           cols(("status", "Status"), ("opportunities", "Opportunities", "int"), ("total_value", "Value", "money"),
                ("weighted_value", "Weighted", "money"), ("without_probability", "No probability", "int")),
           pipeline, params=OWNER),
    Report("win-rate", "Win rate", "sales",
           "Won / (won + lost) of the opportunities closed in the window, overall (param owner: one owner's).",
           cols(("scope", "Scope"), ("won", "Won", "int"), ("lost", "Lost", "int"),
                ("win_rate_percent", "Win rate %", "percent"), ("won_revenue", "Won revenue", "money"),
                ("lost_value", "Lost value", "money")),
           win_rate, params=WINDOW + OWNER),
    Report("win-rate-by-owner", "Win rate per owner", "sales",
           "Won / (won + lost) of each owner's opportunities closed in the window (those without owner last).",
           cols(("owner", "Owner"), ("won", "Won", "int"), ("lost", "Lost", "int"),
                ("win_rate_percent", "Win rate %", "percent"), ("won_revenue", "Won revenue", "money"),
                ("lost_value", "Lost value", "money")),
           win_rate_by_owner, params=WINDOW),
    Report("quota-attainment", "Quota attainment", "sales",
           "Per owner and quota period: target, revenue won in the period and % attained; team rows sum their "
           "members. Quotas whose period overlaps the window (default: the periods holding today); param team.",
           cols(("level", "Level"), ("owner", "Owner"), ("team", "Team"), ("period", "Period"),
                ("period_start", "From", "date"), ("period_end", "To", "date"), ("target", "Target", "money"),
                ("won", "Won", "money"), ("won_opportunities", "Won opps", "int"),
                ("attainment_percent", "Attained %", "percent")),
           quota_attainment, params=WINDOW + ("team",)),
    Report("cycle-time", "Sales cycle time", "sales",
           "Days from lead created to opportunity won, for opportunities won in the window (param owner).",
           cols(("scope", "Scope"), ("won", "Won", "int"), ("average_days", "Avg days", "number"),
                ("min_days", "Min days", "number"), ("max_days", "Max days", "number")),
           cycle_time, params=WINDOW + OWNER),
    Report("forecast", "Forecast", "sales",
           "Open opportunities by quarter of expected close: Σ value and Σ probability × value, "
           "this quarter and the next (param quarters, default 4; param owner).",
           cols(("period", "Quarter"), ("start", "From", "date"), ("end", "Before", "date"),
                ("opportunities", "Opportunities", "int"), ("total_value", "Value", "money"),
                ("weighted_value", "Weighted", "money")),
           forecast, params=("quarters", *OWNER)),
    Report("quotes-outstanding", "Quotes outstanding", "sales",
           "Active quotes (sent, not yet won or closed), oldest first.",
           cols(("number", "Quote"), ("revision", "Rev", "int"), ("name", "Name"), ("account", "Account"),
                ("opportunity_id", "Opportunity", "int"), ("status", "Status"), ("total_amount", "Total", "money"),
                ("created", "Created", "date"), ("age_days", "Age days", "int"), ("effective_to", "Valid to", "date"),
                ("expired", "Expired")),
           quotes_outstanding),
    Report("orders-outstanding", "Orders not invoiced", "sales",
           "Orders that are neither invoiced nor canceled, oldest first.",
           cols(("number", "Order"), ("name", "Name"), ("account", "Account"), ("state", "State"),
                ("status", "Status"), ("total_amount", "Total", "money"), ("created", "Created", "date"),
                ("age_days", "Age days", "int")),
           orders_outstanding),
    Report("invoices-overdue", "Invoices overdue", "sales",
           "Invoices past their due date with a balance left, most overdue first.",
           cols(("number", "Invoice"), ("name", "Name"), ("account", "Account"), ("due_date", "Due", "date"),
                ("days_overdue", "Days overdue", "int"), ("total_amount", "Total", "money"),
                ("amount_paid", "Paid", "money"), ("balance", "Balance", "money"),
                ("reminders_sent", "Reminders", "int")),
           invoices_overdue),
)
