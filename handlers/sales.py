"""Sales handlers: lead → opportunity → quote → order → invoice → payment.

Each function is a service-task operation (`sales/...`), takes a `ServiceContext` and
plain parameters, works through `ctx.session`, and returns a small JSON-able dict.
`BpmnError` codes a diagram can catch: `lead_closed` (the lead was qualified or
disqualified meanwhile), `quote_expired` (activating a quote after its validity).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import BpmnError, ServiceContext

from . import lifecycle as lc
from .activities import new_activity
from .customers import customer_address
from .errors import DomainError
from .models import (
    Account,
    Competitor,
    Contact,
    Invoice,
    InvoiceLine,
    Lead,
    Opportunity,
    OpportunityClose,
    OrderLine,
    Payment,
    PriceList,
    PriceListItem,
    Product,
    Quote,
    QuoteLine,
    SalesOrder,
)
from .pricing import ZERO, copy_line, price_line, sum_lines
from .support import cents, choose, fetch, money, next_number, normalize_email, operation, to_decimal

PERCENT_MIN, PERCENT_MAX = Decimal("0"), Decimal("100")


# -- leads ------------------------------------------------------------------------------
def lead_view(lead: Lead, duplicate: bool = False) -> dict[str, Any]:
    return {
        "lead_id": lead.id,
        "email": lead.email,
        "state": lead.state,
        "status": lead.status,
        "duplicate": duplicate,
        "source_campaign_id": lead.source_campaign_id,
    }


def find_open_lead(session: Session, email_normalized: str) -> Lead | None:
    return session.scalars(
        select(Lead).where(Lead.email_normalized == email_normalized, Lead.state == "Open").order_by(Lead.id)
    ).first()


@operation("sales/capture_lead")
def capture_lead(
    ctx: ServiceContext,
    email: str,
    last_name: str | None = None,
    first_name: str | None = None,
    company_name: str | None = None,
    topic: str | None = None,
    phone: str | None = None,
    lead_source: str | None = None,
    region: str | None = None,
    source_campaign_id: int | None = None,
) -> dict[str, Any]:
    """Record an inquiry as a lead, or return the open lead that already has this email.

    Deduplication is case-insensitive and only against open leads: someone disqualified
    last year who asks again is a new lead.
    """
    normalized = normalize_email(email)
    existing = find_open_lead(ctx.session, normalized)
    if existing is not None:
        # fill what the first inquiry did not say; never overwrite what it did
        for field, value in (
            ("first_name", first_name),
            ("last_name", last_name),
            ("company_name", company_name),
            ("topic", topic),
            ("phone", phone),
            ("region", region),
            ("source_campaign_id", source_campaign_id),
        ):
            if value is not None and getattr(existing, field) is None:
                setattr(existing, field, value)
        ctx.session.flush()
        return lead_view(existing, duplicate=True)
    if source_campaign_id is not None:
        from .models import Campaign

        fetch(ctx.session, Campaign, source_campaign_id)
    lead = Lead(
        email=email.strip(),
        email_normalized=normalized,
        first_name=first_name,
        last_name=last_name,
        company_name=company_name,
        topic=topic,
        phone=phone,
        lead_source=lead_source,
        region=region,
        source_campaign_id=source_campaign_id,
    )
    lc.LEAD.start(lead, ctx.now)
    ctx.session.add(lead)
    ctx.session.flush()
    return lead_view(lead)


def _open_lead(ctx: ServiceContext, lead_id: int, action: str) -> Lead:
    lead = fetch(ctx.session, Lead, lead_id)
    if lead.state != "Open":
        raise BpmnError(
            "lead_closed", f"lead {lead.label} is {lead.state} ({lead.status}); only an Open lead can be {action}"
        )
    return lead


@operation("sales/record_lead_score")
def record_lead_score(ctx: ServiceContext, lead_id: int, score: int, rating: str | None = None) -> dict[str, Any]:
    """Store the score (and Hot/Warm/Cold rating) a scoring decision table produced."""
    lead = _open_lead(ctx, lead_id, "scored")
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100:
        raise DomainError(f"lead score must be an integer from 0 to 100, not {score!r}")
    if rating is not None:
        choose(rating, ("Hot", "Warm", "Cold"), "rating")
    lead.score, lead.rating = score, rating
    ctx.session.flush()
    return {"lead_id": lead.id, "score": score, "rating": rating}


@operation("sales/mark_lead_contacted")
def mark_lead_contacted(ctx: ServiceContext, lead_id: int) -> dict[str, Any]:
    lead = _open_lead(ctx, lead_id, "contacted")
    lc.LEAD.move(lead, "Open", "Contacted", ctx.now)
    ctx.session.flush()
    return lead_view(lead)


def _find_contact(session: Session, email_normalized: str) -> Contact | None:
    return session.scalars(
        select(Contact).where(Contact.email_normalized == email_normalized).order_by(Contact.id)
    ).first()


@operation("sales/qualify_lead")
def qualify_lead(
    ctx: ServiceContext,
    lead_id: int,
    create_account: bool = True,
    create_contact: bool = True,
    opportunity_name: str | None = None,
    estimated_value: str | None = None,
    estimated_close_date: str | None = None,
    price_list_id: int | None = None,
    owner: str | None = None,
    probability: int | None = None,
) -> dict[str, Any]:
    """Qualify: account (if the lead names a company) and/or contact, plus an opportunity.

    `estimated_value`, `estimated_close_date` and `probability` (0–100 %) are the rep's
    forecast: the pipeline and forecast reports weight the value by the probability.

    An existing contact with the lead's email is reused rather than duplicated. The
    opportunity keeps the lead's source campaign, so won revenue counts for the campaign.
    Its owner (whose win rate and quota it counts for) is `owner` if given, else the user
    who set this step going (who completed the qualify task), else nobody.
    """
    lead = _open_lead(ctx, lead_id, "qualified")
    owner_name = _owner(owner) or ctx.user
    account = contact = None
    if create_account and lead.company_name:
        account = Account(name=lead.company_name, email=lead.email, phone=lead.phone, region=lead.region)
        account.originating_lead_id = lead.id
        lc.ACCOUNT.start(account, ctx.now)
        ctx.session.add(account)
        ctx.session.flush()
    if create_contact:
        contact = _find_contact(ctx.session, lead.email_normalized)
        if contact is None:
            contact = Contact(
                first_name=lead.first_name,
                last_name=lead.last_name or lead.email.split("@")[0],
                email=lead.email,
                email_normalized=lead.email_normalized,
                phone=lead.phone,
                region=lead.region,
                originating_lead_id=lead.id,
            )
            lc.CONTACT.start(contact, ctx.now)
            ctx.session.add(contact)
        if account is not None and contact.account_id is None:
            contact.account_id = account.id
        ctx.session.flush()
    if account is None and contact is None:
        raise DomainError(f"qualifying lead {lead.label} must create an account or a contact for the opportunity")
    if price_list_id is not None:
        _active_price_list(ctx.session, price_list_id)
    opportunity = Opportunity(
        name=opportunity_name or lead.topic or f"Opportunity for {lead.company_name or lead.email}",
        account_id=account.id if account else None,
        contact_id=contact.id if contact else None,
        originating_lead_id=lead.id,
        source_campaign_id=lead.source_campaign_id,
        price_list_id=price_list_id,
        estimated_value=None
        if estimated_value is None
        else to_decimal(estimated_value, "estimated_value", minimum=ZERO),
        estimated_close_date=None if estimated_close_date is None else _parse_date(estimated_close_date, "close date"),
        probability=_probability(probability),
        owner=owner_name,
    )
    lc.OPPORTUNITY.start(opportunity, ctx.now)
    ctx.session.add(opportunity)
    ctx.session.flush()
    lc.LEAD.move(lead, "Qualified", "Qualified", ctx.now)
    lead.account_id = opportunity.account_id
    lead.contact_id = opportunity.contact_id
    lead.qualified_opportunity_id = opportunity.id
    lead.closed_at = ctx.now
    ctx.session.flush()
    return {
        "lead_id": lead.id,
        "account_id": opportunity.account_id,
        "contact_id": opportunity.contact_id,
        "opportunity_id": opportunity.id,
        "source_campaign_id": opportunity.source_campaign_id,
        "owner": opportunity.owner,
    }


OWNER_LENGTH = 150


def _probability(value: Any) -> int | None:
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
        opp.probability = _probability(probability)
    if estimated_value is not None:
        opp.estimated_value = to_decimal(estimated_value, "estimated_value", minimum=ZERO)
    if estimated_close_date is not None:
        opp.estimated_close_date = _parse_date(estimated_close_date, "close date")
    ctx.session.flush()
    return {
        "opportunity_id": opp.id,
        "probability": opp.probability,
        "estimated_value": money(opp.estimated_value) if opp.estimated_value is not None else None,
        "estimated_close_date": opp.estimated_close_date.isoformat() if opp.estimated_close_date else None,
    }


def _owner(value: Any) -> str | None:
    """An explicit opportunity owner: a user name, or None (blank) to fall back on who acts."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise DomainError(f"opportunity owner must be a user name (text), not {value!r}")
    if len(value.strip()) > OWNER_LENGTH:
        raise DomainError(f"opportunity owner {value.strip()[:40]!r}… is longer than {OWNER_LENGTH} characters")
    return value.strip()


@operation("sales/disqualify_lead")
def disqualify_lead(ctx: ServiceContext, lead_id: int, reason: str) -> dict[str, Any]:
    """Disqualify with a reason: Lost, Cannot Contact, No Longer Interested or Canceled."""
    choose(reason, lc.LEAD_DISQUALIFY_REASONS, "disqualify reason")
    lead = _open_lead(ctx, lead_id, "disqualified")
    lc.LEAD.move(lead, "Disqualified", reason, ctx.now)
    lead.closed_at = ctx.now
    ctx.session.flush()
    return lead_view(lead)


# -- opportunities ---------------------------------------------------------------------
def _parse_date(value: Any, field: str) -> date:
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


# -- quotes ----------------------------------------------------------------------------
def _active_price_list(session: Session, price_list_id: int) -> PriceList:
    price_list = fetch(session, PriceList, price_list_id)
    lc.PRICE_LIST.require(price_list, ["Active"], "used for pricing")
    return price_list


def _price_of(session: Session, price_list: PriceList, product: Product) -> Decimal:
    item = session.scalars(
        select(PriceListItem).where(
            PriceListItem.price_list_id == price_list.id, PriceListItem.product_id == product.id
        )
    ).first()
    if item is None:
        raise DomainError(f"product {product.number} has no price on price list {price_list.name!r}")
    return item.amount


def _product(session: Session, spec: dict[str, Any]) -> Product:
    if "product_id" in spec:
        product = fetch(session, Product, spec["product_id"])
    elif "product_number" in spec:
        product = session.scalars(select(Product).where(Product.number == spec["product_number"])).first()
        if product is None:
            raise DomainError(f"product {spec['product_number']} does not exist")
    else:
        raise DomainError(f"a quote line needs product_id or product_number: {spec!r}")
    lc.PRODUCT.require(product, ["Active"], "quoted")
    return product


def _build_lines(
    session: Session, price_list: PriceList, specs: Any, discount_percent: Decimal, tax_rate: Decimal
) -> list[QuoteLine]:
    if not isinstance(specs, list) or not specs:
        raise DomainError("a quote needs at least one line: [{'product_id': ..., 'quantity': ...}]")
    lines = []
    for number, spec in enumerate(specs, start=1):
        if not isinstance(spec, dict):
            raise DomainError(f"quote line {number} must be an object, not {spec!r}")
        product = _product(session, spec)
        quantity = to_decimal(spec.get("quantity", 1), f"line {number} quantity", minimum=Decimal("0.001"))
        discount = (
            to_decimal(spec["discount_percent"], f"line {number} discount", minimum=PERCENT_MIN, maximum=PERCENT_MAX)
            if spec.get("discount_percent") is not None
            else discount_percent
        )
        unit_price = _price_of(session, price_list, product)
        figures = price_line(unit_price, quantity, discount, tax_rate)
        lines.append(
            QuoteLine(
                line_number=number,
                product_id=product.id,
                description=product.name,
                quantity=quantity,
                unit_price=unit_price,
                discount_percent=discount,
                tax_rate=tax_rate,
                **figures.__dict__,
            )
        )
    return lines


def quote_view(quote: Quote) -> dict[str, Any]:
    return {
        "quote_id": quote.id,
        "number": quote.number,
        "revision": quote.revision,
        "state": quote.state,
        "status": quote.status,
        "subtotal": money(quote.subtotal),
        "discount_amount": money(quote.discount_amount),
        "net_amount": money(quote.net_amount),
        "tax_amount": money(quote.tax_amount),
        "total_amount": money(quote.total_amount),
        "max_discount_percent": str(max((line.discount_percent for line in quote.lines), default=ZERO)),
        "line_count": len(quote.lines),
    }


@operation("sales/build_quote")
def build_quote(
    ctx: ServiceContext,
    opportunity_id: int,
    lines: list[dict[str, Any]],
    price_list_id: int | None = None,
    discount_percent: str = "0",
    tax_rate: str = "0",
    name: str | None = None,
    valid_days: int = 30,
    probability: int | None = None,
) -> dict[str, Any]:
    """A Draft quote for an open opportunity, priced from the price list.

    `lines` items: `{"product_id"|"product_number", "quantity", "discount_percent"?}`;
    a line without its own discount gets the quote's `discount_percent`. `probability`,
    when given, is the rep's new win probability now that a quote goes out.
    """
    opp = fetch(ctx.session, Opportunity, opportunity_id)
    lc.OPPORTUNITY.require(opp, ["Open"], "quoted")
    if probability is not None:
        opp.probability = _probability(probability)
    list_id = price_list_id if price_list_id is not None else opp.price_list_id
    if list_id is None:
        raise DomainError(f"opportunity {opp.id} has no price list; pass price_list_id")
    price_list = _active_price_list(ctx.session, list_id)
    discount = to_decimal(discount_percent, "discount_percent", minimum=PERCENT_MIN, maximum=PERCENT_MAX)
    tax = to_decimal(tax_rate, "tax_rate", minimum=PERCENT_MIN, maximum=PERCENT_MAX)
    quote = Quote(
        number=next_number(ctx.session, "quote", "Q"),
        revision=0,
        name=name or opp.name,
        opportunity_id=opp.id,
        account_id=opp.account_id,
        contact_id=opp.contact_id,
        price_list_id=price_list.id,
        currency=price_list.currency,
        discount_percent=discount,
        tax_rate=tax,
        effective_to=ctx.now.date() + timedelta(days=int(valid_days)),
    )
    quote.lines = _build_lines(ctx.session, price_list, lines, discount, tax)
    sum_lines(quote, quote.lines)
    lc.QUOTE.start(quote, ctx.now)
    ctx.session.add(quote)
    if opp.price_list_id is None:
        opp.price_list_id = price_list.id
    ctx.session.flush()
    return quote_view(quote)


@operation("sales/activate_quote")
def activate_quote(ctx: ServiceContext, quote_id: int) -> dict[str, Any]:
    """Draft → Active (Open): the quote can now be sent to the customer."""
    quote = fetch(ctx.session, Quote, quote_id)
    lc.QUOTE.require(quote, ["Draft"], "activated")
    if quote.effective_to is not None and quote.effective_to < ctx.now.date():
        raise BpmnError("quote_expired", f"quote {quote.label} expired on {quote.effective_to.isoformat()}")
    lc.QUOTE.move(quote, "Active", "Open", ctx.now)
    ctx.session.flush()
    return quote_view(quote)


@operation("sales/revise_quote")
def revise_quote(
    ctx: ServiceContext,
    quote_id: int,
    lines: list[dict[str, Any]] | None = None,
    discount_percent: str | None = None,
    tax_rate: str | None = None,
    valid_days: int = 30,
) -> dict[str, Any]:
    """Close an Active quote as Revised and open revision + 1 as a Draft.

    Without new `lines` the revision copies the old lines; a new `discount_percent` or
    `tax_rate` reprices them (e.g. after a discount was refused).
    """
    old = fetch(ctx.session, Quote, quote_id)
    lc.QUOTE.require(old, ["Active"], "revised")
    discount = (
        old.discount_percent
        if discount_percent is None
        else to_decimal(discount_percent, "discount_percent", minimum=PERCENT_MIN, maximum=PERCENT_MAX)
    )
    tax = (
        old.tax_rate if tax_rate is None else to_decimal(tax_rate, "tax_rate", minimum=PERCENT_MIN, maximum=PERCENT_MAX)
    )
    lc.QUOTE.move(old, "Closed", "Revised", ctx.now)
    old.closed_at = ctx.now
    new = Quote(
        number=old.number,
        revision=old.revision + 1,
        name=old.name,
        opportunity_id=old.opportunity_id,
        account_id=old.account_id,
        contact_id=old.contact_id,
        price_list_id=old.price_list_id,
        currency=old.currency,
        previous_revision_id=old.id,
        discount_percent=discount,
        tax_rate=tax,
        effective_to=ctx.now.date() + timedelta(days=int(valid_days)),
    )
    if lines is None and discount_percent is None and tax_rate is None:
        new.lines = [copy_line(line, QuoteLine) for line in old.lines]
    else:
        specs = (
            lines
            if lines is not None
            else [{"product_id": line.product_id, "quantity": str(line.quantity)} for line in old.lines]
        )
        price_list = fetch(ctx.session, PriceList, old.price_list_id)
        new.lines = _build_lines(ctx.session, price_list, specs, discount, tax)
    sum_lines(new, new.lines)
    lc.QUOTE.start(new, ctx.now)
    ctx.session.add(new)
    ctx.session.flush()
    view = quote_view(new)
    view["previous_quote_id"] = old.id
    return view


@operation("sales/win_quote")
def win_quote(ctx: ServiceContext, quote_id: int) -> dict[str, Any]:
    """The customer accepted: Active → Won."""
    quote = fetch(ctx.session, Quote, quote_id)
    lc.QUOTE.require(quote, ["Active"], "won")
    lc.QUOTE.move(quote, "Won", "Won", ctx.now)
    quote.closed_at = ctx.now
    ctx.session.flush()
    return quote_view(quote)


@operation("sales/close_quote")
def close_quote(ctx: ServiceContext, quote_id: int, reason: str = "Lost") -> dict[str, Any]:
    """Close without winning: an Active quote as Lost or Canceled, a Draft only as Canceled."""
    quote = fetch(ctx.session, Quote, quote_id)
    choose(reason, ("Lost", "Canceled"), "quote close reason")
    lc.QUOTE.require(quote, ["Draft", "Active"], "closed")
    if quote.state == "Draft" and reason == "Lost":
        raise DomainError(f"quote {quote.label} is Draft; a quote never sent cannot be Lost, only Canceled")
    lc.QUOTE.move(quote, "Closed", reason, ctx.now)
    quote.closed_at = ctx.now
    ctx.session.flush()
    return quote_view(quote)


# -- orders ----------------------------------------------------------------------------
def order_view(order: SalesOrder) -> dict[str, Any]:
    return {
        "order_id": order.id,
        "number": order.number,
        "state": order.state,
        "status": order.status,
        "total_amount": money(order.total_amount),
    }


@operation("sales/convert_quote_to_order")
def convert_quote_to_order(ctx: ServiceContext, quote_id: int) -> dict[str, Any]:
    """A won quote becomes an order with the same lines and totals."""
    quote = fetch(ctx.session, Quote, quote_id)
    lc.QUOTE.require(quote, ["Won"], "converted to an order")
    existing = ctx.session.scalars(select(SalesOrder).where(SalesOrder.quote_id == quote.id)).first()
    if existing is not None:
        raise DomainError(f"quote {quote.label} was already converted to order {existing.number}")
    order = SalesOrder(
        number=next_number(ctx.session, "order", "ORD"),
        name=quote.name,
        quote_id=quote.id,
        opportunity_id=quote.opportunity_id,
        account_id=quote.account_id,
        contact_id=quote.contact_id,
        price_list_id=quote.price_list_id,
        currency=quote.currency,
    )
    order.lines = [copy_line(line, OrderLine) for line in quote.lines]
    sum_lines(order, order.lines)
    lc.ORDER.start(order, ctx.now)
    ctx.session.add(order)
    ctx.session.flush()
    return order_view(order)


@operation("sales/submit_order")
def submit_order(ctx: ServiceContext, order_id: int) -> dict[str, Any]:
    order = fetch(ctx.session, SalesOrder, order_id)
    lc.ORDER.require(order, ["Active"], "submitted")
    lc.ORDER.move(order, "Submitted", "In Progress", ctx.now)
    ctx.session.flush()
    return order_view(order)


@operation("sales/fulfil_order")
def fulfil_order(ctx: ServiceContext, order_id: int, partial: bool = False) -> dict[str, Any]:
    """Mark delivered (Complete) or partly delivered (Partial; can complete later)."""
    order = fetch(ctx.session, SalesOrder, order_id)
    if order.state == "Fulfilled" and order.status == "Partial" and not partial:
        lc.ORDER.move(order, "Fulfilled", "Complete", ctx.now)
    else:
        lc.ORDER.require(order, ["Active", "Submitted"], "fulfilled")
        lc.ORDER.move(order, "Fulfilled", "Partial" if partial else "Complete", ctx.now)
    order.fulfilled_at = ctx.now
    ctx.session.flush()
    return order_view(order)


@operation("sales/cancel_order")
def cancel_order(ctx: ServiceContext, order_id: int, reason: str = "Canceled") -> dict[str, Any]:
    order = fetch(ctx.session, SalesOrder, order_id)
    choose(reason, lc.ORDER.statuses["Canceled"], "order cancel reason")
    lc.ORDER.require(order, ["Active", "Submitted"], "canceled")
    lc.ORDER.move(order, "Canceled", reason, ctx.now)
    ctx.session.flush()
    return order_view(order)


# -- invoices and payments -------------------------------------------------------------
def invoice_view(invoice: Invoice) -> dict[str, Any]:
    return {
        "invoice_id": invoice.id,
        "number": invoice.number,
        "state": invoice.state,
        "status": invoice.status,
        "total_amount": money(invoice.total_amount),
        "amount_paid": money(invoice.amount_paid),
        "balance": money(invoice.balance),
        "due_date": invoice.due_date.isoformat(),
    }


@operation("sales/create_invoice")
def create_invoice(ctx: ServiceContext, order_id: int, payment_terms_days: int = 30) -> dict[str, Any]:
    """Invoice a fulfilled order (lines and totals copied); the order becomes Invoiced."""
    if isinstance(payment_terms_days, bool) or not isinstance(payment_terms_days, int) or payment_terms_days < 0:
        raise DomainError(f"payment_terms_days must be a whole number of days ≥ 0, not {payment_terms_days!r}")
    order = fetch(ctx.session, SalesOrder, order_id)
    lc.ORDER.require(order, ["Fulfilled"], "invoiced")
    invoice = Invoice(
        number=next_number(ctx.session, "invoice", "INV"),
        name=order.name,
        order_id=order.id,
        opportunity_id=order.opportunity_id,
        account_id=order.account_id,
        contact_id=order.contact_id,
        price_list_id=order.price_list_id,
        currency=order.currency,
        amount_paid=ZERO,
        due_date=ctx.now.date() + timedelta(days=payment_terms_days),
    )
    invoice.lines = [copy_line(line, InvoiceLine) for line in order.lines]
    sum_lines(invoice, invoice.lines)
    lc.INVOICE.start(invoice, ctx.now)
    ctx.session.add(invoice)
    lc.ORDER.move(order, "Invoiced", "Invoiced", ctx.now)
    ctx.session.flush()
    return invoice_view(invoice)


@operation("sales/record_payment")
def record_payment(
    ctx: ServiceContext,
    invoice_id: int,
    amount: str,
    method: str | None = None,
    reference: str | None = None,
) -> dict[str, Any]:
    """Record a payment: Paid/Partial while a balance remains, Paid/Complete when settled.

    Overpaying is refused (it would need a refund process we do not model).
    """
    invoice = fetch(ctx.session, Invoice, invoice_id)
    paid = cents(to_decimal(amount, "payment amount", minimum=Decimal("0.01")))
    if invoice.state == "Paid" and invoice.status == "Complete" or invoice.state == "Canceled":
        raise DomainError(
            f"invoice {invoice.label} is {invoice.state} ({invoice.status}); only an Active or partly paid "
            "invoice can take a payment"
        )
    if paid > invoice.balance:
        raise DomainError(f"payment {paid} exceeds the balance {money(invoice.balance)} of invoice {invoice.label}")
    payment = Payment(invoice_id=invoice.id, amount=paid, paid_at=ctx.now, method=method, reference=reference)
    ctx.session.add(payment)
    invoice.amount_paid = invoice.amount_paid + paid
    complete = invoice.balance == ZERO
    lc.INVOICE.move(invoice, "Paid", "Complete" if complete else "Partial", ctx.now)
    if complete:
        invoice.paid_at = ctx.now
    ctx.session.flush()
    view = invoice_view(invoice)
    view.update(payment_id=payment.id, paid_in_full=complete)
    return view


@operation("sales/cancel_invoice")
def cancel_invoice(ctx: ServiceContext, invoice_id: int) -> dict[str, Any]:
    invoice = fetch(ctx.session, Invoice, invoice_id)
    lc.INVOICE.require(invoice, ["Active"], "canceled")
    lc.INVOICE.move(invoice, "Canceled", "Canceled", ctx.now)
    ctx.session.flush()
    return invoice_view(invoice)


def is_overdue(invoice: Invoice, today: date) -> bool:
    """Unpaid (fully or partly) and past its due date."""
    open_balance = invoice.state == "Active" or (invoice.state == "Paid" and invoice.status == "Partial")
    return open_balance and invoice.balance > ZERO and invoice.due_date < today


def overdue_invoices(session: Session, today: date) -> list[Invoice]:
    """Every overdue invoice, oldest due first (for a reminder sweep)."""
    candidates = session.scalars(
        select(Invoice)
        .where(Invoice.state.in_(("Active", "Paid")), Invoice.due_date < today)
        .order_by(Invoice.due_date, Invoice.id)
    )
    return [invoice for invoice in candidates if is_overdue(invoice, today)]


@operation("sales/check_invoice_overdue")
def check_invoice_overdue(ctx: ServiceContext, invoice_id: int) -> dict[str, Any]:
    """For a reminder loop's gateway: is the invoice overdue, by how many days, what is owed."""
    invoice = fetch(ctx.session, Invoice, invoice_id)
    today = ctx.now.date()
    overdue = is_overdue(invoice, today)
    view = invoice_view(invoice)
    view.update(overdue=overdue, days_overdue=(today - invoice.due_date).days if overdue else 0)
    return view


@operation("sales/send_payment_reminder")
def send_payment_reminder(ctx: ServiceContext, invoice_id: int) -> dict[str, Any]:
    """Email the customer a reminder for an overdue invoice (through the outbox), count it on
    the invoice and log the email on the opportunity (or the account)."""
    invoice = fetch(ctx.session, Invoice, invoice_id)
    today = ctx.now.date()
    if not is_overdue(invoice, today):
        raise DomainError(
            f"invoice {invoice.number} is not overdue (state {invoice.state}/{invoice.status}, "
            f"balance {money(invoice.balance)}, due {invoice.due_date.isoformat()}); no reminder sent"
        )
    to, name = customer_address(ctx.session, invoice.contact_id, invoice.account_id,
                                f"invoice {invoice.number} has no contact or account email to send a reminder to")
    days = (today - invoice.due_date).days
    subject = f"Payment reminder: invoice {invoice.number}"
    body = (
        f"Hello {name},\n\nour invoice {invoice.number} of {money(invoice.total_amount)} was due on "
        f"{invoice.due_date.isoformat()} ({days} day(s) ago); {money(invoice.balance)} is still open.\n"
        "Please pay at your earliest convenience, or reply if something is wrong with it.\n\n"
        "Thank you,\nAccounts Receivable\n"
    )
    key = ctx.send("email", {"to": to, "subject": subject, "body": body})
    invoice.reminders_sent = (invoice.reminders_sent or 0) + 1
    invoice.last_reminder_at = ctx.now
    regarding: tuple[str | None, int | None] = (
        ("opportunity", invoice.opportunity_id) if invoice.opportunity_id
        else ("account", invoice.account_id) if invoice.account_id else (None, None)
    )
    activity = new_activity(ctx, "email", subject, regarding[0], regarding[1], body, "outgoing",
                            details={"to": to, "outbox_key": key, "invoice_id": invoice.id})
    lc.ACTIVITY.move(activity, "Completed", "Sent", ctx.now)
    activity.completed_at = ctx.now
    ctx.session.flush()
    view = invoice_view(invoice)
    view.update(reminders_sent=invoice.reminders_sent, days_overdue=days, to=to, outbox_key=key,
                activity_id=activity.id)
    return view
