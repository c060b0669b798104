"""Builders for hand-picked records: each fills only what the test cares about, the rest with
valid constants, so a test's seed list reads as the figures it expects."""

from __future__ import annotations

import itertools
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from engine.models import (
    DefinitionFile,
    HistoryEntry,
    HumanTask,
    Incident,
    Instance,
    MessageSubscription,
    OutboxMessage,
    ProcessVersion,
    Timer,
)
from handlers.models import (
    Account,
    Activity,
    Campaign,
    CampaignActivity,
    CampaignList,
    CampaignResponse,
    Case,
    CaseResolution,
    Entitlement,
    Invoice,
    Lead,
    MarketingList,
    MarketingListMember,
    Opportunity,
    Quote,
    SalesOrder,
    SlaKpiInstance,
)
from handlers.models.sales import SalesQuota

_ids = itertools.count(1)


def _n() -> int:
    return next(_ids)


def add(session: Session, record: Any) -> Any:
    session.add(record)
    session.flush()
    return record


def account(s: Session, name: str, at: datetime) -> Account:
    return add(s, Account(name=name, state="Active", status="Active", created_at=at))


def lead(s: Session, at: datetime, state: str = "Open", status: str = "New", campaign: Campaign | None = None) -> Lead:
    n = _n()
    return add(s, Lead(email=f"lead{n}@x.example", email_normalized=f"lead{n}@x.example", state=state, status=status,
                       created_at=at, state_changed_at=at, source_campaign_id=campaign.id if campaign else None))


def opportunity(s: Session, at: datetime, *, state: str = "Open", status: str = "In Progress",
                value: str | None = None, probability: int | None = None, close: date | None = None,
                lead_id: int | None = None, changed: datetime | None = None, actual: str | None = None,
                owner: str | None = None) -> Opportunity:
    """A closed (Won / Lost) one gets its close day from `changed`, as `sales/close_opportunity` sets both."""
    closed_on = (changed or at).date() if state in ("Won", "Lost") else None
    return add(s, Opportunity(
        name=f"Opportunity {_n()}", state=state, status=status, created_at=at, state_changed_at=changed or at,
        estimated_value=None if value is None else Decimal(value), probability=probability,
        estimated_close_date=close, originating_lead_id=lead_id,
        actual_value=None if actual is None else Decimal(actual), actual_close_date=closed_on, owner=owner,
    ))


def quota(s: Session, owner: str, start: date, end: date, target: str, at: datetime,
          team: str | None = None) -> SalesQuota:
    return add(s, SalesQuota(owner=owner, team=team, period_start=start, period_end=end, target=Decimal(target),
                             created_at=at))


def quote(s: Session, at: datetime, state: str, status: str, total: str, account_id: int | None = None,
          effective_to: date | None = None) -> Quote:
    return add(s, Quote(number=f"Q-{_n():05d}", revision=0, name="Quote", state=state, status=status, created_at=at,
                        total_amount=Decimal(total), account_id=account_id, effective_to=effective_to))


def order(s: Session, at: datetime, state: str, status: str, total: str) -> SalesOrder:
    return add(s, SalesOrder(number=f"ORD-{_n():05d}", name="Order", state=state, status=status, created_at=at,
                             total_amount=Decimal(total)))


def invoice(s: Session, at: datetime, state: str, status: str, total: str, paid: str, due: date) -> Invoice:
    return add(s, Invoice(number=f"INV-{_n():05d}", name="Invoice", state=state, status=status, created_at=at,
                          total_amount=Decimal(total), amount_paid=Decimal(paid), due_date=due))


def campaign(s: Session, at: datetime, other_cost: str = "0") -> Campaign:
    return add(s, Campaign(number=f"CMP-{_n():05d}", name=f"Campaign {_n()}", state="Launched", status="Launched",
                           created_at=at, other_cost=Decimal(other_cost)))


def campaign_activity(s: Session, c: Campaign, at: datetime, cost: str, state: str = "Completed") -> CampaignActivity:
    return add(s, CampaignActivity(campaign_id=c.id, channel="email", subject="Hello", cost=Decimal(cost), state=state,
                                   status=state if state != "Open" else "Proposed", created_at=at))


def marketing_list(s: Session, at: datetime, member_ids: list[int], campaigns: list[Campaign]) -> MarketingList:
    mlist = add(s, MarketingList(name=f"List {_n()}", member_type="contact", state="Active", status="Active",
                                 created_at=at))
    for mid in member_ids:
        s.add(MarketingListMember(list_id=mlist.id, member_id=mid, added_at=at))
    for c in campaigns:
        s.add(CampaignList(campaign_id=c.id, list_id=mlist.id))
    s.flush()
    return mlist


def reach(s: Session, c: Campaign, wave: CampaignActivity, member_id: int, at: datetime) -> Activity:
    """What a distribution leaves per member: an outgoing activity carrying the campaign ids."""
    return add(s, Activity(activity_type="email", subject="Hello", regarding_type="contact", regarding_id=member_id,
                           direction="outgoing", state="Completed", status="Sent", created_at=at,
                           details={"campaign_id": c.id, "campaign_activity_id": wave.id}))


def outbox_email(s: Session, campaign_id: int | None, state: str, at: datetime) -> OutboxMessage:
    payload: dict[str, Any] = {"to": "x@x.example", "subject": "s", "body": "b"}
    if campaign_id is not None:
        payload["campaign_id"] = campaign_id
    return add(s, OutboxMessage(channel="email", idempotency_key=f"k{_n()}", payload=payload, state=state,
                                attempts=0, created_at=at, next_attempt_at=at, sent_at=at if state == "sent" else None))


def response(s: Session, c: Campaign, at: datetime, lead_id: int | None = None) -> CampaignResponse:
    return add(s, CampaignResponse(campaign_id=c.id, channel="email", response_code="Interested", state="Open",
                                   status="Open", created_at=at, received_at=at, converted_lead_id=lead_id))


def case(s: Session, at: datetime, *, state: str = "Active", status: str = "In Progress", priority: str = "Normal",
         queue: str | None = "support", resolved: datetime | None = None, changed: datetime | None = None,
         on_hold: datetime | None = None, resolve_by: datetime | None = None, reopened: int = 0) -> Case:
    return add(s, Case(number=f"CAS-{_n():05d}", title="Case", origin="Email", priority=priority, queue=queue,
                       state=state, status=status, created_at=at, state_changed_at=changed or resolved or at,
                       resolved_at=resolved, on_hold_since=on_hold, resolve_by=resolve_by, reopened_count=reopened))


def resolution(s: Session, c: Case, at: datetime) -> CaseResolution:
    return add(s, CaseResolution(case_id=c.id, subject="Fixed", resolution_type="Problem Solved", resolved_at=at))


def kpi(s: Session, c: Case, name: str, at: datetime, failure: datetime, state: str, status: str) -> SlaKpiInstance:
    return add(s, SlaKpiInstance(case_id=c.id, kpi=name, state=state, status=status, created_at=at,
                                 warning_at=at + (failure - at) / 2, failure_at=failure, paused_seconds=0))


def entitlement(s: Session, at: datetime, name: str, total: str, remaining: str,
                account_id: int | None = None) -> Entitlement:
    return add(s, Entitlement(name=name, allocation_type="cases", decrease_on="creation", total_terms=Decimal(total),
                              remaining_terms=Decimal(remaining), start_date=at.date(),
                              end_date=at.date() + timedelta(days=365), state="Active", status="Active",
                              created_at=at, account_id=account_id))


# -- engine tables ------------------------------------------------------------------------------
def version(s: Session, process_id: str, number: int, at: datetime) -> ProcessVersion:
    n = _n()
    f = add(s, DefinitionFile(name=f"{process_id}.bpmn", kind="bpmn", content_hash=f"h{n}", content=b"<x/>",
                              deployed_at=at))
    return add(s, ProcessVersion(process_id=process_id, name=process_id, version=number, content_hash=f"h{n}",
                                 file_id=f.id, spec_json="{}", serializer_version="1", message_starts=[],
                                 deployed_at=at))


def instance(s: Session, v: ProcessVersion, at: datetime, status: str = "waiting", key: str | None = None,
             variables: dict[str, Any] | None = None) -> Instance:
    return add(s, Instance(process_id=v.process_id, version_id=v.id, business_key=key, status=status, state="",
                           variables=json.dumps(variables) if variables is not None else None,
                           serializer_version="1", lock_version=1, created_at=at, updated_at=at))


def history(s: Session, inst: Instance, at: datetime, event: str, element_id: str | None = None,
            task_id: str | None = None, element_type: str | None = None) -> HistoryEntry:
    return add(s, HistoryEntry(instance_id=inst.id, at=at, event=event, element_id=element_id, task_id=task_id,
                               element_name=element_id.replace("_", " ").title() if element_id else None,
                               element_type=element_type))


def human_task(s: Session, inst: Instance, element_id: str, at: datetime, *, done: datetime | None = None,
               by: str | None = None) -> HumanTask:
    return add(s, HumanTask(id=f"task-{_n()}", instance_id=inst.id, process_id=inst.process_id,
                            business_key=inst.business_key, element_id=element_id, name=element_id, kind="user",
                            candidate_groups=[], state="completed" if done else "open", created_at=at,
                            completed_at=done, completed_by=by))


def timer(s: Session, inst: Instance, element_id: str, at: datetime, due: datetime) -> Timer:
    return add(s, Timer(instance_id=inst.id, task_id=f"t{_n()}", element_id=element_id, kind="duration", due_at=due,
                        state="pending", created_at=at))


def subscription(s: Session, inst: Instance, element_id: str, at: datetime) -> MessageSubscription:
    return add(s, MessageSubscription(instance_id=inst.id, task_id=f"t{_n()}", element_id=element_id,
                                      message_name="m", created_at=at))


def incident(s: Session, inst: Instance, element_id: str, at: datetime, *, state: str = "open",
             retries_left: int = 0) -> Incident:
    return add(s, Incident(instance_id=inst.id, element_id=element_id, element_name=element_id,
                           error_type="ValueError", message=f"boom {_n()}", attempts=1, retries_left=retries_left,
                           next_retry_at=at + timedelta(minutes=1) if retries_left else None, state=state,
                           created_at=at))
