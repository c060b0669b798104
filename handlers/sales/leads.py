"""Sales leads: capture (deduplicated by email), score, contact, qualify into an account /
contact / opportunity, or disqualify.

Split from the sales module so a lead's rules read on their own; the opportunity a
qualification opens takes its forecast rules from `opportunities` and its price list from
`quotes`. `BpmnError("lead_closed")`: the lead was qualified or disqualified meanwhile.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import BpmnError, ServiceContext

from .. import lifecycle as lc
from ..errors import DomainError
from ..models import Account, Contact, Lead, Opportunity
from ..pricing import ZERO
from ..support import choose, fetch, normalize_email, operation, to_decimal
from .opportunities import parse_date, win_probability
from .quotes import active_price_list


def lead_view(lead: Lead, duplicate: bool = False) -> dict[str, Any]:
    return {
        "lead_id": lead.id,
        "email": lead.email,
        "state": lead.state,
        "status": lead.status,
        "duplicate": duplicate,
        "source_campaign_id": lead.source_campaign_id,
    }


def find_open_lead(session: Session, email_normalized: str) -> Lead | None:
    return session.scalars(
        select(Lead).where(Lead.email_normalized == email_normalized, Lead.state == "Open").order_by(Lead.id)
    ).first()


@operation("sales/capture_lead")
def capture_lead(
    ctx: ServiceContext,
    email: str,
    last_name: str | None = None,
    first_name: str | None = None,
    company_name: str | None = None,
    topic: str | None = None,
    phone: str | None = None,
    lead_source: str | None = None,
    region: str | None = None,
    source_campaign_id: int | None = None,
) -> dict[str, Any]:
    """Record an inquiry as a lead, or return the open lead that already has this email.

    Deduplication is case-insensitive and only against open leads: someone disqualified
    last year who asks again is a new lead.
    """
    normalized = normalize_email(email)
    existing = find_open_lead(ctx.session, normalized)
    if existing is not None:
        # fill what the first inquiry did not say; never overwrite what it did
        for field, value in (
            ("first_name", first_name),
            ("last_name", last_name),
            ("company_name", company_name),
            ("topic", topic),
            ("phone", phone),
            ("region", region),
            ("source_campaign_id", source_campaign_id),
        ):
            if value is not None and getattr(existing, field) is None:
                setattr(existing, field, value)
        ctx.session.flush()
        return lead_view(existing, duplicate=True)
    if source_campaign_id is not None:
        from ..models import Campaign

        fetch(ctx.session, Campaign, source_campaign_id)
    lead = Lead(
        email=email.strip(),
        email_normalized=normalized,
        first_name=first_name,
        last_name=last_name,
        company_name=company_name,
        topic=topic,
        phone=phone,
        lead_source=lead_source,
        region=region,
        source_campaign_id=source_campaign_id,
    )
    lc.LEAD.start(lead, ctx.now)
    ctx.session.add(lead)
    ctx.session.flush()
    return lead_view(lead)


def _open_lead(ctx: ServiceContext, lead_id: int, action: str) -> Lead:
    lead = fetch(ctx.session, Lead, lead_id)
    if lead.state != "Open":
        raise BpmnError(
            "lead_closed", f"lead {lead.label} is {lead.state} ({lead.status}); only an Open lead can be {action}"
        )
    return lead


@operation("sales/record_lead_score")
def record_lead_score(ctx: ServiceContext, lead_id: int, score: int, rating: str | None = None) -> dict[str, Any]:
    """Store the score (and Hot/Warm/Cold rating) a scoring decision table produced."""
    lead = _open_lead(ctx, lead_id, "scored")
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 100:
        raise DomainError(f"lead score must be an integer from 0 to 100, not {score!r}")
    if rating is not None:
        choose(rating, ("Hot", "Warm", "Cold"), "rating")
    lead.score, lead.rating = score, rating
    ctx.session.flush()
    return {"lead_id": lead.id, "score": score, "rating": rating}


@operation("sales/mark_lead_contacted")
def mark_lead_contacted(ctx: ServiceContext, lead_id: int) -> dict[str, Any]:
    lead = _open_lead(ctx, lead_id, "contacted")
    lc.LEAD.move(lead, "Open", "Contacted", ctx.now)
    ctx.session.flush()
    return lead_view(lead)


def _find_contact(session: Session, email_normalized: str) -> Contact | None:
    return session.scalars(
        select(Contact).where(Contact.email_normalized == email_normalized).order_by(Contact.id)
    ).first()


@operation("sales/qualify_lead")
def qualify_lead(
    ctx: ServiceContext,
    lead_id: int,
    create_account: bool = True,
    create_contact: bool = True,
    opportunity_name: str | None = None,
    estimated_value: str | None = None,
    estimated_close_date: str | None = None,
    price_list_id: int | None = None,
    owner: str | None = None,
    probability: int | None = None,
) -> dict[str, Any]:
    """Qualify: account (if the lead names a company) and/or contact, plus an opportunity.

    `estimated_value`, `estimated_close_date` and `probability` (0–100 %) are the rep's
    forecast: the pipeline and forecast reports weight the value by the probability.

    An existing contact with the lead's email is reused rather than duplicated. The
    opportunity keeps the lead's source campaign, so won revenue counts for the campaign.
    Its owner (whose win rate and quota it counts for) is `owner` if given, else the user
    who set this step going (who completed the qualify task), else nobody.
    """
    lead = _open_lead(ctx, lead_id, "qualified")
    owner_name = _owner(owner) or ctx.user
    account = contact = None
    if create_account and lead.company_name:
        account = Account(name=lead.company_name, email=lead.email, phone=lead.phone, region=lead.region)
        account.originating_lead_id = lead.id
        lc.ACCOUNT.start(account, ctx.now)
        ctx.session.add(account)
        ctx.session.flush()
    if create_contact:
        contact = _find_contact(ctx.session, lead.email_normalized)
        if contact is None:
            contact = Contact(
                first_name=lead.first_name,
                last_name=lead.last_name or lead.email.split("@")[0],
                email=lead.email,
                email_normalized=lead.email_normalized,
                phone=lead.phone,
                region=lead.region,
                originating_lead_id=lead.id,
            )
            lc.CONTACT.start(contact, ctx.now)
            ctx.session.add(contact)
        if account is not None and contact.account_id is None:
            contact.account_id = account.id
        ctx.session.flush()
    if account is None and contact is None:
        raise DomainError(f"qualifying lead {lead.label} must create an account or a contact for the opportunity")
    if price_list_id is not None:
        active_price_list(ctx.session, price_list_id)
    opportunity = Opportunity(
        name=opportunity_name or lead.topic or f"Opportunity for {lead.company_name or lead.email}",
        account_id=account.id if account else None,
        contact_id=contact.id if contact else None,
        originating_lead_id=lead.id,
        source_campaign_id=lead.source_campaign_id,
        price_list_id=price_list_id,
        estimated_value=None
        if estimated_value is None
        else to_decimal(estimated_value, "estimated_value", minimum=ZERO),
        estimated_close_date=None if estimated_close_date is None else parse_date(estimated_close_date, "close date"),
        probability=win_probability(probability),
        owner=owner_name,
    )
    lc.OPPORTUNITY.start(opportunity, ctx.now)
    ctx.session.add(opportunity)
    ctx.session.flush()
    lc.LEAD.move(lead, "Qualified", "Qualified", ctx.now)
    lead.account_id = opportunity.account_id
    lead.contact_id = opportunity.contact_id
    lead.qualified_opportunity_id = opportunity.id
    lead.closed_at = ctx.now
    ctx.session.flush()
    return {
        "lead_id": lead.id,
        "account_id": opportunity.account_id,
        "contact_id": opportunity.contact_id,
        "opportunity_id": opportunity.id,
        "source_campaign_id": opportunity.source_campaign_id,
        "owner": opportunity.owner,
    }


OWNER_LENGTH = 150


def _owner(value: Any) -> str | None:
    """An explicit opportunity owner: a user name, or None (blank) to fall back on who acts."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise DomainError(f"opportunity owner must be a user name (text), not {value!r}")
    if len(value.strip()) > OWNER_LENGTH:
        raise DomainError(f"opportunity owner {value.strip()[:40]!r}… is longer than {OWNER_LENGTH} characters")
    return value.strip()


@operation("sales/disqualify_lead")
def disqualify_lead(ctx: ServiceContext, lead_id: int, reason: str) -> dict[str, Any]:
    """Disqualify with a reason: Lost, Cannot Contact, No Longer Interested or Canceled."""
    choose(reason, lc.LEAD_DISQUALIFY_REASONS, "disqualify reason")
    lead = _open_lead(ctx, lead_id, "disqualified")
    lc.LEAD.move(lead, "Disqualified", reason, ctx.now)
    lead.closed_at = ctx.now
    ctx.session.flush()
    return lead_view(lead)

