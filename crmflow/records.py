"""What the worklists may know of the CRM records, wired here by the composition root.

- `crm_lookups(engine)`: the `x-lookup` sources forms name (`products`, `price_lists`,
  `accounts`), read from the CRM records, for selects and the server-side check.
- `crm_record_reader(engine)`: the record panel beside a task — the lead, opportunity, quote
  (with its lines and totals) and case (with its SLA, entitlement and customer) whose ids an
  instance's variables hold — as `worklists.records.RecordSummary`s.

Worklists never import the CRM; they get these functions from `crmflow.settings.build_worklist`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine import Engine
from worklists.lookups import MAX_OPTIONS, Lookup, Option
from worklists.records import RecordField, RecordReader, RecordSummary, RecordTable

ACTIVE = "Active"


# -- lookups -----------------------------------------------------------------------------------

@dataclass
class RecordLookup:
    """A lookup over one kind of record: `rows` lists the choices, `one` finds a submitted value."""

    engine: Engine
    noun: str
    rows: Callable[[Session, int], list[Option]]
    one: Callable[[Session, Any], Option | None]

    def options(self, limit: int = MAX_OPTIONS) -> list[Option]:
        with self.engine.db.read() as session:
            return self.rows(session, limit)

    def find(self, value: Any) -> Option | None:
        with self.engine.db.read() as session:
            return self.one(session, value)


def _as_id(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def crm_lookups(engine: Engine) -> dict[str, Lookup]:
    """Products by number, price lists, accounts and competitors by id: active ones only."""
    from handlers.models import Account, Competitor, PriceList, Product

    def product(p: Product) -> Option:
        return Option(p.number, f"{p.number} — {p.name}")

    def price_list(p: PriceList) -> Option:
        return Option(p.id, f"{p.name} ({p.currency})")

    def account(a: Account) -> Option:
        return Option(a.id, f"{a.name}" + (f" ({a.region})" if a.region else ""))

    def competitor(c: Competitor) -> Option:
        return Option(c.id, c.name)

    def by_id(model: Any, shape: Callable[[Any], Option]) -> Callable[[Session, Any], Option | None]:
        def one(session: Session, value: Any) -> Option | None:
            key = _as_id(value)
            row = session.get(model, key) if key is not None else None
            return shape(row) if row is not None and row.state == ACTIVE else None

        return one

    def product_one(session: Session, value: Any) -> Option | None:
        row = session.scalars(select(Product).where(Product.number == str(value).strip())).first()
        return product(row) if row is not None and row.state == ACTIVE else None

    def listing(model: Any, order: Any, shape: Callable[[Any], Option]) -> Callable[[Session, int], list[Option]]:
        def rows(session: Session, limit: int) -> list[Option]:
            stmt = select(model).where(model.state == ACTIVE).order_by(order).limit(limit)
            return [shape(r) for r in session.scalars(stmt)]

        return rows

    return {
        "products": RecordLookup(engine, "product", listing(Product, Product.number, product), product_one),
        "price_lists": RecordLookup(engine, "price list", listing(PriceList, PriceList.name, price_list),
                                    by_id(PriceList, price_list)),
        "accounts": RecordLookup(engine, "account", listing(Account, Account.name, account), by_id(Account, account)),
        "competitors": RecordLookup(engine, "competitor", listing(Competitor, Competitor.name, competitor),
                                    by_id(Competitor, competitor)),
    }


# -- the record panel --------------------------------------------------------------------------

def crm_record_reader(engine: Engine) -> RecordReader:
    """Summaries of the records named in an instance's variables, read in one session."""

    def read(variables: Mapping[str, Any]) -> list[RecordSummary]:
        ids = {kind: _record_id(variables, kind) for kind in ("lead", "opportunity", "quote", "case")}
        with engine.db.read() as session:
            found = [
                _lead(session, ids["lead"]) if ids["lead"] else None,
                _opportunity(session, ids["opportunity"]) if ids["opportunity"] else None,
                _quote(session, ids["quote"]) if ids["quote"] else None,
                _case(session, ids["case"]) if ids["case"] else None,
            ]
        return [s for s in found if s is not None]

    return read


def _record_id(variables: Mapping[str, Any], kind: str) -> int | None:
    value = variables.get(kind)
    return _as_id(value.get(f"{kind}_id")) if isinstance(value, Mapping) else None


def _person(first: str | None, last: str | None) -> str | None:
    return " ".join(p for p in (first, last) if p) or None


def _customer_fields(session: Session, account_id: int | None, contact_id: int | None) -> list[RecordField]:
    from handlers.models import Account, Contact

    fields = []
    account = session.get(Account, account_id) if account_id else None
    contact = session.get(Contact, contact_id) if contact_id else None
    if account is not None:
        fields.append(RecordField("Account", account.name))
    if contact is not None:
        fields.append(RecordField("Contact", _person(contact.first_name, contact.last_name)))
        if contact.email:
            fields.append(RecordField("Email", contact.email, "email"))
        if contact.phone:
            fields.append(RecordField("Phone", contact.phone))
    return fields


def _status(row: Any) -> str:
    return f"{row.state} ({row.status})" if row.status and row.status != row.state else row.state


def _lead(session: Session, lead_id: int) -> RecordSummary | None:
    from handlers.models import Lead

    lead = session.get(Lead, lead_id)
    if lead is None:
        return None
    name = _person(lead.first_name, lead.last_name) or lead.email
    return RecordSummary("lead", f"Lead {name}", link=f"/records/leads/{lead.id}", fields=[
        RecordField("Status", _status(lead), "status"),
        RecordField("Company", lead.company_name),
        RecordField("Email", lead.email, "email"),
        RecordField("Phone", lead.phone),
        RecordField("Topic", lead.topic),
        RecordField("Source", lead.lead_source),
        RecordField("Region", lead.region),
        RecordField("Score", f"{lead.score} ({lead.rating})" if lead.score is not None and lead.rating else lead.score),
    ])


def _opportunity(session: Session, opportunity_id: int) -> RecordSummary | None:
    from handlers.models import Opportunity, PriceList

    opp = session.get(Opportunity, opportunity_id)
    if opp is None:
        return None
    price_list = session.get(PriceList, opp.price_list_id) if opp.price_list_id else None
    currency = price_list.currency if price_list else None
    fields = [
        RecordField("Status", _status(opp), "status"),
        RecordField("Estimated value", opp.estimated_value, "money"),
        RecordField("Win probability", opp.probability, "percent"),
        RecordField("Estimated close", opp.estimated_close_date, "date"),
        RecordField("Owner", opp.owner),
        RecordField("Price list", f"{price_list.name} ({price_list.currency})" if price_list else None),
    ]
    if opp.actual_value is not None:
        fields.append(RecordField("Actual value", opp.actual_value, "money"))
    fields += _customer_fields(session, opp.account_id, opp.contact_id)
    return RecordSummary("opportunity", f"Opportunity {opp.name}", fields, currency=currency,
                         link=f"/records/opportunities/{opp.id}")


def _quote(session: Session, quote_id: int) -> RecordSummary | None:
    from handlers.models import Product, Quote

    quote = session.get(Quote, quote_id)
    if quote is None:
        return None
    numbers = {p.id: p.number for p in session.scalars(
        select(Product).where(Product.id.in_([line.product_id for line in quote.lines if line.product_id])))}
    discounted = any(line.discount_percent for line in quote.lines)  # a discount column only when one applies
    columns = [("Product", "text"), ("Description", "text"), ("Quantity", "number"), ("Unit price", "money"),
               *([("Discount", "percent")] if discounted else []), ("Net", "money"), ("Total", "money")]
    rows = [[numbers.get(line.product_id or 0), line.description, line.quantity, line.unit_price,
             *([line.discount_percent] if discounted else []), line.net_amount, line.total_amount]
            for line in quote.lines]
    lines = RecordTable(
        "Quote lines", columns, rows,
        totals=[RecordField("Subtotal", quote.subtotal, "money"),
                RecordField("Discount", quote.discount_amount, "money"),
                RecordField("Net", quote.net_amount, "money"),
                RecordField(f"Tax ({quote.tax_rate.normalize():f} %)", quote.tax_amount, "money"),
                RecordField("Total", quote.total_amount, "money")],
    )
    fields = [
        RecordField("Status", _status(quote), "status"),
        RecordField("Valid until", quote.effective_to, "date"),
        RecordField("Quote discount", quote.discount_percent, "percent"),
        *_customer_fields(session, quote.account_id, quote.contact_id),
    ]
    title = f"Quote {quote.number}" + (f" (revision {quote.revision})" if quote.revision else "")
    return RecordSummary("quote", title, fields, [lines], currency=quote.currency, link=f"/records/quotes/{quote.id}")


def _case(session: Session, case_id: int) -> RecordSummary | None:
    from handlers.models import Case, Entitlement, SlaKpiInstance

    case = session.get(Case, case_id)
    if case is None:
        return None
    kpis = list(session.scalars(select(SlaKpiInstance).where(SlaKpiInstance.case_id == case.id)
                                .order_by(SlaKpiInstance.failure_at)))
    fields = [
        RecordField("Status", _status(case), "status"),
        RecordField("Title", case.title),
        RecordField("Priority", case.priority),
        RecordField("Origin", case.origin),
        RecordField("Type", case.case_type),
        RecordField("Team queue", case.queue),
        RecordField("SLA", case.sla_name),
        RecordField("First response by", case.first_response_by, "datetime"),
        RecordField("Resolve by", case.resolve_by, "datetime"),
        RecordField("On hold since", case.on_hold_since, "datetime"),
        RecordField("Reopened", case.reopened_count or None, "number"),
    ]
    entitlement = session.get(Entitlement, case.entitlement_id) if case.entitlement_id else None
    if entitlement is not None:
        unit = "cases" if entitlement.allocation_type == "cases" else "hours"
        fields += [
            RecordField("Entitlement", entitlement.name),
            RecordField("Remaining", f"{entitlement.remaining_terms.normalize():f} of "
                                     f"{entitlement.total_terms.normalize():f} {unit}"),
        ]
    fields += _customer_fields(session, case.account_id, case.contact_id)
    tables = []
    if kpis:
        tables.append(RecordTable(
            "SLA", [("KPI", "text"), ("Status", "status"), ("Warning at", "datetime"), ("Due", "datetime")],
            [[k.kpi.replace("_", " ").capitalize(), k.status, k.warning_at, k.failure_at] for k in kpis],
        ))
    return RecordSummary("case", f"Case {case.number}", fields, tables, link=f"/records/cases/{case.id}")
