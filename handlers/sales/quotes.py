"""Sales quotes: a Draft priced from the price list, activated, revised (revision + 1),
won or closed.

Split from the sales module. `BpmnError("quote_expired")`: activating a quote after its
validity.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from engine.services import BpmnError, ServiceContext

from .. import lifecycle as lc
from ..errors import DomainError
from ..models import Opportunity, PriceList, PriceListItem, Product, Quote, QuoteLine
from ..pricing import ZERO, copy_line, price_line, sum_lines
from ..support import choose, fetch, money, next_number, operation, to_decimal
from .opportunities import win_probability

PERCENT_MIN, PERCENT_MAX = Decimal("0"), Decimal("100")


def carried_header(document: Any) -> dict[str, Any]:
    """What a sales document carries to the one that follows it (a quote to its revision, a
    quote to its order, an order to its invoice): its name, customer, opportunity and prices."""
    return {
        "name": document.name,
        "opportunity_id": document.opportunity_id,
        "account_id": document.account_id,
        "contact_id": document.contact_id,
        "price_list_id": document.price_list_id,
        "currency": document.currency,
    }


def active_price_list(session: Session, price_list_id: int) -> PriceList:
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


def _product(
    session: Session, spec: dict[str, Any], priced: dict[Any, tuple[Product, Any]]
) -> tuple[Product, Decimal | None]:
    """The line's Active product, and its price if `priced` already holds it."""
    price = None
    if "product_id" in spec:
        found = priced.get(_as_id(spec["product_id"]))  # type: ignore[arg-type]
        if found is not None:
            product, price = found
        else:
            product = fetch(session, Product, spec["product_id"])
    elif "product_number" in spec:
        number = spec["product_number"]
        found = priced.get(("number", number)) if isinstance(number, str) else None
        if found is not None:
            product, price = found
        else:
            product = session.scalars(select(Product).where(Product.number == spec["product_number"])).first()
        if product is None:
            raise DomainError(f"product {spec['product_number']} does not exist")
    else:
        raise DomainError(f"a quote line needs product_id or product_number: {spec!r}")
    lc.PRODUCT.require(product, ["Active"], "quoted")
    return product, price


# The lines' products (by id or number) with their price on one price list: one query for all lines.
_PRICED_PRODUCTS = (
    select(Product, PriceListItem.amount)
    .outerjoin(
        PriceListItem,
        (PriceListItem.product_id == Product.id) & (PriceListItem.price_list_id == bindparam("price_list_id")),
    )
    .where(
        Product.id.in_(bindparam("ids", expanding=True))
        | Product.number.in_(bindparam("numbers", expanding=True))
    )
)


def _as_id(value: Any) -> int | None:
    """A record id as `fetch` reads it, None where `fetch` would refuse it."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _priced_products(session: Session, price_list: PriceList, specs: list[Any]) -> dict[Any, tuple[Product, Any]]:
    """The products the lines name, by id and by number, each with its price on `price_list`
    (None: no price).

    Only a lookup ahead: each line is still checked in order, and one this misses (a product
    that does not exist) goes the single-line way with its own error."""
    ids, numbers = set(), set()
    for spec in specs:
        if isinstance(spec, dict) and "product_id" in spec:
            ids.add(_as_id(spec["product_id"]))
        elif isinstance(spec, dict) and isinstance(spec.get("product_number"), str):
            numbers.add(spec["product_number"])
    ids.discard(None)
    if not ids and not numbers:
        return {}
    rows = session.execute(
        _PRICED_PRODUCTS, {"price_list_id": price_list.id, "ids": sorted(ids), "numbers": sorted(numbers)}
    )
    priced: dict[Any, tuple[Product, Any]] = {}
    for product, amount in rows:
        priced[product.id] = priced[("number", product.number)] = (product, amount)
    return priced


def _build_lines(
    session: Session, price_list: PriceList, specs: Any, discount_percent: Decimal, tax_rate: Decimal
) -> list[QuoteLine]:
    if not isinstance(specs, list) or not specs:
        raise DomainError("a quote needs at least one line: [{'product_id': ..., 'quantity': ...}]")
    priced = _priced_products(session, price_list, specs)
    lines = []
    for number, spec in enumerate(specs, start=1):
        if not isinstance(spec, dict):
            raise DomainError(f"quote line {number} must be an object, not {spec!r}")
        product, unit_price = _product(session, spec, priced)
        quantity = to_decimal(spec.get("quantity", 1), f"line {number} quantity", minimum=Decimal("0.001"))
        discount = (
            to_decimal(spec["discount_percent"], f"line {number} discount", minimum=PERCENT_MIN, maximum=PERCENT_MAX)
            if spec.get("discount_percent") is not None
            else discount_percent
        )
        if unit_price is None:
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
        opp.probability = win_probability(probability)
    list_id = price_list_id if price_list_id is not None else opp.price_list_id
    if list_id is None:
        raise DomainError(f"opportunity {opp.id} has no price list; pass price_list_id")
    price_list = active_price_list(ctx.session, list_id)
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
        **carried_header(old),
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

