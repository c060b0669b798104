"""Marketing campaigns: a campaign with its budget and target lists, its state, its
activities (one channel's wave, with Jinja2 subject and body), and its ROI.

Split from the marketing module; `campaign_cost` and `won_revenue` are also the marketing
reports' rules.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.services import ServiceContext

from .. import lifecycle as lc
from .. import templates
from ..errors import DomainError
from ..models import Campaign, CampaignActivity, CampaignList, CampaignResponse, Lead, MarketingList, Opportunity
from ..models.marketing import CHANNELS
from ..pricing import ZERO
from ..support import choose, fetch, money, next_number, operation, to_decimal
from .lists import required_text

ROI_PLACES = Decimal("0.0001")
#: the activity each channel leaves per member (email is also queued in the outbox)
CHANNEL_ACTIVITY = {"email": "email", "phone": "phone_call", "letter": "letter", "fax": "fax",
                    "appointment": "appointment"}


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


def attach_list(ctx: ServiceContext, campaign: Campaign, list_id: int) -> bool:
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
    name = required_text(name, "campaign name", 200)
    campaign = Campaign(
        number=next_number(ctx.session, "campaign", "CMP"),
        name=name,
        campaign_type=required_text(campaign_type, "campaign type", 30),
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
        attach_list(ctx, campaign, list_id)
    view = campaign_view(campaign)
    view["list_ids"] = campaign_list_ids(ctx.session, campaign.id)
    return view


def campaign_list_ids(session: Session, campaign_id: int) -> list[int]:
    return list(
        session.scalars(
            select(CampaignList.list_id).where(CampaignList.campaign_id == campaign_id).order_by(CampaignList.list_id)
        )
    )


@operation("marketing/add_campaign_list")
def add_campaign_list(ctx: ServiceContext, campaign_id: int, list_id: int) -> dict[str, Any]:
    """Target one more marketing list (already targeted: nothing changes)."""
    campaign = _open_campaign(ctx, campaign_id, "given lists")
    added = attach_list(ctx, campaign, list_id)
    return {"campaign_id": campaign.id, "list_ids": campaign_list_ids(ctx.session, campaign.id), "added": added}


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


def new_campaign_activity(
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
    required_text(subject, "subject", 300)
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
    return campaign_activity_view(new_campaign_activity(ctx, campaign, channel, subject, template_body, wave, cost))


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
