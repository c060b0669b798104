"""Marketing figures: what each campaign reached and earned, and the funnel from list to revenue.

Cost and won revenue use the ROI handler's own rules (`handlers.marketing.campaigns.campaign_cost`,
`won_revenue`), so the report and the campaign process's "Compute ROI" never disagree.
A member is *reached* when a distribution left them an outgoing activity of the campaign;
an email is *delivered* when its outbox message was sent (queued ones are counted apart).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.read_model import OutboxMessage

from ..marketing.campaigns import campaign_cost, won_revenue
from ..models import (
    Activity,
    Campaign,
    CampaignList,
    CampaignResponse,
    Lead,
    MarketingList,
    MarketingListMember,
)
from .base import WINDOW, Params, Report, ReportError, Row, cols, money, percent, window, within

Member = tuple[str, int]


def reached_members(session: Session) -> dict[int, set[Member]]:
    """campaign id → the (type, id) of every member a distribution reached."""
    campaign_id = Activity.details["campaign_id"].as_integer()
    rows = session.execute(
        select(campaign_id, Activity.regarding_type, Activity.regarding_id)
        .where(Activity.direction == "outgoing", Activity.details["campaign_activity_id"].as_integer().is_not(None),
               Activity.regarding_id.is_not(None))
        .distinct()
    )
    reached: dict[int, set[Member]] = defaultdict(set)
    for cid, rtype, rid in rows:
        if cid is not None:
            reached[int(cid)].add((rtype, rid))
    return reached


def list_members(session: Session) -> dict[int, set[Member]]:
    """campaign id → the distinct members of the lists it targets (as resolved now)."""
    rows = session.execute(
        select(CampaignList.campaign_id, MarketingList.member_type, MarketingListMember.member_id)
        .join(MarketingList, MarketingList.id == CampaignList.list_id)
        .join(MarketingListMember, MarketingListMember.list_id == MarketingList.id)
    )
    members: dict[int, set[Member]] = defaultdict(set)
    for cid, mtype, mid in rows:
        members[cid].add((mtype, mid))
    return members


def emails(session: Session) -> dict[int, dict[str, int]]:
    """campaign id → {"queued": n, "sent": n}: the campaign's email outbox messages."""
    campaign_id = OutboxMessage.payload["campaign_id"].as_integer()
    rows = session.execute(
        select(campaign_id, OutboxMessage.state, func.count(OutboxMessage.id))
        .where(OutboxMessage.channel == "email", campaign_id.is_not(None))
        .group_by(campaign_id, OutboxMessage.state)
    )
    counts: dict[int, dict[str, int]] = defaultdict(lambda: {"queued": 0, "sent": 0})
    for cid, state, n in rows:
        counts[int(cid)]["queued"] += n
        if state == "sent":
            counts[int(cid)]["sent"] += n
    return counts


def _count_by(session: Session, column: Any, key: Any, *where: Any) -> dict[int, int]:
    rows = session.execute(select(key, func.count(column)).where(key.is_not(None), *where).group_by(key))
    return {int(k): int(n) for k, n in rows}


def _campaigns(session: Session, params: Params) -> list[Campaign]:
    since, until = window(params)
    wanted = params.get("campaign")
    found = [c for c in session.scalars(select(Campaign).order_by(Campaign.id))
             if within(c.created_at, since, until)]
    if wanted in (None, ""):
        return found
    chosen = [c for c in found if str(c.id) == str(wanted) or c.number == str(wanted)]
    if not chosen:
        raise ReportError(f"no campaign {wanted!r} (give a campaign id or number)")
    return chosen


def campaigns(session: Session, now: datetime, params: Params) -> list[Row]:
    chosen = _campaigns(session, params)
    if not chosen:
        return []
    members, reached, mails = list_members(session), reached_members(session), emails(session)
    responses = _count_by(session, CampaignResponse.id, CampaignResponse.campaign_id)
    leads = _count_by(session, Lead.id, Lead.source_campaign_id)
    rows = []
    for c in chosen:
        cost = campaign_cost(session, c)
        revenue, won = won_revenue(session, c.id)
        rows.append({
            "number": c.number,
            "name": c.name,
            "state": c.state,
            "list_members": len(members.get(c.id, ())),
            "reached": len(reached.get(c.id, ())),
            "emails_queued": mails[c.id]["queued"] if c.id in mails else 0,
            "emails_delivered": mails[c.id]["sent"] if c.id in mails else 0,
            "responses": responses.get(c.id, 0),
            "leads": leads.get(c.id, 0),
            "won_opportunities": won,
            "won_revenue": money(revenue),
            "cost": money(cost),
            "roi_percent": percent(revenue - cost, cost),
        })
    return rows


def funnel(session: Session, now: datetime, params: Params) -> list[Row]:
    """List members → reached → responses → leads → qualified leads → won, summed over the
    chosen campaigns (param `campaign`: an id or number; default all). Each stage's
    conversion is against the stage before it."""
    chosen = _campaigns(session, params)
    if not chosen:
        return []
    ids = [c.id for c in chosen]
    members, reached = list_members(session), reached_members(session)
    responses = _count_by(session, CampaignResponse.id, CampaignResponse.campaign_id)
    leads = _count_by(session, Lead.id, Lead.source_campaign_id)
    qualified = _count_by(session, Lead.id, Lead.source_campaign_id, Lead.state == "Qualified")
    revenue, won = Decimal("0"), 0
    for cid in ids:
        r, w = won_revenue(session, cid)
        revenue, won = revenue + r, won + w
    stages = [
        ("list members", sum(len(members.get(i, ())) for i in ids), None),
        ("reached", sum(len(reached.get(i, ())) for i in ids), None),
        ("responses", sum(responses.get(i, 0) for i in ids), None),
        ("leads", sum(leads.get(i, 0) for i in ids), None),
        ("qualified", sum(qualified.get(i, 0) for i in ids), None),
        ("won", won, money(revenue)),
    ]
    rows, previous = [], None
    for stage, count, value in stages:
        rows.append({"stage": stage, "count": count,
                     "conversion_percent": None if previous is None else percent(count, previous), "value": value})
        previous = count
    return rows


REPORTS = (
    Report("campaigns", "Campaigns", "marketing",
           "Per campaign: list members, members reached, emails queued and delivered (sent), responses, leads, "
           "won opportunities and revenue, cost and ROI % = (revenue − cost) / cost.",
           cols(("number", "Campaign"), ("name", "Name"), ("state", "State"), ("list_members", "Members", "int"),
                ("reached", "Reached", "int"), ("emails_queued", "Emails queued", "int"),
                ("emails_delivered", "Delivered", "int"), ("responses", "Responses", "int"), ("leads", "Leads", "int"),
                ("won_opportunities", "Won", "int"), ("won_revenue", "Won revenue", "money"),
                ("cost", "Cost", "money"), ("roi_percent", "ROI %", "percent")),
           campaigns, params=(*WINDOW, "campaign")),
    Report("funnel", "Marketing funnel", "marketing",
           "List members → reached → responses → leads → qualified → won revenue, over all campaigns "
           "or one (param campaign).",
           cols(("stage", "Stage"), ("count", "Count", "int"), ("conversion_percent", "Conversion %", "percent"),
                ("value", "Value", "money")),
           funnel, params=(*WINDOW, "campaign")),
)
