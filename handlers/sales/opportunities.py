"""Sales opportunities: the rep's forecast (probability, value, close date), hold, and
closing as Won or Lost with the close activity.

Split from the sales module; `win_probability` and `parse_date` are also the rules a lead's
qualification and a quote apply to the opportunity's forecast.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import ServiceContext

from .. import lifecycle as lc
from ..errors import DomainError
from ..models import Competitor, Opportunity, OpportunityClose, Quote
from ..pricing import ZERO
from ..support import choose, fetch, money, operation, to_decimal


def win_probability(value: Any) -> int | None:
    """A win probability in whole percent, 0–100, or None when the rep gave none."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise DomainError(f"win probability must be a whole percentage from 0 to 100, not {value!r}")
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        raise DomainError(f"win probability must be a whole percentage from 0 to 100, not {value!r}") from None
    if number != number.to_integral_value() or not 0 <= number <= 100:
        raise DomainError(f"win probability must be a whole percentage from 0 to 100, not {value!r}")
    return int(number)


@operation("sales/update_forecast")
def update_forecast(
    ctx: ServiceContext,
    opportunity_id: int,
    probability: int | None = None,
    estimated_value: str | None = None,
    estimated_close_date: str | None = None,
) -> dict[str, Any]:
    """The rep's forecast on an open opportunity: what is given replaces what was there."""
    opp = fetch(ctx.session, Opportunity, opportunity_id)
    lc.OPPORTUNITY.require(opp, ["Open"], "re-forecast")
    if probability is not None:
        opp.probability = win_probability(probability)
    if estimated_value is not None:
        opp.estimated_value = to_decimal(estimated_value, "estimated_value", minimum=ZERO)
    if estimated_close_date is not None:
        opp.estimated_close_date = parse_date(estimated_close_date, "close date")
    ctx.session.flush()
    return {
        "opportunity_id": opp.id,
        "probability": opp.probability,
        "estimated_value": money(opp.estimated_value) if opp.estimated_value is not None else None,
        "estimated_close_date": opp.estimated_close_date.isoformat() if opp.estimated_close_date else None,
    }


def parse_date(value: Any, field: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise DomainError(f"{field} must be an ISO date (YYYY-MM-DD), not {value!r}") from None


@operation("sales/set_opportunity_hold")
def set_opportunity_hold(ctx: ServiceContext, opportunity_id: int, on_hold: bool) -> dict[str, Any]:
    """Put an open opportunity on hold, or back in progress."""
    opp = fetch(ctx.session, Opportunity, opportunity_id)
    lc.OPPORTUNITY.require(opp, ["Open"], "put on hold" if on_hold else "resumed")
    lc.OPPORTUNITY.move(opp, "Open", "On Hold" if on_hold else "In Progress", ctx.now)
    ctx.session.flush()
    return {"opportunity_id": opp.id, "state": opp.state, "status": opp.status}


@operation("sales/close_opportunity")
def close_opportunity(
    ctx: ServiceContext,
    opportunity_id: int,
    won: bool,
    status_reason: str | None = None,
    actual_revenue: str | None = None,
    competitor_id: int | None = None,
    description: str | None = None,
) -> dict[str, Any]:
    """Close as Won or Lost (Canceled / Out-Sold), recording the close activity.

    Won revenue defaults to the won quote's total, else the estimated value. Losing also
    closes the opportunity's open quotes (a Draft as Canceled, an Active one as Lost).
    """
    opp = fetch(ctx.session, Opportunity, opportunity_id)
    lc.OPPORTUNITY.require(opp, ["Open"], "closed")
    if won:
        state, status = "Won", "Won"
        revenue = (
            to_decimal(actual_revenue, "actual_revenue", minimum=ZERO)
            if actual_revenue is not None
            else _won_quote_total(ctx.session, opp) or opp.estimated_value
        )
    else:
        state, status = "Lost", choose(status_reason or "Canceled", lc.OPPORTUNITY_LOST_REASONS, "lost reason")
        revenue = ZERO
    if competitor_id is not None:
        fetch(ctx.session, Competitor, competitor_id)
    lc.OPPORTUNITY.move(opp, state, status, ctx.now)
    opp.actual_value = revenue
    opp.actual_close_date = ctx.now.date()
    close = OpportunityClose(
        opportunity_id=opp.id,
        outcome=state,
        status=status,
        actual_revenue=revenue,
        competitor_id=competitor_id,
        description=description,
        closed_at=ctx.now,
    )
    ctx.session.add(close)
    if not won:
        for quote in ctx.session.scalars(
            select(Quote).where(Quote.opportunity_id == opp.id, Quote.state.in_(("Draft", "Active")))
        ):
            lc.QUOTE.move(quote, "Closed", "Canceled" if quote.state == "Draft" else "Lost", ctx.now)
            quote.closed_at = ctx.now
    ctx.session.flush()
    return {
        "opportunity_id": opp.id,
        "state": opp.state,
        "status": opp.status,
        "actual_revenue": money(revenue),
        "close_id": close.id,
    }


def _won_quote_total(session: Session, opp: Opportunity) -> Decimal | None:
    quote = session.scalars(
        select(Quote).where(Quote.opportunity_id == opp.id, Quote.state == "Won").order_by(Quote.id.desc())
    ).first()
    return quote.total_amount if quote else None

