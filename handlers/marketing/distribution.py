"""Marketing distribution: reach every member of a campaign's lists once (an activity
record per member, and for email a message queued in the outbox under a stable key), and
the quick campaign that creates and distributes in one step.

Split from the marketing module; who is skipped (unsubscribed, inactive, without an address,
a duplicate) is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import ServiceContext

from .. import lifecycle as lc
from .. import templates
from ..models import Activity, Campaign, CampaignActivity, CampaignResponse, Contact, MarketingList
from ..pricing import ZERO
from ..support import fetch, next_number, operation
from .campaigns import CHANNEL_ACTIVITY, attach_list, campaign_list_ids, new_campaign_activity
from .lists import LIVE_STATE, MEMBER_MODELS, chunks, list_member_ids, resolve
from .responses import DO_NOT_SEND


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
    for chunk in chunks(ids):
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
    for list_id in campaign_list_ids(ctx.session, campaign.id):
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
    attach_list(ctx, campaign, mlist.id)
    activity = new_campaign_activity(ctx, campaign, channel, subject, template_body, 1, cost)
    view = distribute(ctx, activity)
    view.update(number=campaign.number, list_id=mlist.id, state=campaign.state)
    return view
