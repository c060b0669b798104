"""The customer 360: everything the CRM holds about one account (or a contact and her account).

One read gathers open opportunities, live quotes, orders, invoices with the open balance, cases
with their SLA, campaign responses and one activity timeline over the customer and the records
around it, plus `refs` (record kind → ids) so the web layer can find the processes running for
the customer without this module knowing of processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from .errors import RecordNotFound
from .models import (
    Account,
    Activity,
    CampaignResponse,
    Case,
    Contact,
    Invoice,
    Lead,
    Opportunity,
    Quote,
    SalesOrder,
    SlaKpiInstance,
)

OPEN_INVOICE_STATES = ("Active",)


@dataclass
class CaseSla:
    case: Case
    kpi: str | None  # the KPI on the clock that fails first
    sla_status: str | None  # In Progress / Nearing Noncompliance / Noncompliant / Paused
    failure_at: datetime | None


@dataclass
class Customer360:
    account: Account | None
    contact: Contact | None
    contacts: list[Contact]
    opportunities: list[Opportunity]
    quotes: list[Quote]
    orders: list[SalesOrder]
    invoices: list[Invoice]
    balance: Decimal
    cases: list[CaseSla]
    responses: list[CampaignResponse]
    timeline: list[Activity]
    refs: dict[str, set[int]] = field(default_factory=dict)


def for_account(session: Session, account_id: int) -> Customer360:
    account = session.get(Account, account_id)
    if account is None:
        raise RecordNotFound(f"account {account_id} does not exist")
    contacts = list(session.scalars(select(Contact).where(Contact.account_id == account_id).order_by(Contact.id)))
    return _gather(session, account, None, contacts)


def for_contact(session: Session, contact_id: int) -> Customer360:
    contact = session.get(Contact, contact_id)
    if contact is None:
        raise RecordNotFound(f"contact {contact_id} does not exist")
    account = session.get(Account, contact.account_id) if contact.account_id else None
    return _gather(session, account, contact, [contact])


def _gather(session: Session, account: Account | None, contact: Contact | None,
            contacts: list[Contact]) -> Customer360:
    contact_ids = [c.id for c in contacts]

    def mine(model: Any) -> Any:
        """Records of the customer: the contact's own when a contact is asked for, else the account's."""
        if contact is not None:
            return model.contact_id == contact.id
        return or_(model.account_id == account.id, model.contact_id.in_(contact_ids or [-1]))

    opportunities = list(session.scalars(select(Opportunity).where(mine(Opportunity), Opportunity.state == "Open")
                                         .order_by(Opportunity.id.desc())))
    quotes = list(session.scalars(select(Quote).where(mine(Quote), Quote.state.in_(("Draft", "Active")))
                                  .order_by(Quote.id.desc())))
    orders = list(session.scalars(select(SalesOrder).where(mine(SalesOrder)).order_by(SalesOrder.id.desc())))
    invoices = list(session.scalars(select(Invoice).where(mine(Invoice)).order_by(Invoice.id.desc())))
    balance = sum((i.balance for i in invoices if i.state in OPEN_INVOICE_STATES), Decimal("0"))
    cases = list(session.scalars(select(Case).where(mine(Case)).order_by(Case.state, Case.id.desc())))
    leads = list(session.scalars(select(Lead).where(mine(Lead))))
    all_opps = list(session.scalars(select(Opportunity.id).where(mine(Opportunity))))
    responses = list(session.scalars(select(CampaignResponse).where(or_(
        and_(CampaignResponse.customer_type == "contact", CampaignResponse.customer_id.in_(contact_ids or [-1])),
        and_(CampaignResponse.customer_type == "account",
             CampaignResponse.customer_id == (account.id if account and contact is None else -1)),
    )).order_by(CampaignResponse.received_at.desc())))
    refs: dict[str, set[int]] = {
        "account": {account.id} if account else set(), "contact": set(contact_ids),
        "lead": {x.id for x in leads}, "opportunity": set(all_opps), "case": {c.id for c in cases},
        "quote": {q.id for q in quotes}, "order": {o.id for o in orders}, "invoice": {i.id for i in invoices},
    }
    regarding = [and_(Activity.regarding_type == kind, Activity.regarding_id.in_(ids))
                 for kind, ids in refs.items() if ids and kind in ("account", "contact", "lead", "opportunity", "case")]
    timeline = list(session.scalars(select(Activity).where(or_(*regarding))
                                    .order_by(Activity.created_at.desc(), Activity.id.desc()).limit(200))) \
        if regarding else []
    return Customer360(account, contact, contacts, opportunities, quotes, orders, invoices, balance,
                       [_sla(session, c) for c in cases], responses, timeline, refs)


def _sla(session: Session, case: Case) -> CaseSla:
    kpis = [k for k in session.scalars(select(SlaKpiInstance).where(SlaKpiInstance.case_id == case.id))
            if k.status not in ("Succeeded", "Canceled")]
    if case.state != "Active" or not kpis:
        return CaseSla(case, None, None, None)
    first = min(kpis, key=lambda k: k.failure_at)
    return CaseSla(case, first.kpi, first.status, None if first.status == "Paused" else first.failure_at)
