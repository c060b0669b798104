"""Marketing lists: static lists of chosen records, and dynamic lists resolved from stored
criteria (region, age, subscription, account; rating and source campaign for leads).

Split from the marketing module; `validate_criteria` is also what the record pages check a
list's criteria with, and `resolve` is how a distribution brings a dynamic list up to date.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from engine.services import ServiceContext

from .. import lifecycle as lc
from ..errors import DomainError
from ..models import Account, Contact, Lead, MarketingList, MarketingListMember
from ..models.marketing import MEMBER_TYPES
from ..support import choose, fetch, operation

CHUNK = 500
MEMBER_MODELS: dict[str, type[Any]] = {"account": Account, "contact": Contact, "lead": Lead}
#: the state a member record must be in to be marketed to
LIVE_STATE = {"account": "Active", "contact": "Active", "lead": "Open"}
CRITERIA = {
    "contact": {"member_type", "region", "age_min", "age_max", "subscribed_only", "account_id"},
    "account": {"member_type", "region"},
    "lead": {"member_type", "region", "rating", "source_campaign_id"},
}


def required_text(value: Any, field: str, limit: int) -> str:
    """A required one-line name of at most `limit` characters, trimmed."""
    if not isinstance(value, str) or not value.strip():
        raise DomainError(f"{field} must be non-empty text, not {value!r}")
    if len(value.strip()) > limit:
        raise DomainError(f"{field} must be at most {limit} characters, not {len(value.strip())}")
    return value.strip()


def chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _age(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 150:
        raise DomainError(f"criterion {field} must be a whole number of years from 0 to 150, not {value!r}")
    return value


def validate_criteria(member_type: str, criteria: Any) -> dict[str, Any]:
    """The criteria of a dynamic list, checked against what its member type can be filtered by.

    Contacts: `region` (a name or a list, case-insensitive), `age_min`/`age_max` (whole
    years on the resolution day, both inclusive), `subscribed_only`, `account_id`.
    Accounts: `region`. Leads: `region`, `rating`, `source_campaign_id`. Only live
    records qualify (Active contacts/accounts, Open leads).
    """
    if not isinstance(criteria, dict):
        raise DomainError(f"a dynamic list's criteria must be an object, not {criteria!r}")
    unknown = sorted(set(criteria) - CRITERIA[member_type])
    if unknown:
        raise DomainError(
            f"a {member_type} list cannot be filtered by {', '.join(unknown)}; "
            f"use {', '.join(sorted(CRITERIA[member_type]))}"
        )
    if criteria.get("member_type", member_type) != member_type:
        raise DomainError(f"criteria name member type {criteria['member_type']!r} but the list holds {member_type}s")
    if "region" in criteria:
        regions = criteria["region"] if isinstance(criteria["region"], list) else [criteria["region"]]
        if not regions or not all(isinstance(r, str) and r.strip() for r in regions):
            raise DomainError(f"criterion region must be a region name or a list of them, not {criteria['region']!r}")
    low = _age(criteria["age_min"], "age_min") if "age_min" in criteria else None
    high = _age(criteria["age_max"], "age_max") if "age_max" in criteria else None
    if low is not None and high is not None and low > high:
        raise DomainError(f"criterion age_min {low} is above age_max {high}")
    if "subscribed_only" in criteria and not isinstance(criteria["subscribed_only"], bool):
        raise DomainError(f"criterion subscribed_only must be true or false, not {criteria['subscribed_only']!r}")
    if "rating" in criteria:
        choose(criteria["rating"], ("Hot", "Warm", "Cold"), "criterion rating")
    return dict(criteria)


def years_before(day: date, years: int) -> date:
    """The same calendar day `years` earlier (29 February → 28 February in a common year)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def matching_ids(session: Session, member_type: str, criteria: dict[str, Any], today: date) -> list[int]:
    """Ids of the live records of `member_type` that meet `criteria` on `today`.

    Ages compare birthdates with date bounds, so the database does the work and every
    backend agrees: aged at least N ⇔ born on or before today N years ago; aged at most
    N ⇔ born after today N + 1 years ago. A contact without a birthdate has no age and
    fails any age criterion.
    """
    model = MEMBER_MODELS[member_type]
    query = select(model.id).where(model.state == LIVE_STATE[member_type])
    if "region" in criteria:
        regions = criteria["region"] if isinstance(criteria["region"], list) else [criteria["region"]]
        query = query.where(func.lower(model.region).in_([r.strip().lower() for r in regions]))
    if "age_min" in criteria:
        query = query.where(Contact.birthdate <= years_before(today, criteria["age_min"]))
    if "age_max" in criteria:
        query = query.where(Contact.birthdate > years_before(today, criteria["age_max"] + 1))
    if criteria.get("subscribed_only"):
        query = query.where(Contact.unsubscribed.is_(False))
    if "account_id" in criteria:
        query = query.where(Contact.account_id == criteria["account_id"])
    if "rating" in criteria:
        query = query.where(Lead.rating == criteria["rating"])
    if "source_campaign_id" in criteria:
        query = query.where(Lead.source_campaign_id == criteria["source_campaign_id"])
    return list(session.scalars(query.order_by(model.id)))


def list_member_ids(session: Session, list_id: int) -> list[int]:
    return list(
        session.scalars(
            select(MarketingListMember.member_id)
            .where(MarketingListMember.list_id == list_id)
            .order_by(MarketingListMember.member_id)
        )
    )


def list_view(mlist: MarketingList, member_count: int) -> dict[str, Any]:
    return {
        "list_id": mlist.id,
        "name": mlist.name,
        "member_type": mlist.member_type,
        "dynamic": mlist.dynamic,
        "state": mlist.state,
        "member_count": member_count,
    }


def _add_members(ctx: ServiceContext, mlist: MarketingList, ids: Iterable[Any]) -> int:
    """Add existing records of the list's member type; those already members are skipped."""
    if mlist.dynamic:
        raise DomainError(f"marketing list {mlist.name!r} is dynamic; its members come from its criteria")
    if mlist.locked:
        raise DomainError(f"marketing list {mlist.name!r} is locked; its members cannot change")
    wanted = []
    for member_id in ids:
        record = fetch(ctx.session, MEMBER_MODELS[mlist.member_type], member_id)
        wanted.append(record.id)
    present = set(list_member_ids(ctx.session, mlist.id))
    new = sorted(set(wanted) - present)
    ctx.session.add_all(MarketingListMember(list_id=mlist.id, member_id=m, added_at=ctx.now) for m in new)
    ctx.session.flush()
    return len(new)


@operation("marketing/create_list")
def create_list(
    ctx: ServiceContext,
    name: str,
    member_type: str,
    dynamic: bool = False,
    criteria: dict[str, Any] | None = None,
    member_ids: list[int] | None = None,
) -> dict[str, Any]:
    """A static list (with optional first `member_ids`) or a dynamic one (with `criteria`)."""
    choose(member_type, MEMBER_TYPES, "member type")
    name = required_text(name, "list name", 200)
    if ctx.session.scalars(select(MarketingList.id).where(MarketingList.name == name)).first() is not None:
        raise DomainError(f"a marketing list named {name!r} exists already")
    if dynamic and member_ids:
        raise DomainError("a dynamic list takes criteria, not member ids")
    if not dynamic and criteria is not None:
        raise DomainError("a static list takes member ids, not criteria (create it with dynamic=true)")
    mlist = MarketingList(
        name=name,
        member_type=member_type,
        dynamic=bool(dynamic),
        criteria=validate_criteria(member_type, criteria if criteria is not None else {}) if dynamic else None,
        locked=False,
    )
    lc.MARKETING_LIST.start(mlist, ctx.now)
    ctx.session.add(mlist)
    ctx.session.flush()
    added = _add_members(ctx, mlist, member_ids or []) if not dynamic else 0
    return list_view(mlist, added)


@operation("marketing/add_list_members")
def add_list_members(ctx: ServiceContext, list_id: int, member_ids: list[int]) -> dict[str, Any]:
    """Add members to a static list; members it already has are not added twice."""
    mlist = fetch(ctx.session, MarketingList, list_id)
    lc.MARKETING_LIST.require(mlist, ["Active"], "changed")
    if not isinstance(member_ids, list):
        raise DomainError(f"member_ids must be a list of record ids, not {member_ids!r}")
    added = _add_members(ctx, mlist, member_ids)
    view = list_view(mlist, len(list_member_ids(ctx.session, mlist.id)))
    view["added"] = added
    return view


def resolve(ctx: ServiceContext, mlist: MarketingList) -> dict[str, Any]:
    """Bring a dynamic list's members in line with its criteria today; a static (or
    locked) list keeps its members. Returns the counts."""
    lc.MARKETING_LIST.require(mlist, ["Active"], "resolved")
    present = list_member_ids(ctx.session, mlist.id)
    added = removed = 0
    if mlist.dynamic and not mlist.locked:
        criteria = validate_criteria(mlist.member_type, mlist.criteria or {})
        wanted = matching_ids(ctx.session, mlist.member_type, criteria, ctx.now.date())
        gone = sorted(set(present) - set(wanted))
        new = sorted(set(wanted) - set(present))
        for chunk in chunks(gone):
            ctx.session.execute(
                delete(MarketingListMember).where(
                    MarketingListMember.list_id == mlist.id, MarketingListMember.member_id.in_(chunk)
                )
            )
        ctx.session.add_all(MarketingListMember(list_id=mlist.id, member_id=m, added_at=ctx.now) for m in new)
        mlist.resolved_at = ctx.now
        ctx.session.flush()
        present, added, removed = wanted, len(new), len(gone)
    view = list_view(mlist, len(present))
    view.update(added=added, removed=removed, locked=mlist.locked)
    return view


@operation("marketing/resolve_list")
def resolve_list(ctx: ServiceContext, list_id: int) -> dict[str, Any]:
    """Resolve a marketing list into members (dynamic: from its criteria, as of `ctx.now`)."""
    return resolve(ctx, fetch(ctx.session, MarketingList, list_id))

