"""Stored rows as the plain views the facade returns (engine/views.py).

Shared by the read room (`rooms/reading.py`) and the unit of work, which answers its caller
from the rows it just wrote without reading them back. Each takes an ORM object or a Core row
of its table (read by column name, which is the attribute name).
"""

from __future__ import annotations

from .models import HistoryEntry, HumanTask, Incident, MessageSubscription, Timer
from .views import HistoryView, HumanTaskView, IncidentView, SubscriptionView, TimerView


def task_view(t: HumanTask) -> HumanTaskView:
    return HumanTaskView(
        id=t.id, instance_id=t.instance_id, process_id=t.process_id, business_key=t.business_key,
        element_id=t.element_id, name=t.name, kind=t.kind, lane=t.lane, queue=t.queue, form=t.form,
        instructions=t.instructions, assignee=t.assignee, claimed_at=t.claimed_at,
        candidate_groups=list(t.candidate_groups or []), priority=t.priority, due_at=t.due_at,
        follow_up_at=t.follow_up_at, state=t.state, created_at=t.created_at, completed_at=t.completed_at,
        completed_by=t.completed_by,
    )


def timer_view(t: Timer, instance_status: str | None = None) -> TimerView:
    return TimerView(t.id, t.instance_id, t.element_id, t.name, t.kind, t.due_at, t.state, t.fired_at,
                     instance_status)


def incident_view(i: Incident) -> IncidentView:
    return IncidentView(
        id=i.id, instance_id=i.instance_id, element_id=i.element_id, element_name=i.element_name,
        error_type=i.error_type, message=i.message, attempts=i.attempts, retries_left=i.retries_left,
        next_retry_at=i.next_retry_at, state=i.state, created_at=i.created_at, resolved_at=i.resolved_at,
    )


def subscription_view(s: MessageSubscription) -> SubscriptionView:
    return SubscriptionView(s.instance_id, s.element_id, s.message_name, s.correlation_key)


def history_view(h: HistoryEntry) -> HistoryView:
    return HistoryView(h.id, h.at, h.event, h.element_id, h.element_name, h.element_type, h.user, h.data_delta)
