"""Sales figures: pipeline, win rate, cycle time, forecast and what is outstanding.

Opportunities have no sales stage or owner field: the pipeline groups by status reason
(In Progress / On Hold) and the win rate is overall. A probability left empty weighs 0.
Won and lost times are the opportunity's `state_changed_at` (Won and Lost are final).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import lifecycle as lc
from ..models import Account, Invoice, Lead, Opportunity, Quote, SalesOrder
from ..sales import is_overdue
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


def _status_order(status: str) -> tuple[int, str]:
    known = lc.OPPORTUNITY.statuses["Open"]
    return (known.index(status) if status in known else len(known), status)


# -- pipeline -----------------------------------------------------------------------------------
def pipeline(session: Session, now: datetime, params: Params) -> list[Row]:
    groups: dict[str, list[Opportunity]] = defaultdict(list)
    for opp in session.scalars(select(Opportunity).where(Opportunity.state == "Open")):
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
    return [o for o in opps if within(o.state_changed_at, since, until)]


def win_rate(session: Session, now: datetime, params: Params) -> list[Row]:
    closed = _closed(session, params)
    if not closed:
        return []
    won = [o for o in closed if o.state == "Won"]
    lost = [o for o in closed if o.state == "Lost"]
    return [{
        "scope": "All",
        "won": len(won),
        "lost": len(lost),
        "win_rate_percent": percent(len(won), len(won) + len(lost)),
        "won_revenue": money(sum((o.actual_value or ZERO for o in won), ZERO)),
        "lost_value": money(sum((o.estimated_value or ZERO for o in lost), ZERO)),
    }]


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
    opps = list(session.scalars(select(Opportunity).where(Opportunity.state == "Open")))
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
           "Open opportunities by status reason: count, estimated value and weighted value (probability × value).",
           cols(("status", "Status"), ("opportunities", "Opportunities", "int"), ("total_value", "Value", "money"),
                ("weighted_value", "Weighted", "money"), ("without_probability", "No probability", "int")),
           pipeline),
    Report("win-rate", "Win rate", "sales",
           "Won / (won + lost) of the opportunities closed in the window (no owner field exists: overall only).",
           cols(("scope", "Scope"), ("won", "Won", "int"), ("lost", "Lost", "int"),
                ("win_rate_percent", "Win rate %", "percent"), ("won_revenue", "Won revenue", "money"),
                ("lost_value", "Lost value", "money")),
           win_rate, params=WINDOW),
    Report("cycle-time", "Sales cycle time", "sales",
           "Days from lead created to opportunity won, for opportunities won in the window.",
           cols(("scope", "Scope"), ("won", "Won", "int"), ("average_days", "Avg days", "number"),
                ("min_days", "Min days", "number"), ("max_days", "Max days", "number")),
           cycle_time, params=WINDOW),
    Report("forecast", "Forecast", "sales",
           "Open opportunities by quarter of expected close: Σ value and Σ probability × value, "
           "this quarter and the next (param quarters, default 4).",
           cols(("period", "Quarter"), ("start", "From", "date"), ("end", "Before", "date"),
                ("opportunities", "Opportunities", "int"), ("total_value", "Value", "money"),
                ("weighted_value", "Weighted", "money")),
           forecast, params=("quarters",)),
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
