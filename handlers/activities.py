"""Activities (phone call, email, task, ...) regarding a lead, contact, account,
opportunity or case: log one, complete it, cancel it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.services import ServiceContext

from . import lifecycle as lc
from .errors import DomainError
from .models import Account, Activity, Contact, Lead, Opportunity
from .models.common import ACTIVITY_TYPES, REGARDING_TYPES
from .models.service import Case
from .support import choose, fetch, operation

REGARDING_MODELS = {"lead": Lead, "contact": Contact, "account": Account, "opportunity": Opportunity, "case": Case}


def new_activity(
    ctx: ServiceContext,
    activity_type: str,
    subject: str,
    regarding_type: str | None = None,
    regarding_id: int | None = None,
    description: str | None = None,
    direction: str | None = None,
    due_at: datetime | None = None,
    details: dict[str, Any] | None = None,
    flush: bool = True,
) -> Activity:
    """An Open activity (checked: known type, existing regarding record). Not an operation:
    other handlers use it to log what they did.

    `flush=False` leaves the INSERT to the caller's own flush: a caller that completes the
    activity at once then writes it in one INSERT instead of an INSERT and an UPDATE (its
    `id` is set only after that flush)."""
    choose(activity_type, ACTIVITY_TYPES, "activity type")
    if (regarding_type is None) != (regarding_id is None):
        raise DomainError("an activity regards both a record type and an id, or neither")
    if regarding_type is not None:
        choose(regarding_type, REGARDING_TYPES, "regarding type")
        fetch(ctx.session, REGARDING_MODELS[regarding_type], regarding_id)
    activity = Activity(
        activity_type=activity_type,
        subject=subject,
        description=description,
        regarding_type=regarding_type,
        regarding_id=None if regarding_id is None else int(regarding_id),
        direction=direction,
        due_at=due_at,
        details=details or {},
    )
    lc.ACTIVITY.start(activity, ctx.now)
    ctx.session.add(activity)
    if flush:
        ctx.session.flush()
    return activity


def activity_view(activity: Activity) -> dict[str, Any]:
    return {
        "activity_id": activity.id,
        "activity_type": activity.activity_type,
        "state": activity.state,
        "status": activity.status,
        "regarding_type": activity.regarding_type,
        "regarding_id": activity.regarding_id,
    }


@operation("activities/log")
def log_activity(
    ctx: ServiceContext,
    activity_type: str,
    subject: str,
    regarding_type: str | None = None,
    regarding_id: int | None = None,
    description: str | None = None,
    direction: str | None = None,
    completed: bool = False,
) -> dict[str, Any]:
    """Log an activity; `completed=True` records one that already happened (a call made)."""
    activity = new_activity(ctx, activity_type, subject, regarding_type, regarding_id, description, direction,
                            flush=not completed)  # completing it flushes it
    if completed:
        _finish(ctx, activity, "Completed", None)
    return activity_view(activity)


def _finish(ctx: ServiceContext, activity: Activity, state: str, status: str | None) -> None:
    lc.ACTIVITY.require(activity, ["Open"], "completed" if state == "Completed" else "canceled")
    lc.ACTIVITY.move(activity, state, status, ctx.now)
    activity.completed_at = ctx.now
    ctx.session.flush()


@operation("activities/complete")
def complete_activity(ctx: ServiceContext, activity_id: int, status: str = "Completed") -> dict[str, Any]:
    activity = fetch(ctx.session, Activity, activity_id)
    _finish(ctx, activity, "Completed", status)
    return activity_view(activity)


@operation("activities/cancel")
def cancel_activity(ctx: ServiceContext, activity_id: int) -> dict[str, Any]:
    activity = fetch(ctx.session, Activity, activity_id)
    _finish(ctx, activity, "Canceled", None)
    return activity_view(activity)


# -- activities as people's work (the workspace pages and API; not process operations) --------

#: what a person logs by hand from a record page
LOGGABLE = ("phone_call", "email", "appointment", "task", "letter", "fax")


def log_by_hand(
    session: Session, now: datetime, owner: str, activity_type: str, subject: str,
    regarding_type: str | None, regarding_id: int | None, description: str | None = None,
    due_at: datetime | None = None, completed: bool = False, direction: str | None = None,
) -> Activity:
    """An activity a person logs against a record: hers (owner), due when she says; a call
    already made is logged `completed` (it stays on the timeline, not on her list)."""
    choose(activity_type, LOGGABLE, "activity type")
    if not (subject or "").strip():
        raise DomainError("an activity needs a subject (what the call, email or appointment is about)")
    ctx = ServiceContext(session=session, instance_id=0, process_id="", business_key=None, element_id="",
                         task_id="", now=now, user=owner)
    activity = new_activity(ctx, activity_type, subject.strip(), regarding_type, regarding_id, description,
                            direction, due_at)
    activity.owner = owner
    if completed:
        _finish(ctx, activity, "Completed", None)
    return activity


def close_by_hand(session: Session, now: datetime, activity_id: int, cancel: bool = False) -> Activity:
    """Complete (or cancel) an open activity; a closed one says so."""
    ctx = ServiceContext(session=session, instance_id=0, process_id="", business_key=None, element_id="",
                         task_id="", now=now)
    activity = fetch(session, Activity, activity_id)
    _finish(ctx, activity, "Canceled" if cancel else "Completed", None)
    return activity


def open_activities_of(session: Session, owner: str) -> list[Activity]:
    """A person's open activities, those due first (no due time last)."""
    stmt = select(Activity).where(Activity.owner == owner, Activity.state == "Open").order_by(
        Activity.due_at.is_(None), Activity.due_at, Activity.id)
    return list(session.scalars(stmt))


def overdue_count(activities: list[Activity], now: datetime) -> int:
    return sum(1 for a in activities if a.due_at is not None and a.due_at < now)
