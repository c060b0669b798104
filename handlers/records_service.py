"""The CRM records as a workspace: one table of entities, and list/get/create/update/move over it.

Pages and the API (`crmflow.web`, `crmflow.workspace`) call this module instead of knowing fifteen models:
each `Entity` says which model it is, which columns a list shows and a search looks in, which
fields a person may set (none: the record is kept by the processes only) and which lifecycle
(`handlers.lifecycle`) its state moves follow. Values are converted and checked from the
column types, so a bad date or a negative price is a `DomainError` naming the field.
Knows nothing of SpiffWorkflow: which process owns a record is the web layer's question.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Boolean, Date, Integer, Numeric, String, Text, bindparam, func, or_, select, text
from sqlalchemy.orm import Session

from engine.services import to_json_value

from . import lifecycle as lc
from .errors import DomainError, RecordNotFound
from .models import (
    Account,
    Activity,
    Campaign,
    Case,
    Competitor,
    Contact,
    Contract,
    Invoice,
    KnowledgeArticle,
    Lead,
    MarketingList,
    Opportunity,
    PriceList,
    PriceListItem,
    Product,
    Quote,
    Resource,
    SalesOrder,
    Territory,
)
from .models.base import UTCDateTime
from .support import next_number, normalize_email

MAX_PAGE = 200


@dataclass(frozen=True)
class Entity:
    """One kind of record as the workspace shows it; `name` is its permission (`records:NAME`)."""

    name: str
    slug: str  # the URL part: /records/price-lists
    title: str  # "Price lists"
    singular: str  # "price list"
    model: Any
    columns: tuple[str, ...]  # what a list shows (after the label)
    search: tuple[str, ...]  # text columns a search looks in
    editable: tuple[str, ...] = ()  # fields a person with `edit` may set; () = kept by processes only
    required: tuple[str, ...] = ()  # needed to create one
    lifecycle: lc.Lifecycle | None = None
    numbered: tuple[str, str] | None = None  # (sequence, prefix) for a new record's number
    label: Callable[[Any], str] = field(default=lambda r: str(getattr(r, "name", None) or f"#{r.id}"))
    customer: bool = False  # has account_id / contact_id: shown on the customer 360

    @property
    def creatable(self) -> bool:
        return bool(self.editable)


def _person(r: Any) -> str:
    return " ".join(p for p in (r.first_name, r.last_name) if p) or (getattr(r, "email", None) or f"#{r.id}")


def _numbered(attr: str) -> Callable[[Any], str]:
    return lambda r: f"{r.number} {getattr(r, attr)}"


ENTITIES: dict[str, Entity] = {e.name: e for e in (
    Entity("account", "accounts", "Accounts", "account", Account, ("email", "phone", "region", "status"),
           ("name", "email", "phone"), ("name", "email", "phone", "region"), ("name",), lc.ACCOUNT),
    Entity("contact", "contacts", "Contacts", "contact", Contact, ("email", "phone", "account_id", "status"),
           ("first_name", "last_name", "email", "phone"),
           ("first_name", "last_name", "email", "phone", "region", "account_id"), ("last_name",), lc.CONTACT,
           label=_person, customer=True),
    Entity("lead", "leads", "Leads", "lead", Lead, ("company_name", "topic", "rating", "status"),
           ("first_name", "last_name", "email", "company_name", "topic"), lifecycle=lc.LEAD, label=_person),
    Entity("opportunity", "opportunities", "Opportunities", "opportunity", Opportunity,
           ("account_id", "estimated_value", "owner", "status"), ("name", "owner"), lifecycle=lc.OPPORTUNITY,
           customer=True),
    Entity("quote", "quotes", "Quotes", "quote", Quote, ("account_id", "total_amount", "revision", "status"),
           ("number", "name"), lifecycle=lc.QUOTE, label=_numbered("name"), customer=True),
    Entity("order", "orders", "Orders", "order", SalesOrder, ("account_id", "total_amount", "status"),
           ("number", "name"), lifecycle=lc.ORDER, label=_numbered("name"), customer=True),
    Entity("invoice", "invoices", "Invoices", "invoice", Invoice,
           ("account_id", "total_amount", "amount_paid", "due_date", "status"), ("number", "name"),
           lifecycle=lc.INVOICE, label=_numbered("name"), customer=True),
    Entity("case", "cases", "Cases", "case", Case, ("account_id", "priority", "queue", "resolve_by", "status"),
           ("number", "title", "description"), lifecycle=lc.CASE, label=_numbered("title"), customer=True),
    Entity("product", "products", "Products", "product", Product, ("number", "unit", "status"),
           ("number", "name", "description"), ("number", "name", "unit", "description"), ("number", "name"),
           lc.PRODUCT),
    Entity("price_list", "price-lists", "Price lists", "price list", PriceList, ("currency", "status"), ("name",),
           ("name", "currency"), ("name",), lc.PRICE_LIST),
    Entity("knowledge_article", "knowledge-articles", "Knowledge articles", "knowledge article",
           KnowledgeArticle, ("keywords", "published_at", "status"), ("number", "title", "keywords"),
           ("title", "content", "keywords"), ("title", "content"), lc.ARTICLE, ("article", "KB"),
           _numbered("title")),
    Entity("contract", "contracts", "Contracts", "contract", Contract,
           ("account_id", "start_date", "end_date", "status"), ("number", "title"),
           ("title", "account_id", "contact_id", "start_date", "end_date"), ("title", "start_date", "end_date"),
           lc.CONTRACT, ("contract", "CON"), _numbered("title"), customer=True),
    Entity("marketing_list", "marketing-lists", "Marketing lists", "marketing list", MarketingList,
           ("member_type", "dynamic", "status"), ("name",), ("name", "member_type", "dynamic", "criteria"),
           ("name", "member_type"), lc.MARKETING_LIST),
    Entity("resource", "resources", "Resources", "resource", Resource, ("resource_kind", "user_name", "capacity"),
           ("name", "user_name"), ("name", "resource_kind", "user_name", "capacity"),
           ("name", "resource_kind", "capacity")),
    Entity("territory", "territories", "Territories", "territory", Territory, ("sales_queue",), ("name",),
           ("name", "sales_queue"), ("name", "sales_queue")),
    Entity("competitor", "competitors", "Competitors", "competitor", Competitor, ("website", "status"),
           ("name", "website"), ("name", "website", "strengths", "weaknesses"), ("name",), lc.COMPETITOR),
    Entity("campaign", "campaigns", "Campaigns", "campaign", Campaign, ("campaign_type", "budget", "status"),
           ("number", "name"), lifecycle=lc.CAMPAIGN, label=_numbered("name")),
    Entity("activity", "activities", "Activities", "activity", Activity,
           ("activity_type", "owner", "due_at", "regarding_type", "status"), ("subject", "description"),
           lifecycle=lc.ACTIVITY, label=lambda r: r.subject),
)}
BY_SLUG = {e.slug: e for e in ENTITIES.values()}


def entity(slug_or_name: str) -> Entity:
    """The entity for a URL slug or a permission name, or a `RecordNotFound` listing them."""
    found = BY_SLUG.get(slug_or_name) or ENTITIES.get(slug_or_name)
    if found is None:
        raise RecordNotFound(f"there are no records called {slug_or_name!r}; "
                             f"the record types are {', '.join(sorted(BY_SLUG))}")
    return found


# -- reading ------------------------------------------------------------------------------------

def list_records(session: Session, ent: Entity, q: str = "", state: str = "", limit: int = 50,
                 offset: int = 0, account_id: int | None = None) -> tuple[list[Any], int]:
    """A page of records, newest first, with the total: `q` matches any search column, `state` the state."""
    model = ent.model
    stmt = select(model)
    if q.strip():
        pattern = f"%{q.strip().lower()}%"
        stmt = stmt.where(or_(*(func.lower(getattr(model, c)).like(pattern) for c in ent.search)))
    if state and hasattr(model, "state"):
        stmt = stmt.where(model.state == state)
    if account_id is not None and hasattr(model, "account_id"):
        stmt = stmt.where(model.account_id == account_id)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    limit = max(1, min(int(limit), MAX_PAGE))
    rows = list(session.scalars(stmt.order_by(model.id.desc()).limit(limit).offset(max(0, int(offset)))))
    return rows, int(total)


#: entities in the full-text search index (migration 0008_crm18b_global_search) → their rowid code there
SEARCH_CODES = {"account": 1, "contact": 2, "lead": 3, "opportunity": 4, "case": 5}
SEARCH_TERMS = 8  # at most this many words of a query count


def search_terms(q: str) -> list[str]:
    """The words of a query (letters and digits), lower-cased; punctuation separates words."""
    words = "".join(c if c.isalnum() else " " for c in q.lower()).split()
    return list(dict.fromkeys(words))[:SEARCH_TERMS]


def search_records(session: Session, names: Sequence[str], q: str, limit: int = 20) -> list[tuple[Entity, Any]]:
    """Records of the indexed entities in `names` matching every word of `q` (as a word prefix), best
    first: a name or title hit outranks one in e-mail, phone or description. Full-text on SQLite (FTS5,
    bm25) and PostgreSQL (tsvector, ts_rank); elsewhere the entities' LIKE search, newest first."""
    wanted = [n for n in names if n in SEARCH_CODES]
    terms = search_terms(q)
    if not wanted or not terms:
        return []
    limit = max(1, min(int(limit), MAX_PAGE))
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        match = " AND ".join(f'"{t}"*' for t in terms)
        found = [(e, rowid // 8) for rowid, e in session.execute(text(
            "SELECT rowid, entity FROM crm_search_fts WHERE crm_search_fts MATCH :m AND entity IN :names"
            " ORDER BY bm25(crm_search_fts, 0.0, 10.0, 1.0), rowid DESC LIMIT :n"
        ).bindparams(bindparam("names", expanding=True)), {"m": match, "names": wanted, "n": limit})]
    elif dialect == "postgresql":
        query = " & ".join(f"{t}:*" for t in terms)
        union = " UNION ALL ".join(
            f"SELECT '{n}' AS entity, id, ts_rank(search_vector, to_tsquery('simple', :q)) AS rank"
            f" FROM {ENTITIES[n].model.__tablename__} WHERE search_vector @@ to_tsquery('simple', :q)"
            for n in wanted)
        found = [(e, i) for e, i in session.execute(text(
            f"SELECT entity, id FROM ({union}) hits ORDER BY rank DESC, id DESC LIMIT :n"), {"q": query, "n": limit})]
    else:
        return [(ENTITIES[n], r) for n in wanted for r in list_records(session, ENTITIES[n], q=q, limit=limit)[0]]
    out = []
    for name, record_id in found:
        record = session.get(ENTITIES[name].model, record_id)
        if record is not None:
            out.append((ENTITIES[name], record))
    return out


def get_record(session: Session, ent: Entity, record_id: int) -> Any:
    record = session.get(ent.model, record_id)
    if record is None:
        raise RecordNotFound(f"{ent.singular} {record_id} does not exist")
    return record


def fields_of(ent: Entity) -> list[str]:
    """Every column of the entity, in table order."""
    return [c.key for c in ent.model.__table__.columns]


def as_dict(ent: Entity, record: Any) -> dict[str, Any]:
    """The record's columns as JSON-ready values, plus `label`."""
    out: dict[str, Any] = {"label": ent.label(record)}
    for name in fields_of(ent):
        if name in ("email_normalized", "search_vector"):
            continue
        out[name] = json_value(getattr(record, name))
    if ent.name == "invoice":
        out["balance"] = json_value(record.balance)
    return out


def json_value(value: Any) -> Any:
    """A record field as JSON: the engine's one coercion (Decimal as its string, dates ISO)."""
    return to_json_value(value)


# -- writing ------------------------------------------------------------------------------------

def _convert(ent: Entity, name: str, raw: Any) -> Any:
    """`raw` (text from a form, or JSON) as the column's type; None for an empty value."""
    column = ent.model.__table__.columns[name]
    kind = column.type
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if not column.nullable:
            raise DomainError(f"{ent.singular} needs a value for {name}")
        return None
    text = raw.strip() if isinstance(raw, str) else raw
    try:
        if isinstance(kind, Boolean):
            return text if isinstance(text, bool) else str(text).lower() in ("1", "true", "yes", "on")
        if isinstance(kind, Integer):
            if isinstance(text, bool):
                raise ValueError
            return int(text)
        if isinstance(kind, Numeric):
            value = Decimal(str(text))
            if value < 0:
                raise DomainError(f"{name} of a {ent.singular} cannot be negative (got {value})")
            return value
        if isinstance(kind, UTCDateTime):
            return text if isinstance(text, datetime) else datetime.fromisoformat(str(text))
        if isinstance(kind, Date):
            return text if isinstance(text, date) else date.fromisoformat(str(text))
        if isinstance(kind, (String, Text)):
            value = str(text)
            length = getattr(kind, "length", None)
            if length and len(value) > length:
                raise DomainError(f"{name} of a {ent.singular} is at most {length} characters")
            return value
    except (ValueError, InvalidOperation):
        raise DomainError(
            f"{name} of a {ent.singular}: {raw!r} is not a valid {type(kind).__name__.lower()}") from None
    return text  # JSON (criteria) as given


def _apply(ent: Entity, record: Any, values: Mapping[str, Any]) -> None:
    unknown = sorted(set(values) - set(ent.editable))
    if unknown:
        allowed = ", ".join(ent.editable) or "nothing (the processes keep these records)"
        raise DomainError(f"a {ent.singular} has no settable field {', '.join(unknown)}; settable: {allowed}")
    for name, raw in values.items():
        column = ent.model.__table__.columns[name]
        if (raw is None or (isinstance(raw, str) and not raw.strip())) and column.default is not None:
            if getattr(record, name, None) is None:
                setattr(record, name, column.default.arg)  # left empty: the column's default ("each")
            continue
        setattr(record, name, _convert(ent, name, raw))
    if hasattr(record, "email_normalized") and "email" in values:
        record.email_normalized = normalize_email(record.email) if record.email else None


def create_record(session: Session, ent: Entity, values: Mapping[str, Any], now: datetime) -> Any:
    """A new record from the editable fields (required ones checked), in its lifecycle's first state."""
    if not ent.creatable:
        raise DomainError(f"{ent.title.lower()} are created by the processes, not by hand")
    missing = [n for n in ent.required if values.get(n) in (None, "")]
    if missing:
        raise DomainError(f"a new {ent.singular} needs {', '.join(missing)}")
    record = ent.model()
    _apply(ent, record, {k: v for k, v in values.items() if k != "price"})
    if ent.numbered:
        record.number = next_number(session, *ent.numbered)
    if ent.lifecycle is not None:
        ent.lifecycle.start(record, now)
    elif hasattr(record, "created_at"):
        record.created_at = now
    if ent.name == "marketing_list" and record.dynamic is None:
        record.dynamic = False
    session.add(record)
    session.flush()
    return record


def update_record(session: Session, ent: Entity, record_id: int, values: Mapping[str, Any], now: datetime) -> Any:
    if not ent.editable:
        raise DomainError(f"{ent.title.lower()} are kept by the processes: change them through their tasks")
    record = get_record(session, ent, record_id)
    _apply(ent, record, values)
    if hasattr(record, "updated_at"):
        record.updated_at = now
    session.flush()
    return record


def allowed_moves(ent: Entity, record: Any) -> list[tuple[str, str]]:
    """(state, status) pairs the lifecycle allows from where the record is, own status changes included."""
    if ent.lifecycle is None:
        return []
    moves = []
    for state in sorted(ent.lifecycle.moves.get(record.state, ())):
        for status in ent.lifecycle.statuses[state]:
            if (state, status) != (record.state, record.status):
                moves.append((state, status))
    return moves


def move_record(session: Session, ent: Entity, record_id: int, state: str, status: str | None,
                now: datetime) -> Any:
    """A state move by hand, by the same transition table the handlers use."""
    if ent.lifecycle is None:
        raise DomainError(f"{ent.title.lower()} have no lifecycle")
    record = get_record(session, ent, record_id)
    ent.lifecycle.move(record, state, status or None, now)
    if ent.name == "knowledge_article" and state == "Published":
        record.published_at = now
    session.flush()
    return record


def set_price(session: Session, price_list_id: int, product_id: int, amount: Any) -> PriceListItem:
    """Put a product on a price list at `amount` (or change its price there)."""
    get_record(session, ENTITIES["price_list"], price_list_id)
    get_record(session, ENTITIES["product"], product_id)
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise DomainError(f"price {amount!r} is not a number") from None
    if value < 0 or value != value.quantize(Decimal("0.01")):
        raise DomainError(f"price {value} must be zero or more, with at most two decimals")
    item = session.scalars(select(PriceListItem).where(
        PriceListItem.price_list_id == price_list_id, PriceListItem.product_id == product_id)).first()
    if item is None:
        item = PriceListItem(price_list_id=price_list_id, product_id=product_id, amount=value)
        session.add(item)
    item.amount = value
    session.flush()
    return item


def prices_of(session: Session, product_id: int) -> list[tuple[str, Decimal, str]]:
    """(price list, amount, currency) for a product."""
    stmt = select(PriceList.name, PriceListItem.amount, PriceList.currency).join(
        PriceListItem, PriceListItem.price_list_id == PriceList.id).where(PriceListItem.product_id == product_id)
    return [(n, a, c) for n, a, c in session.execute(stmt)]


def related(session: Session, ent: Entity, record: Any) -> list[tuple[Entity, list[Any]]]:
    """Records pointing at this one (a quote's order, an account's contacts …), by entity."""
    key = {"account": "account_id", "contact": "contact_id", "opportunity": "opportunity_id",
           "quote": "quote_id", "order": "order_id"}.get(ent.name)
    if key is None:
        return []
    out = []
    for other in ENTITIES.values():
        column = getattr(other.model, key, None)
        if column is None or other is ent:
            continue
        rows = list(session.scalars(select(other.model).where(column == record.id).order_by(other.model.id.desc())
                                    .limit(50)))
        if rows:
            out.append((other, rows))
    return out


def labels_for(session: Session, name: str, ids: Sequence[int]) -> dict[int, str]:
    """id → label for a set of ids of one entity (for list cells that hold foreign keys)."""
    ent = ENTITIES[name]
    if not ids:
        return {}
    return {r.id: ent.label(r) for r in session.scalars(select(ent.model).where(ent.model.id.in_(set(ids))))}
