"""Marketing handlers: lists, campaigns and their activities, responses, ROI.

Each function is a service-task operation (`marketing/...`) in the style of
`handlers.sales`. Emails never leave from here: `distribute_activity` queues one message
per member in the outbox (`ctx.send("email", ...)`) under a key made of the campaign
activity and the member, so however often a distribution is retried, a member gets one
email. A dynamic list is resolved from its stored criteria when an activity is
distributed (DESIGN.md "CRM lifecycle rules", Marketing).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from engine.services import ServiceContext

from . import lifecycle as lc
from . import templates
from .errors import DomainError
from .models import (
    Account,
    Activity,
    Campaign,
    CampaignActivity,
    CampaignList,
    CampaignResponse,
    Contact,
    Lead,
    MarketingList,
    MarketingListMember,
    Opportunity,
)
from .models.marketing import CHANNELS, MEMBER_TYPES, RESPONSE_CODES
from .sales.leads import capture_lead
from .support import choose, fetch, money, next_number, normalize_email, operation, to_decimal

ZERO = Decimal("0")
ROI_PLACES = Decimal("0.0001")
CHUNK = 500
DO_NOT_SEND = "Do Not Send Marketing Materials"
#: the activity each channel leaves per member (email is also queued in the outbox)
CHANNEL_ACTIVITY = {"email": "email", "phone": "phone_call", "letter": "letter", "fax": "fax",
                    "appointment": "appointment"}
MEMBER_MODELS: dict[str, type[Any]] = {"account": Account, "contact": Contact, "lead": Lead}
#: the state a member record must be in to be marketed to
LIVE_STATE = {"account": "Active", "contact": "Active", "lead": "Open"}
CRITERIA = {
    "contact": {"member_type", "region", "age_min", "age_max", "subscribed_only", "account_id"},
    "account": {"member_type", "region"},
    "lead": {"member_type", "region", "rating", "source_campaign_id"},
}


def _text(value: Any, field: str, limit: int) -> str:
    """A required one-line name of at most `limit` characters, trimmed."""
    if not isinstance(value, str) or not value.strip():
        raise DomainError(f"{field} must be non-empty text, not {value!r}")
    if len(value.strip()) > limit:
        raise DomainError(f"{field} must be at most {limit} characters, not {len(value.strip())}")
    return value.strip()


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


# -- marketing lists -------------------------------------------------------------------
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
    name = _text(name, "list name", 200)
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
        for chunk in _chunks(gone):
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


# -- campaigns -------------------------------------------------------------------------
def campaign_view(campaign: Campaign) -> dict[str, Any]:
    return {
        "campaign_id": campaign.id,
        "number": campaign.number,
        "name": campaign.name,
        "state": campaign.state,
        "status": campaign.status,
        "quick": campaign.quick,
        "budget": money(campaign.budget),
        "expected_revenue": money(campaign.expected_revenue),
    }


def _attach_list(ctx: ServiceContext, campaign: Campaign, list_id: int) -> bool:
    mlist = fetch(ctx.session, MarketingList, list_id)
    lc.MARKETING_LIST.require(mlist, ["Active"], "targeted by a campaign")
    if ctx.session.get(CampaignList, (campaign.id, mlist.id)) is not None:
        return False
    ctx.session.add(CampaignList(campaign_id=campaign.id, list_id=mlist.id))
    ctx.session.flush()
    return True


def _open_campaign(ctx: ServiceContext, campaign_id: int, action: str) -> Campaign:
    campaign = fetch(ctx.session, Campaign, campaign_id)
    lc.CAMPAIGN.require(campaign, ["Proposed", "Ready To Launch", "Launched"], action)
    return campaign


@operation("marketing/create_campaign")
def create_campaign(
    ctx: ServiceContext,
    name: str,
    budget: str | None,
    expected_revenue: str | None = None,
    other_cost: str = "0",
    campaign_type: str = "Advertisement",
    list_ids: list[int] | None = None,
) -> dict[str, Any]:
    """A Proposed campaign with its budget and the marketing lists it targets."""
    name = _text(name, "campaign name", 200)
    campaign = Campaign(
        number=next_number(ctx.session, "campaign", "CMP"),
        name=name,
        campaign_type=_text(campaign_type, "campaign type", 30),
        quick=False,
        budget=None if budget is None else to_decimal(budget, "budget", minimum=ZERO),
        other_cost=to_decimal(other_cost, "other_cost", minimum=ZERO),
        expected_revenue=None
        if expected_revenue is None
        else to_decimal(expected_revenue, "expected_revenue", minimum=ZERO),
    )
    lc.CAMPAIGN.start(campaign, ctx.now)
    ctx.session.add(campaign)
    ctx.session.flush()
    for list_id in list_ids or []:
        _attach_list(ctx, campaign, list_id)
    view = campaign_view(campaign)
    view["list_ids"] = _campaign_list_ids(ctx.session, campaign.id)
    return view


def _campaign_list_ids(session: Session, campaign_id: int) -> list[int]:
    return list(
        session.scalars(
            select(CampaignList.list_id).where(CampaignList.campaign_id == campaign_id).order_by(CampaignList.list_id)
        )
    )


@operation("marketing/add_campaign_list")
def add_campaign_list(ctx: ServiceContext, campaign_id: int, list_id: int) -> dict[str, Any]:
    """Target one more marketing list (already targeted: nothing changes)."""
    campaign = _open_campaign(ctx, campaign_id, "given lists")
    added = _attach_list(ctx, campaign, list_id)
    return {"campaign_id": campaign.id, "list_ids": _campaign_list_ids(ctx.session, campaign.id), "added": added}


@operation("marketing/set_campaign_state")
def set_campaign_state(ctx: ServiceContext, campaign_id: int, state: str) -> dict[str, Any]:
    """Proposed → Ready To Launch → Launched → Completed, or Canceled before Completed.

    Launching stamps `launched_at`; completing or canceling stamps `ended_at`, and
    canceling also cancels the campaign's activities not yet distributed.
    """
    campaign = fetch(ctx.session, Campaign, campaign_id)
    lc.CAMPAIGN.move(campaign, state, None, ctx.now)
    if state == "Launched":
        campaign.launched_at = ctx.now
    if state in ("Completed", "Canceled"):
        campaign.ended_at = ctx.now
    if state == "Canceled":
        for activity in ctx.session.scalars(
            select(CampaignActivity).where(
                CampaignActivity.campaign_id == campaign.id, CampaignActivity.state == "Open"
            )
        ):
            lc.CAMPAIGN_ACTIVITY.move(activity, "Canceled", "Canceled", ctx.now)
    ctx.session.flush()
    return campaign_view(campaign)


# -- campaign activities ---------------------------------------------------------------
def _new_campaign_activity(
    ctx: ServiceContext,
    campaign: Campaign,
    channel: str,
    subject: str,
    template_body: str | None,
    wave: int,
    cost: Any,
) -> CampaignActivity:
    choose(channel, CHANNELS, "channel")
    if channel not in CHANNEL_ACTIVITY:
        raise DomainError(
            f"a {channel} campaign activity cannot be distributed to members; use one of {', '.join(CHANNEL_ACTIVITY)}"
        )
    _text(subject, "subject", 300)
    if template_body is not None and not isinstance(template_body, str):
        raise DomainError(f"template_body must be text, not {template_body!r}")
    if isinstance(wave, bool) or not isinstance(wave, int) or wave < 1:
        raise DomainError(f"wave must be a whole number from 1, not {wave!r}")
    templates.check(subject, template_body)
    activity = CampaignActivity(
        campaign_id=campaign.id,
        channel=channel,
        subject=subject,
        template_body=template_body,
        wave=wave,
        cost=to_decimal(cost, "cost", minimum=ZERO),
        distributed_count=0,
        skipped_count=0,
    )
    lc.CAMPAIGN_ACTIVITY.start(activity, ctx.now)
    ctx.session.add(activity)
    ctx.session.flush()
    return activity


def campaign_activity_view(activity: CampaignActivity) -> dict[str, Any]:
    return {
        "campaign_activity_id": activity.id,
        "campaign_id": activity.campaign_id,
        "channel": activity.channel,
        "wave": activity.wave,
        "state": activity.state,
        "status": activity.status,
        "cost": money(activity.cost),
    }


@operation("marketing/create_campaign_activity")
def create_campaign_activity(
    ctx: ServiceContext,
    campaign_id: int,
    channel: str,
    subject: str,
    template_body: str | None = None,
    wave: int = 1,
    cost: str = "0",
) -> dict[str, Any]:
    """One channel's work (a wave) in a campaign; subject and body are Jinja2 templates
    over `member`, `campaign` and `activity`, checked now so a typo fails here."""
    campaign = _open_campaign(ctx, campaign_id, "given activities")
    return campaign_activity_view(_new_campaign_activity(ctx, campaign, channel, subject, template_body, wave, cost))


@dataclass
class Member:
    type: str
    id: int
    first_name: str | None
    last_name: str | None
    name: str
    email: str | None
    live: bool
    unsubscribed: bool

    def context(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "first_name": self.first_name, "last_name": self.last_name,
                "name": self.name, "email": self.email}


def _member(member_type: str, record: Any) -> Member:
    if member_type == "account":
        first = last = None
        name = record.name
    else:
        first, last = record.first_name, record.last_name
        name = " ".join(p for p in (first, last) if p) or (record.email or f"{member_type} {record.id}")
    return Member(
        type=member_type,
        id=record.id,
        first_name=first,
        last_name=last,
        name=name,
        email=(record.email or "").strip() or None,
        live=record.state == LIVE_STATE[member_type],
        unsubscribed=bool(getattr(record, "unsubscribed", False)),
    )


def _load_members(session: Session, member_type: str, ids: list[int]) -> list[Member]:
    model = MEMBER_MODELS[member_type]
    members = []
    for chunk in _chunks(ids):
        members.extend(_member(member_type, r) for r in session.scalars(select(model).where(model.id.in_(chunk))))
    return sorted(members, key=lambda m: m.id)


def _suppressed_emails(session: Session) -> set[str]:
    """Addresses nobody may market to: unsubscribed contacts, and anyone who answered
    a campaign with "Do Not Send Marketing Materials"."""
    emails = set(session.scalars(select(Contact.email_normalized).where(Contact.unsubscribed.is_(True))))
    emails.update(
        e.lower() for e in session.scalars(
            select(CampaignResponse.email).where(CampaignResponse.response_code == DO_NOT_SEND)
        ) if e
    )
    emails.discard(None)
    return emails


def email_key(activity: CampaignActivity, member: Member) -> str:
    """The outbox key (and SMTP Message-ID) of one member's email: stable across retries."""
    return f"campaign-activity-{activity.id}.{member.type}-{member.id}"


def distribute(ctx: ServiceContext, activity: CampaignActivity) -> dict[str, Any]:
    """Resolve the campaign's lists and reach every member once (see `distribute_activity`)."""
    campaign = fetch(ctx.session, Campaign, activity.campaign_id)
    view: dict[str, Any] = {"campaign_activity_id": activity.id, "campaign_id": campaign.id,
                            "channel": activity.channel}
    if activity.state == "Completed":
        view.update(already_distributed=True, sent=activity.distributed_count, skipped=activity.skipped_count)
        return view
    lc.CAMPAIGN_ACTIVITY.require(activity, ["Open"], "distributed")
    lc.CAMPAIGN.require(campaign, ["Launched"], "distributed to its members")
    members: list[Member] = []
    lists = []
    for list_id in _campaign_list_ids(ctx.session, campaign.id):
        mlist = fetch(ctx.session, MarketingList, list_id)
        resolved = resolve(ctx, mlist)
        lists.append({"list_id": mlist.id, "member_count": resolved["member_count"]})
        members.extend(_load_members(ctx.session, mlist.member_type, list_member_ids(ctx.session, mlist.id)))
    counts = {"sent": 0, "skipped_unsubscribed": 0, "skipped_no_email": 0, "skipped_inactive": 0,
              "skipped_duplicate": 0}
    suppressed = _suppressed_emails(ctx.session)
    seen: set[tuple[str, int]] = set()
    addresses: set[str] = set()
    campaign_ctx = {"id": campaign.id, "number": campaign.number, "name": campaign.name}
    for member in members:
        if (member.type, member.id) in seen:
            continue  # on two of the campaign's lists: one member
        seen.add((member.type, member.id))
        reason = _skip_reason(activity, member, addresses, suppressed)
        if reason is not None:
            counts[reason] += 1
            continue
        if member.email:
            addresses.add(member.email.lower())
        _reach(ctx, activity, campaign_ctx, member)
        counts["sent"] += 1
    lc.CAMPAIGN_ACTIVITY.move(activity, "Completed", "Completed", ctx.now)
    activity.distributed_at = ctx.now
    activity.distributed_count = counts["sent"]
    activity.skipped_count = sum(v for k, v in counts.items() if k.startswith("skipped_"))
    ctx.session.flush()
    view.update(already_distributed=False, members=len(seen), lists=lists, skipped=activity.skipped_count, **counts)
    return view


def _skip_reason(activity: CampaignActivity, member: Member, addresses: set[str], suppressed: set[str]) -> str | None:
    """Why `member` gets nothing, or None. A member whose address already got this
    wave's email (say as a contact and as a lead) is a duplicate."""
    email = member.email.lower() if member.email else None
    if activity.channel == "email" and email in addresses:
        return "skipped_duplicate"
    if not member.live:
        return "skipped_inactive"
    if member.unsubscribed or (email is not None and email in suppressed):
        return "skipped_unsubscribed"
    if activity.channel == "email" and email is None:
        return "skipped_no_email"
    return None


def _reach(ctx: ServiceContext, activity: CampaignActivity, campaign_ctx: dict[str, Any], member: Member) -> None:
    """One member's activity record, and for email the message queued in the outbox."""
    context = {
        "member": member.context(),
        "campaign": campaign_ctx,
        "activity": {"id": activity.id, "subject": activity.subject, "channel": activity.channel,
                     "wave": activity.wave},
    }
    mail = templates.render_email(activity.subject, activity.template_body, context)
    details: dict[str, Any] = {"campaign_id": campaign_ctx["id"], "campaign_activity_id": activity.id}
    record = Activity(
        activity_type=CHANNEL_ACTIVITY[activity.channel],
        subject=mail.subject[:300],
        description=mail.body,
        regarding_type=member.type,
        regarding_id=member.id,
        direction="outgoing",
        details=details,
    )
    lc.ACTIVITY.start(record, ctx.now)
    if activity.channel == "email":
        payload = {"to": member.email, "subject": mail.subject, "body": mail.body, "campaign_id": campaign_ctx["id"],
                   "campaign_activity_id": activity.id, "member_type": member.type, "member_id": member.id}
        details.update(to=member.email, outbox_key=ctx.send("email", payload, key=email_key(activity, member)))
        lc.ACTIVITY.move(record, "Completed", "Sent", ctx.now)
        record.completed_at = ctx.now
    ctx.session.add(record)


@operation("marketing/distribute_activity")
def distribute_activity(ctx: ServiceContext, campaign_activity_id: int) -> dict[str, Any]:
    """Distribute a campaign activity to the members of the campaign's lists.

    Dynamic lists are resolved first. Every reachable member gets an activity record of
    the channel's type; for email it is Completed (Sent) and the rendered message is
    queued in the outbox under `email_key`. Unsubscribed, inactive, address-less and
    duplicate members are skipped and counted; no members at all is a valid (empty)
    distribution. The campaign must be Launched. The campaign activity is Completed
    afterwards, and distributing it again reports the first distribution's counts.
    """
    return distribute(ctx, fetch(ctx.session, CampaignActivity, campaign_activity_id))


@operation("marketing/quick_campaign")
def quick_campaign(
    ctx: ServiceContext,
    list_id: int,
    channel: str,
    subject: str,
    template_body: str | None = None,
    name: str | None = None,
    cost: str = "0",
) -> dict[str, Any]:
    """One activity type over one list: a campaign created Launched and distributed at once."""
    mlist = fetch(ctx.session, MarketingList, list_id)
    campaign = Campaign(
        number=next_number(ctx.session, "campaign", "CMP"),
        name=(name or f"Quick campaign: {templates.one_line(subject)}")[:200],
        campaign_type="Quick Campaign",
        quick=True,
        other_cost=ZERO,
    )
    lc.CAMPAIGN.start(campaign, ctx.now, state="Launched")
    campaign.launched_at = ctx.now
    ctx.session.add(campaign)
    ctx.session.flush()
    _attach_list(ctx, campaign, mlist.id)
    activity = _new_campaign_activity(ctx, campaign, channel, subject, template_body, 1, cost)
    view = distribute(ctx, activity)
    view.update(number=campaign.number, list_id=mlist.id, state=campaign.state)
    return view


# -- responses -------------------------------------------------------------------------
def _customer(session: Session, email: str | None) -> tuple[str | None, int | None]:
    """Who answered: a contact with this address, else an open lead, else an account."""
    if email is None:
        return None, None
    contact = session.scalars(select(Contact.id).where(Contact.email_normalized == email).order_by(Contact.id)).first()
    if contact is not None:
        return "contact", contact
    lead = session.scalars(
        select(Lead.id).where(Lead.email_normalized == email, Lead.state == "Open").order_by(Lead.id)
    ).first()
    if lead is not None:
        return "lead", lead
    account = session.scalars(select(Account.id).where(func.lower(Account.email) == email).order_by(Account.id)).first()
    return ("account", account) if account is not None else (None, None)


def response_view(response: CampaignResponse) -> dict[str, Any]:
    return {
        "response_id": response.id,
        "campaign_id": response.campaign_id,
        "state": response.state,
        "status": response.status,
        "response_code": response.response_code,
        "customer_type": response.customer_type,
        "customer_id": response.customer_id,
        "converted_lead_id": response.converted_lead_id,
    }


@operation("marketing/record_response")
def record_response(
    ctx: ServiceContext,
    campaign_id: int,
    email: str | None,
    channel: str = "email",
    response_text: str | None = None,
    response_code: str = "Interested",
    first_name: str | None = None,
    last_name: str | None = None,
    company_name: str | None = None,
    subject: str | None = None,
    campaign_activity_id: int | None = None,
) -> dict[str, Any]:
    """Record an answer to a Launched (or Completed: late answers count) campaign.

    The response is matched to a contact, open lead or account by address, and logged
    as a `campaign_response` activity holding the text. "Do Not Send Marketing
    Materials" unsubscribes the matching contacts, so later waves skip them.
    """
    campaign = fetch(ctx.session, Campaign, campaign_id)
    lc.CAMPAIGN.require(campaign, ["Launched", "Completed"], "responded to")
    choose(channel, CHANNELS, "channel")
    choose(response_code, RESPONSE_CODES, "response code")
    normalized = normalize_email(email) if email is not None else None
    if campaign_activity_id is not None:
        activity = fetch(ctx.session, CampaignActivity, campaign_activity_id)
        if activity.campaign_id != campaign.id:
            raise DomainError(f"campaign activity {activity.id} belongs to another campaign than {campaign.label}")
    customer_type, customer_id = _customer(ctx.session, normalized)
    text = (response_text or "").strip()
    response = CampaignResponse(
        campaign_id=campaign.id,
        campaign_activity_id=campaign_activity_id,
        channel=channel,
        response_code=response_code,
        customer_type=customer_type,
        customer_id=customer_id,
        email=email.strip() if email is not None else None,
        first_name=first_name,
        last_name=last_name,
        company_name=company_name,
        subject=(subject or (text.splitlines()[0] if text else None) or f"Response to {campaign.name}")[:300],
        received_at=ctx.now,
    )
    lc.CAMPAIGN_RESPONSE.start(response, ctx.now)
    ctx.session.add(response)
    ctx.session.flush()
    log = Activity(
        activity_type="campaign_response",
        subject=response.subject,
        description=text or None,
        regarding_type=customer_type,
        regarding_id=customer_id,
        direction="incoming",
        details={"campaign_id": campaign.id, "campaign_response_id": response.id, "response_code": response_code,
                 "channel": channel},
    )
    lc.ACTIVITY.start(log, ctx.now)
    lc.ACTIVITY.move(log, "Completed", "Received", ctx.now)
    log.completed_at = ctx.now
    ctx.session.add(log)
    unsubscribed = 0
    if response_code == DO_NOT_SEND and normalized is not None:
        for contact in ctx.session.scalars(select(Contact).where(Contact.email_normalized == normalized)):
            unsubscribed += not contact.unsubscribed
            contact.unsubscribed = True
    ctx.session.flush()
    view = response_view(response)
    view.update(activity_id=log.id, unsubscribed=unsubscribed)
    return view


@operation("marketing/convert_response_to_lead")
def convert_response_to_lead(ctx: ServiceContext, response_id: int, topic: str | None = None) -> dict[str, Any]:
    """Turn an open response into a lead through sales' capture-lead rules.

    The lead keeps the campaign as its source (an open lead with the same address is
    reused, keeping its own source if it had one). The response is closed as Converted;
    converting it again returns the same lead.
    """
    response = fetch(ctx.session, CampaignResponse, response_id)
    if response.state == "Closed" and response.status == "Converted":
        lead = fetch(ctx.session, Lead, response.converted_lead_id)
        return _conversion_view(response, lead, duplicate=False, already=True)
    lc.CAMPAIGN_RESPONSE.require(response, ["Open"], "converted to a lead")
    if response.response_code == DO_NOT_SEND:
        raise DomainError(f"campaign response {response.id} asked not to be contacted; it cannot become a lead")
    if response.email is None:
        raise DomainError(f"campaign response {response.id} has no email address; a lead needs one")
    campaign = fetch(ctx.session, Campaign, response.campaign_id)
    captured = capture_lead.__wrapped__(  # the sales rules, without a second idempotency record
        ctx,
        email=response.email,
        first_name=response.first_name,
        last_name=response.last_name,
        company_name=response.company_name,
        topic=topic or response.subject or f"Response to {campaign.name}",
        lead_source="Campaign",
        source_campaign_id=campaign.id,
    )
    lead = fetch(ctx.session, Lead, captured["lead_id"])
    lc.CAMPAIGN_RESPONSE.move(response, "Closed", "Converted", ctx.now)
    response.converted_lead_id = lead.id
    ctx.session.flush()
    return _conversion_view(response, lead, duplicate=captured["duplicate"], already=False)


def _conversion_view(response: CampaignResponse, lead: Lead, duplicate: bool, already: bool) -> dict[str, Any]:
    view = response_view(response)
    view.update(lead_id=lead.id, source_campaign_id=lead.source_campaign_id, duplicate=duplicate,
                already_converted=already)
    return view


@operation("marketing/close_response")
def close_response(ctx: ServiceContext, response_id: int, cancel: bool = False) -> dict[str, Any]:
    """Close an open response without a lead (handled), or cancel it (recorded by mistake)."""
    response = fetch(ctx.session, CampaignResponse, response_id)
    lc.CAMPAIGN_RESPONSE.require(response, ["Open"], "canceled" if cancel else "closed")
    if cancel:
        lc.CAMPAIGN_RESPONSE.move(response, "Canceled", "Canceled", ctx.now)
    else:
        lc.CAMPAIGN_RESPONSE.move(response, "Closed", "Closed", ctx.now)
    ctx.session.flush()
    return response_view(response)


# -- ROI -------------------------------------------------------------------------------
def campaign_cost(session: Session, campaign: Campaign) -> Decimal:
    """Actual cost: the costs of the campaign's activities (a canceled one spent nothing)
    plus its other costs."""
    spent = session.scalar(
        select(func.coalesce(func.sum(CampaignActivity.cost), 0)).where(
            CampaignActivity.campaign_id == campaign.id, CampaignActivity.state != "Canceled"
        )
    )
    return Decimal(str(spent)) + (campaign.other_cost or ZERO)


def won_revenue(session: Session, campaign_id: int) -> tuple[Decimal, int]:
    """Revenue and count of Won opportunities whose originating lead came from the campaign."""
    rows = session.execute(
        select(func.coalesce(func.sum(Opportunity.actual_value), 0), func.count(Opportunity.id))
        .join(Lead, Lead.id == Opportunity.originating_lead_id)
        .where(Lead.source_campaign_id == campaign_id, Opportunity.state == "Won")
    ).one()
    return Decimal(str(rows[0])), int(rows[1])


@operation("marketing/compute_roi")
def compute_roi(ctx: ServiceContext, campaign_id: int) -> dict[str, Any]:
    """ROI = (won revenue − cost) / cost, in Decimal, to four places (and as a percent).

    With no cost yet the ROI is undefined and returned as null rather than a guess.
    """
    campaign = fetch(ctx.session, Campaign, campaign_id)
    cost = campaign_cost(ctx.session, campaign)
    revenue, won = won_revenue(ctx.session, campaign.id)
    roi = None if cost == ZERO else ((revenue - cost) / cost).quantize(ROI_PLACES, rounding=ROUND_HALF_UP)
    responses = ctx.session.scalar(
        select(func.count(CampaignResponse.id)).where(CampaignResponse.campaign_id == campaign.id)
    )
    leads = ctx.session.scalar(select(func.count(Lead.id)).where(Lead.source_campaign_id == campaign.id))
    return {
        "campaign_id": campaign.id,
        "cost": money(cost),
        "budget": money(campaign.budget),
        "revenue": money(revenue),
        "roi": None if roi is None else str(roi),
        "roi_percent": None if roi is None else str((roi * 100).quantize(Decimal("0.01"))),
        "won_opportunities": won,
        "responses": responses,
        "leads": leads,
    }
