"""Marketing responses: record an answer to a campaign (matched to a contact, open lead or
account; "Do Not Send Marketing Materials" unsubscribes), convert it to a lead through
sales' capture rules, or close it.

Split from the marketing module.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.services import ServiceContext

from .. import lifecycle as lc
from ..errors import DomainError
from ..models import Account, Activity, Campaign, CampaignActivity, CampaignResponse, Contact, Lead
from ..models.marketing import CHANNELS, RESPONSE_CODES
from ..sales.leads import capture_lead
from ..support import choose, fetch, normalize_email, operation

DO_NOT_SEND = "Do Not Send Marketing Materials"


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

