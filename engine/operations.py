"""Operator actions on one instance: cancel, suspend, resume, edit variables, fire a timer now.

Each action is one transaction that locks the instance row, refuses clearly when the instance
is in the wrong state, and writes a history row naming who acted and why. The facade's methods
delegate here in one line; the unit of work (`unit`) does the loading and saving where the
workflow itself changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from . import instances as records
from .core import conflicts_as_errors
from .data_parsing import parse_data
from .errors import Conflict, InvalidInput, NotFound
from .instances import InstanceRecord
from .models import HistoryEntry, HumanTask, Incident, Instance, Job, MessageSubscription, Timer
from .rooms.reading import get_instance
from .rooms.starting import run, save
from .services import to_json_value
from .task_dates import TASK_KINDS
from .unit import Suspended, Unit, suspended_error
from .views import InstanceDetail

if TYPE_CHECKING:
    from .core import EngineCore as Engine  # the engine's state; the facade is never imported here

__all__ = ["Suspended", "suspended_error"]  # raised here; callers name them as engine.operations'

FINISHED = ("completed", "terminated", "cancelled")
ACTIVE_TASK_STATES = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
MAX_REASON = 2000


def clean_reason(reason: str | None, required: bool = False) -> str | None:
    text = (reason or "").strip()
    if required and not text:
        raise InvalidInput("reason: say why (it is kept in the instance's history)")
    return text[:MAX_REASON] or None


@dataclass
class CleanupResult:
    """What a history cleanup removed (or, in a dry run, would remove)."""

    dry_run: bool
    instances: list[int] = field(default_factory=list)
    by_process: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "removed": len(self.instances), "instances": self.instances,
                "by_process": self.by_process}


def _locked(engine: Engine, session: Session, instance_id: int) -> InstanceRecord:
    record = records.load(session, instance_id, lock=not engine.db.is_sqlite)
    if record is None:
        raise NotFound(f"instance {instance_id} does not exist (crmflow instances lists them)")
    return record


def _history(session: Session, instance_id: int, event: str, now: datetime, user: str | None,
             delta: dict[str, Any] | None) -> None:
    session.add(HistoryEntry(instance_id=instance_id, at=now, event=event, user=user, data_delta=delta))


# -- cancel ---------------------------------------------------------------------------------

def cancel(engine: Engine, instance_id: int, user: str | None, reason: str | None) -> InstanceDetail:
    """End the instance for good: its open tasks leave every worklist, its timers, message
    subscriptions and jobs go, its open incidents are closed."""
    why = clean_reason(reason, required=True)
    now = engine.now()
    with engine.db.write() as session:
        record = _locked(engine, session, instance_id)
        if record.status in FINISHED:
            raise Conflict(f"instance {instance_id} has already {record.status}; only unfinished instances cancel")
        tasks = session.execute(
            update(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.state == "open")
            .values(state="cancelled", completed_at=now)
        ).rowcount
        timers = session.execute(
            update(Timer).where(Timer.instance_id == instance_id, Timer.state == "pending")
            .values(state="cancelled")
        ).rowcount
        subs = session.execute(delete(MessageSubscription).where(MessageSubscription.instance_id == instance_id))
        jobs = session.execute(delete(Job).where(Job.instance_id == instance_id))
        session.execute(
            update(Incident).where(Incident.instance_id == instance_id, Incident.state == "open")
            .values(state="cancelled", resolved_at=now, next_retry_at=None)
        )
        previous = record.status
        if previous == "suspended":
            for entry in _held_since_last_resume(session, instance_id):
                _drop_held(session, instance_id, entry, now, f"instance {instance_id} was cancelled while the "
                           "message was held for it")
        record.status, record.ended_at, record.updated_at, record.state = "cancelled", now, now, ""
        records.save(session, record)
        _history(session, instance_id, "instance_cancelled", now, user, {
            "reason": why, "was": previous, "tasks_cancelled": tasks, "timers_cancelled": timers,
            "subscriptions_removed": subs.rowcount, "jobs_removed": jobs.rowcount,
        })
    return get_instance(engine, instance_id, with_history=False)


# -- suspend and resume -----------------------------------------------------------------------

def suspend(engine: Engine, instance_id: int, user: str | None, reason: str | None) -> InstanceDetail:
    """Hold the instance: no timers fire, no jobs run, no completions or messages are taken."""
    why = clean_reason(reason)
    now = engine.now()
    with engine.db.write() as session:
        record = _locked(engine, session, instance_id)
        if record.status == "suspended":
            raise Conflict(f"instance {instance_id} is already suspended")
        if record.status in FINISHED:
            raise Conflict(f"instance {instance_id} has already {record.status}; there is nothing to suspend")
        previous = record.status
        record.status, record.updated_at = "suspended", now
        records.save(session, record)
        _history(session, instance_id, "instance_suspended", now, user, {"reason": why, "was": previous})
    return get_instance(engine, instance_id, with_history=False)


def resume(engine: Engine, instance_id: int, user: str | None, reason: str | None) -> InstanceDetail:
    """Let a suspended instance go on; timers that fell due meanwhile fire at the next scheduler pass."""
    why = clean_reason(reason)
    now = engine.now()
    with engine.db.write() as session:
        record = _locked(engine, session, instance_id)
        if record.status != "suspended":
            raise Conflict(f"instance {instance_id} is not suspended (it is {record.status})")
        has_incident = session.scalar(
            select(Incident.id).where(Incident.instance_id == instance_id, Incident.state == "open").limit(1)
        )
        held = _held_since_last_resume(session, instance_id)
        record.status, record.updated_at = ("incident" if has_incident else "waiting"), now
        records.save(session, record)
        _history(session, instance_id, "instance_resumed", now, user,
                 {"reason": why, **({"held_messages": len(held)} if held else {})})
        session.flush()
        for entry in held:
            _release(engine, session, instance_id, entry, now)
    return get_instance(engine, instance_id, with_history=False)


# -- messages thrown to a suspended instance ----------------------------------------------------

def _held_since_last_resume(session: Session, instance_id: int) -> list[HistoryEntry]:
    """Messages held while suspended this time (each resume releases what came before it)."""
    last = session.scalar(select(HistoryEntry.id).where(
        HistoryEntry.instance_id == instance_id, HistoryEntry.event == "instance_resumed")
        .order_by(HistoryEntry.id.desc()).limit(1))
    return list(session.scalars(select(HistoryEntry).where(
        HistoryEntry.instance_id == instance_id, HistoryEntry.event == "message_held",
        HistoryEntry.id > (last or 0)).order_by(HistoryEntry.id)))


def _release(engine: Engine, session: Session, instance_id: int, entry: HistoryEntry, now: datetime) -> None:
    """Deliver one held message; if nothing waits for it any more, say so on both instances."""
    held = entry.data_delta or {}
    message = str(held.get("message"))
    payload = held.get("payload") if isinstance(held.get("payload"), dict) else {}
    sub = session.scalars(select(MessageSubscription).where(
        MessageSubscription.instance_id == instance_id, MessageSubscription.message_name == message,
        MessageSubscription.kind == "message")).first()
    reason = f"instance {instance_id} no longer waits for message '{message}' (held while it was suspended)"
    if sub is not None:
        task_id = sub.task_id
        try:
            with session.begin_nested():
                run(engine, session, instance_id, now, lambda unit: unit.deliver_message(task_id, message, payload))
            return
        except Conflict as err:
            reason = str(err)
    _drop_held(session, instance_id, entry, now, reason)


def _drop_held(session: Session, instance_id: int, entry: HistoryEntry, now: datetime, reason: str) -> None:
    """A held message that will never arrive: both instances' histories say so."""
    held = entry.data_delta or {}
    source = held.get("from_instance")
    for target in {instance_id, source} - {None}:
        _history(session, int(target), "message_unhandled", now, None,
                 {"message": held.get("message"), "reason": reason, "held_from": source})


# -- variables --------------------------------------------------------------------------------

def parse_variables(values: Any, remove: list[str] | None) -> tuple[dict[str, Any], list[str]]:
    """Variables to set (a JSON object, or its text) and names to remove, checked."""
    data = parse_data(values)
    gone = [str(n).strip() for n in (remove or []) if str(n).strip()]
    bad = [n for n in gone if not n.isidentifier() or n.startswith("_")]
    if bad:
        raise InvalidInput(f"remove: {', '.join(map(repr, bad))} are not variable names")
    both = sorted(set(data) & set(gone))
    if both:
        raise InvalidInput(f"{', '.join(both)}: both set and removed; do one")
    if not data and not gone:
        raise InvalidInput("nothing to change: give variables to set (a JSON object) or names to remove")
    try:
        json.dumps(data, allow_nan=False)
    except ValueError as err:
        raise InvalidInput(f"variables must be plain JSON: {err}") from None
    return data, gone


def _data_holders(workflow: Any) -> list[Any]:
    """The tasks whose data is the instance's current data: the active ones, and the newest
    finished ones that `process_variables` reads."""
    from . import projections as proj

    active, finished = [], []
    for task in proj.iter_tasks(workflow, ACTIVE_TASK_STATES | TaskState.COMPLETED):
        (active if task.state & ACTIVE_TASK_STATES else finished).append(task)
    finished.sort(key=lambda t: t.last_state_change)
    return active + finished[-50:]


def edit_variables(engine: Engine, instance_id: int, values: Any, remove: list[str] | None, user: str | None,
                   reason: str | None) -> InstanceDetail:
    """Set and/or remove process variables; the history keeps the old and the new values.

    Works on suspended instances too (repair the data, then resume); nothing runs here, so a
    failed step is tried again only by a retry."""
    data, gone = parse_variables(values, remove)
    why = clean_reason(reason)
    now = engine.now()

    def edit(unit: Unit) -> None:
        unit.hold = True
        holders = _data_holders(unit.workflow)
        current: dict[str, Any] = {}
        for task in holders:
            current.update(task.data)
        missing = [n for n in gone if n not in current]
        if missing:
            raise InvalidInput(f"remove: no variable {', '.join(map(repr, missing))} in instance {instance_id}")
        old = {k: to_json_value(current.get(k)) for k in [*data, *gone]}
        for task in holders or [unit.workflow]:
            task.data.update(data)
            for name in gone:
                task.data.pop(name, None)
        unit.recorder.record("variables_edited", now, user=user, delta={
            "old": old, "new": {**to_json_value(data), **{n: None for n in gone}}, "reason": why,
        })

    with conflicts_as_errors(), engine.db.write() as session:
        return run(engine, session, instance_id, now, edit, allow_suspended=True).view()


# -- timers -------------------------------------------------------------------------------------

def fire_timer(engine: Engine, timer_id: int, user: str | None) -> InstanceDetail:
    """Fire one pending timer now, whatever its due time (a suspended instance refuses)."""
    now = engine.now()
    with conflicts_as_errors(), engine.db.write() as session:
        row = session.get(Timer, timer_id)
        if row is None:
            raise NotFound(f"timer {timer_id} does not exist (crmflow timers lists them)")
        if session.scalar(select(Instance.status).where(Instance.id == row.instance_id)) == "suspended":
            raise suspended_error(row.instance_id, doing=f"firing timer {timer_id} ({row.name or row.element_id})")

        def still_pending() -> None:
            session.refresh(row)
            if row.state != "pending":
                raise Conflict(f"timer {timer_id} ({row.name or row.element_id}) is already {row.state}")

        def fire(unit: Unit) -> None:
            if row.kind in TASK_KINDS:
                row.due_at = now
                unit.fire_task_dates([row])
            else:
                task = unit.find_task(row.task_id)
                past = (now - timedelta(microseconds=1)).isoformat()
                value = task.internal_data.get("event_value")
                if isinstance(value, dict):
                    value["next"] = past
                else:
                    task.internal_data["event_value"] = past
            unit.recorder.record("timer_fired_now", now, user=user, element=(row.element_id, row.name, "Timer"),
                                 delta={"due_at": row.due_at.isoformat()})
            row.due_at = min(row.due_at, now)

        return run(engine, session, row.instance_id, now, fire, precheck=still_pending).view()


# -- modification -------------------------------------------------------------------------------

def modify(engine: Engine, instance_id: int, cancel_at: str | None, start_at: str | None, dry_run: bool,
           user: str | None, reason: str | None) -> Any:
    """Cancel the token at one element and/or start one at another (see `modification`);
    `dry_run` only says what would happen."""
    from . import modification

    why = clean_reason(reason)
    now = engine.now()
    with conflicts_as_errors(), engine.db.write() as session:
        record = _locked(engine, session, instance_id)
        if record.status in FINISHED:
            raise Conflict(f"instance {instance_id} has already {record.status}; only unfinished instances move")
        unit = Unit(engine, session, record, now)
        result, move = modification.plan(unit.workflow, instance_id, cancel_at, start_at, dry_run)
        if dry_run or move is None:
            session.rollback()
            return result
        modification.apply(unit.workflow, move)
        live = {str(t.id) for t in modification.active_tasks(unit.workflow)}
        for task_id, incident in unit.open_incidents.items():
            if incident.state == "open" and task_id not in live:
                incident.state, incident.resolved_at, incident.next_retry_at = "cancelled", now, None
                unit.runner.blocked.discard(task_id)
        unit.recorder.record("instance_modified", now, user=user, delta={
            "cancel": result.cancel, "start": result.start, "how": result.how, "reason": why,
            "active_before": result.active_before,
        })
        unit.advance()
        save(engine, session, unit)
        result.active_after = sorted(
            {modification._label(t) for t in modification.active_tasks(unit.workflow)})
        return result
