"""The rows that belong to one record, kept from the record's page: a marketing list's members and
its dynamic criteria, a price list's items, a contract's entitlements.

Each kind of part is a `Part` over `records_service`'s table-driven conversion (an `Entity` of the
part's model, its editable fields), so a bad date or amount is the same `DomainError` naming the
field as on the record forms. The rules of the domain stay where they are: member types and
criteria in `handlers.marketing.lists`, prices in `records_service.set_price`, the entitlement lifecycle
in `handlers.lifecycle`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import lifecycle as lc
from . import records_service as rs
from .errors import DomainError, RecordNotFound
from .marketing.lists import CRITERIA, validate_criteria
from .models import Entitlement, MarketingListMember, PriceListItem


@dataclass(frozen=True)
class Part:
    """One kind of part: the parent entity's name, the part as an entity, its key to the parent."""

    parent: str
    entity: rs.Entity
    parent_key: str
    fields: tuple[str, ...]  # what the add form asks for
    editable: tuple[str, ...]  # what the edit form may change ( () = remove and add again )


PARTS: dict[str, Part] = {p.parent: p for p in (
    Part("marketing_list", rs.Entity("marketing_list_member", "members", "Members", "member", MarketingListMember,
                                     ("member_id", "added_at"), (), ("member_id",), ("member_id",),
                                     label=lambda r: f"#{r.member_id}"), "list_id", ("member_id",), ()),
    Part("price_list", rs.Entity("price_list_item", "items", "Items", "price-list item", PriceListItem,
                                 ("product_id", "amount"), (), ("product_id", "amount"), ("product_id", "amount"),
                                 label=lambda r: f"product #{r.product_id}"), "price_list_id",
         ("product_id", "amount"), ("amount",)),
    Part("contract", rs.Entity("entitlement", "entitlements", "Entitlements", "entitlement", Entitlement,
                               ("allocation_type", "total_terms", "remaining_terms", "end_date", "status"), (),
                               ("name", "account_id", "contact_id", "allocation_type", "decrease_on", "total_terms",
                                "start_date", "end_date", "sla_name"),
                               ("name", "allocation_type", "decrease_on", "total_terms", "start_date", "end_date"),
                               lc.ENTITLEMENT), "contract_id",
         ("name", "allocation_type", "decrease_on", "total_terms", "start_date", "end_date", "sla_name"),
         ("name", "total_terms", "end_date", "sla_name")),
)}
CHOICES = {"allocation_type": ("cases", "hours"), "decrease_on": ("creation", "resolution")}


def part_of(parent: rs.Entity) -> Part:
    part = PARTS.get(parent.name)
    if part is None:
        raise DomainError(f"{parent.title.lower()} have no parts to add; parts are kept on "
                          + ", ".join(rs.ENTITIES[n].title.lower() for n in PARTS))
    return part


def parts(session: Session, parent: rs.Entity, parent_id: int) -> list[Any]:
    part = part_of(parent)
    model = part.entity.model
    return list(session.scalars(select(model).where(getattr(model, part.parent_key) == parent_id).order_by(model.id)))


def save_part(session: Session, parent: rs.Entity, parent_id: int, values: Mapping[str, Any], now: datetime,
              part_id: int | None = None) -> Any:
    """Add a part to the record (`part_id` None) or change one of its parts; checked by the domain rules."""
    part = part_of(parent)
    record = rs.get_record(session, parent, parent_id)
    clean = {k: v for k, v in values.items() if k in (part.editable if part_id else part.fields)}
    for name, allowed in CHOICES.items():
        if name in clean and clean[name] not in allowed:
            raise DomainError(f"{name} of an entitlement is one of {', '.join(allowed)}, not {clean[name]!r}")
    if parent.name == "price_list":
        if part_id is not None:
            clean["product_id"] = _existing(session, part, parent_id, part_id).product_id
        if not str(clean.get("product_id", "")).strip().isdigit():
            raise DomainError("a price-list item needs a product: give its id")
        return rs.set_price(session, parent_id, int(clean["product_id"]), clean.get("amount", ""))
    if parent.name == "marketing_list":
        return _add_member(session, part, record, clean.get("member_id"), now)
    # contract → entitlement
    if part_id is not None:
        item = _existing(session, part, parent_id, part_id)
        before = item.total_terms
        rs._apply(part.entity, item, clean)
        if "total_terms" in clean:  # more (or fewer) terms: what is used stays used
            item.remaining_terms = max(item.remaining_terms + item.total_terms - before, Decimal(0))
        _check_dates(item)
        session.flush()
        return item
    missing = [n for n in ("name", "allocation_type", "decrease_on", "total_terms", "start_date", "end_date")
               if not str(clean.get(n, "")).strip()]
    if missing:
        raise DomainError(f"a new entitlement needs {', '.join(missing)}")
    item = Entitlement(contract_id=parent_id, account_id=record.account_id, contact_id=record.contact_id)
    rs._apply(part.entity, item, clean)
    item.remaining_terms = item.total_terms
    _check_dates(item)
    lc.ENTITLEMENT.start(item, now)
    session.add(item)
    session.flush()
    return item


def _existing(session: Session, part: Part, parent_id: int, part_id: int) -> Any:
    item = session.get(part.entity.model, part_id)
    if item is None or getattr(item, part.parent_key) != parent_id:
        raise RecordNotFound(f"{part.entity.singular} {part_id} is not on this {part.parent.replace('_', ' ')}")
    return item


def _check_dates(item: Entitlement) -> None:
    if item.end_date < item.start_date:
        raise DomainError(f"an entitlement ends ({item.end_date}) before it starts ({item.start_date})")


def _add_member(session: Session, part: Part, mlist: Any, raw: Any, now: datetime) -> MarketingListMember:
    if mlist.dynamic:
        raise DomainError(f"list {mlist.name} is dynamic: its members come from its criteria, not by hand")
    if mlist.locked:
        raise DomainError(f"list {mlist.name} is locked: a campaign is using it")
    if not str(raw or "").strip().isdigit():
        raise DomainError(f"a member of list {mlist.name} is a {mlist.member_type} id, not {raw!r}")
    member_id = int(str(raw).strip())
    rs.get_record(session, rs.ENTITIES[mlist.member_type], member_id)
    taken = session.scalars(select(MarketingListMember).where(
        MarketingListMember.list_id == mlist.id, MarketingListMember.member_id == member_id)).first()
    if taken is not None:
        raise DomainError(f"{mlist.member_type} {member_id} is already on list {mlist.name}")
    member = MarketingListMember(list_id=mlist.id, member_id=member_id, added_at=now)
    session.add(member)
    session.flush()
    return member


def remove_member(session: Session, list_id: int, member_row_id: int) -> None:
    mlist = rs.get_record(session, rs.ENTITIES["marketing_list"], list_id)
    if mlist.locked:
        raise DomainError(f"list {mlist.name} is locked: a campaign is using it")
    session.delete(_existing(session, PARTS["marketing_list"], list_id, member_row_id))
    session.flush()


def criteria_fields(member_type: str) -> list[str]:
    """The criteria a dynamic list of `member_type` can be filtered by, in a stable order."""
    return sorted(CRITERIA.get(member_type, set()) - {"member_type"})


def set_criteria(session: Session, list_id: int, form: Mapping[str, Any], now: datetime) -> Any:
    """Make the list dynamic with criteria from form text (regions comma-separated; ids and ages whole
    numbers; subscribed_only a checkbox), checked by `validate_criteria`; none → a static list."""
    mlist = rs.get_record(session, rs.ENTITIES["marketing_list"], list_id)
    if mlist.locked:
        raise DomainError(f"list {mlist.name} is locked: a campaign is using it")
    criteria: dict[str, Any] = {}
    for name in criteria_fields(mlist.member_type):
        raw = str(form.get(name, "") or "").strip()
        if name == "subscribed_only":
            if raw:
                criteria[name] = raw.lower() in ("1", "true", "yes", "on")
        elif not raw:
            continue
        elif name == "region":
            regions = [r.strip() for r in raw.split(",") if r.strip()]
            criteria[name] = regions[0] if len(regions) == 1 else regions
        elif name in ("age_min", "age_max", "account_id", "source_campaign_id"):
            if not raw.isdigit():
                raise DomainError(f"criterion {name} must be a whole number, not {raw!r}")
            criteria[name] = int(raw)
        else:
            criteria[name] = raw
    if criteria:
        mlist.criteria = validate_criteria(mlist.member_type, criteria)
        mlist.dynamic = True
    else:
        mlist.criteria, mlist.dynamic = None, False
    if hasattr(mlist, "updated_at"):
        mlist.updated_at = now
    session.flush()
    return mlist
