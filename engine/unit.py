"""One unit of work on one instance: load, advance, save — in one transaction.

This is the only code that deserializes a workflow, runs it and writes it back with its
projections, incidents and history. Every operation that changes an instance (start,
complete, correlate, fire timers, retry) is a small function run inside a Unit by a room
(engine/rooms/). The unit is a leaf: it never calls back into the rooms or the facade. What
it threw for other instances (messages, signals) it returns from `save` as `Thrown`, and the
room that ran it dispatches them (`rooms.starting.dispatch`).
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from . import event_subprocesses, row_writes, signals, task_dates
from . import instances as records
from . import projections as proj
from .clock import ensure_utc, frozen_time
from .errors import Conflict, NotFound
from .history import HistoryRecorder
from .instances import InstanceRecord
from .models import HumanTask, Incident, Job, MessageSubscription, Timer
from .row_views import incident_view, subscription_view, task_view, timer_view
from .row_writes import StoredRow
from .runner import Failure, Runner, StepBudgetExceeded
from .scoped import Scoped
from .scripting import EngineScriptEngine
from .services import ServiceContext, to_json_value
from .state import SERIALIZER_VERSION, dump_state, load_state
from .unit_time import UnitDeadline
from .views import InstanceDetail
from .working_time import WorkingTimeError, working_duration, working_time_scope

if TYPE_CHECKING:
    from .core import EngineCore

DEFAULT_RETRIES = 3

# What the previous unit left, read at every save: Core statements built once, read by
# `row_writes.read_rows` (the session's objects where it holds them; the instance id is the
# only parameter).
_TASKS, _TIMERS, _SUBSCRIPTIONS = HumanTask.__table__, Timer.__table__, MessageSubscription.__table__
_OPEN_TASK_ROWS = select(_TASKS).where(_TASKS.c.instance_id == bindparam("iid"), _TASKS.c.state == "open")
_PENDING_TIMER_ROWS = select(_TIMERS).where(_TIMERS.c.instance_id == bindparam("iid"), _TIMERS.c.state == "pending")
_SUBSCRIPTION_ROWS = select(_SUBSCRIPTIONS).where(_SUBSCRIPTIONS.c.instance_id == bindparam("iid"))
# The columns a new row of each is written with (engine/row_writes.py: not flushed by the ORM).
_TASK_COLUMNS = ("id", "instance_id", "process_id", "business_key", "element_id", "name", "kind", "lane", "queue",
                 "form", "ui_form", "instructions", "assignee", "candidate_groups", "priority", "due_at",
                 "follow_up_at", "state", "created_at")
_TIMER_COLUMNS = ("instance_id", "task_id", "element_id", "name", "kind", "due_at", "state", "created_at")
_SUBSCRIPTION_COLUMNS = ("instance_id", "task_id", "element_id", "message_name", "correlation_key", "created_at",
                         "kind")


class Busy(Exception):
    """Another worker holds this instance right now; background work skips it."""


class Suspended(Conflict):
    """The instance is suspended: nothing runs, completes or arrives until it is resumed."""

    code = "suspended"


def suspended_error(instance_id: int, doing: str = "") -> Suspended:
    what = f"; {doing} is refused" if doing else ""
    return Suspended(
        f"instance {instance_id} is suspended{what}: resume it first "
        f"(crmflow instance resume {instance_id}, or POST /api/v1/instances/{instance_id}/resume)"
    )


@dataclass(frozen=True)
class Thrown:
    """A message or signal a unit threw that its own instance did not catch: the room that
    ran the unit hands it on to other instances (`kind` is "message" or "signal")."""

    kind: str
    name: str
    payload: Any


class Unit:
    """A loaded instance inside an open transaction."""

    def __init__(
        self, core: EngineCore, session: Session, instance: InstanceRecord, now: datetime, new: bool = False
    ) -> None:
        self.core = core
        self.session = session
        self.instance = instance
        self.now = now
        self.new = new
        self.recorder = HistoryRecorder(instance.id)
        self.open_incidents: dict[str, Incident] = {}
        if instance.status == "incident":  # only then can open incidents exist
            for incident in session.scalars(
                select(Incident).where(Incident.instance_id == instance.id, Incident.state == "open")
            ):
                self.open_incidents[incident.task_id or ""] = incident
        self.retrying: set[str] = set()
        self.user: str | None = None  # who acts in this unit (ServiceContext.user)
        self.script_engine = EngineScriptEngine(core.registry, self._service_context)
        self.version = core.specs_for(session, instance.version_id)
        spec, subprocess_specs = self.version.spec, self.version.subprocess_specs
        if new:
            self.workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=self.script_engine)
        else:
            self.workflow = load_state(
                instance.state, instance.serializer_version, spec, subprocess_specs, self.script_engine
            )
        # Rows mirror the state as last saved: where the loaded workflow waited on no timer
        # (message, person), no such rows exist and saving need not look for them.
        waiting = () if new else [t for t in proj.iter_tasks(self.workflow, TaskState.READY | TaskState.WAITING)]
        self.had_human_tasks = any(t.state == TaskState.READY and t.task_spec.manual for t in waiting)
        self.had_waits = any(
            t.state == TaskState.WAITING and getattr(t.task_spec, "event_definition", None) is not None
            for t in waiting
        ) or (not new and event_subprocesses.armed(self.workflow))
        self.refresh_task_rows = False  # after a migration: names, lanes, forms may have changed
        self.hold = False  # an operator's repair (edit variables): change the data, run nothing
        # What the instance waits on once saved, kept to answer the caller without re-reading:
        # rows as `row_writes` reads and writes them (the session's objects or StoredRows).
        self.open_task_rows: list[Any] = []
        self.new_task_rows: list[StoredRow] = []
        self.had_task_dates = False  # set when the open task rows are read (_sync_human_tasks)
        self.timer_rows: list[Any] = []
        self.subscription_rows: list[Any] = []
        self.thrown: list[Thrown] = []  # set by `save`, dispatched by the room that ran the unit
        self.runner = Runner(
            self.workflow,
            self.recorder,
            now,
            blocked=set(self.open_incidents),
            max_steps=core.max_steps,
            max_call_depth=core.max_call_depth,
            deadline=UnitDeadline(core.unit_seconds, core.monotonic),
        )

    # -- helpers for the rooms' operations -------------------------------------------
    def _service_context(self, task: Any) -> ServiceContext:
        incident = self.open_incidents.get(str(task.id))
        return ServiceContext(
            session=self.session,
            instance_id=self.instance.id,
            process_id=self.instance.process_id,
            business_key=self.instance.business_key,
            element_id=task.task_spec.bpmn_id,
            task_id=str(task.id),
            now=self.now,
            attempt=(incident.attempts + 1) if incident else 1,
            user=self.user,
        )

    def find_task(self, task_id: str) -> Any:
        try:
            return self.workflow.get_task_from_id(UUID(task_id))
        except Exception:
            raise NotFound(f"task {task_id} is not part of instance {self.instance.id}") from None

    def release(self, task_id: str) -> None:
        """Let the runner run an asynchronous task now (a worker's job)."""
        self.runner.released.add(task_id)

    def unblock(self, task_id: str) -> None:
        """Let the runner try a task that has an open incident again."""
        self.runner.blocked.discard(task_id)
        self.runner.retrying.add(task_id)
        self.retrying.add(task_id)

    def deliver_message(self, task_id: str, message: str, payload: dict[str, Any]) -> None:
        """Hand a message to the catch event (or event gateway) waiting in `task_id`."""
        from SpiffWorkflow.bpmn import BpmnEvent
        from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition

        task = self.find_task(task_id)
        if event_subprocesses.is_anchor(task):
            with self._engine_time():
                started = event_subprocesses.trigger_message(task, message, payload)
            if started is None:
                raise Conflict(f"no event sub-process of instance {self.instance.id} waits for '{message}' any more")
            self.recorder.record(
                "message_received", self.now, started, delta={"set": to_json_value(payload)} if payload else None
            )
            return
        if task.state != TaskState.WAITING:
            raise Conflict(f"{task.task_spec.bpmn_id} in instance {self.instance.id} no longer waits for '{message}'")
        definition = task.task_spec.event_definition
        if isinstance(definition, MultipleEventDefinition):
            definition = next((d for d in proj.awaited(task, definition) if getattr(d, "name", None) == message), None)
            if definition is None:
                raise Conflict(
                    f"{task.task_spec.bpmn_id} in instance {self.instance.id} already received '{message}'"
                )
        event = BpmnEvent(definition, payload=payload, correlations=dict(task.workflow.correlations))
        with self._engine_time():
            task.task_spec.catch(task, event)
            task.task_spec._update(task)
        if getattr(definition, "message_var", None) is None and payload:
            task.data.update(payload)
        delta = {"set": to_json_value(payload)} if payload else None
        self.recorder.record("message_received", self.now, task, delta=delta)

    def deliver_signal(self, name: str, payload: dict[str, Any] | None) -> int:
        """Hand a broadcast signal to every task of this instance waiting for it."""
        with self._engine_time():
            caught = signals.deliver(self.workflow, name, payload)
        if caught:
            delta = {"signal": name, **({"set": to_json_value(payload)} if payload else {})}
            self.recorder.record("signal_received", self.now, delta=delta)
        return caught

    def _engine_time(self) -> Scoped:
        """SpiffWorkflow's timers see this unit's time, and business-hours timers its calendars."""
        calendars = working_time_scope(self._calendar_due if self.core.working_time else None)
        return Scoped(*frozen_time(self.now).pairs, *calendars.pairs)

    def _calendar_due(self, task: Any, calendar: str, duration: timedelta) -> datetime:
        assert self.core.working_time is not None
        return ensure_utc(self.core.working_time(self.session, calendar, self.now, duration))

    def evaluate(self, task: Any, expression: str) -> Any:
        return self.script_engine.evaluate(task, expression)

    # -- the loop -------------------------------------------------------------------
    def advance(self) -> None:
        if self.hold or self.instance.status == "suspended":
            return  # a suspended instance runs nothing until resumed
        with self._engine_time():
            try:
                self.runner.advance()
            except StepBudgetExceeded as err:  # also UnitTimeExceeded, booked on the step it stopped before
                ready = err.task or next(iter(proj.iter_tasks(self.workflow, TaskState.READY)), None)
                self.runner.failures.append(Failure(ready, err, "engine", str(err)))

    def run_task(self, task: Any, user: str | None, data: dict[str, Any] | None = None) -> bool:
        self.user = user
        with self._engine_time():
            return self.runner.run_task(task, user=user, data=data)

    # -- saving ---------------------------------------------------------------------
    def save(self) -> list[Thrown]:
        """Write the instance, its projections, incidents, jobs and history; return (and keep in
        `thrown`) what it threw for other instances, for the caller to dispatch."""
        inst = self.instance
        self._write_incidents(self.runner.failures)
        completed = self.workflow.is_completed()
        self._sync_human_tasks(completed)
        self._sync_timers()
        self._sync_subscriptions()
        previous = inst.status
        if completed:
            inst.status = "completed" if self.workflow.success else "terminated"
            inst.ended_at = inst.ended_at or self.now
            if previous != inst.status:
                self.recorder.record(f"instance_{inst.status}", self.now)
        elif previous == "suspended":
            pass  # an operator's repair keeps it suspended
        elif any(i.state == "open" for i in self.open_incidents.values()):
            inst.status = "incident"
        else:
            inst.status = "waiting"
        # Thrown messages leave the workflow before it is saved, so they go out exactly once.
        self.thrown = thrown_for_others(self.workflow.get_events())
        # A finished instance is never advanced again: its history and variables tell its
        # story, so its task tree is not kept.
        inst.state = "" if completed else dump_state(self.workflow)
        inst.variables = json.dumps(to_json_value(process_variables(self.workflow)), separators=(",", ":"))
        inst.serializer_version = SERIALIZER_VERSION
        inst.updated_at = self.now
        inst.steps = (inst.steps or 0) + self.runner.steps
        self.core.metrics.inc("crmflow_steps_total", self.runner.steps)
        if self.new:
            self.core.metrics.inc("crmflow_instances_started_total")
        if completed and previous != inst.status:
            self.core.metrics.inc("crmflow_instances_completed_total")
        if self.runner.failures:
            self.core.metrics.inc("crmflow_incidents_created_total", len(self.runner.failures))
        self._write_jobs()
        self.session.flush()
        records.save(self.session, inst, self.recorder.take())
        return self.thrown

    def view(self) -> InstanceDetail:
        """The saved instance as the caller sees it (no history), without re-reading it."""
        inst = self.instance
        return InstanceDetail(
            id=inst.id,
            process_id=inst.process_id,
            version=self.version.version,
            business_key=inst.business_key,
            status=inst.status,
            created_at=inst.created_at,
            updated_at=inst.updated_at,
            ended_at=inst.ended_at,
            open_tasks=[task_view(r) for r in self.open_task_rows],
            timers=[timer_view(r) for r in sorted(self.timer_rows, key=lambda r: r.due_at)],
            subscriptions=[subscription_view(r) for r in self.subscription_rows],
            incidents=[incident_view(i) for i in self.open_incidents.values() if i.state == "open"],
            data=json.loads(inst.variables) if inst.variables else {},
        )

    def _write_jobs(self) -> None:
        """Asynchronous tasks the runner left READY become jobs for the workers."""
        pending = self.runner.deferred - self.runner.released
        if not pending:
            return
        existing = set(
            self.session.scalars(
                select(Job.task_id).where(Job.instance_id == self.instance.id, Job.task_id.in_(pending))
            )
        )
        for task_id in sorted(pending - existing):
            task = self.find_task(task_id)
            self.session.add(
                Job(
                    instance_id=self.instance.id, task_id=task_id, element_id=task.task_spec.bpmn_id,
                    kind="async", due_at=self.now, attempts=0, created_at=self.now,
                )
            )
            self.recorder.record("async_queued", self.now, task)

    def _write_incidents(self, failures: list[Failure]) -> None:
        failed_ids = set()
        for failure in failures:
            task = failure.task
            task_id = str(task.id) if task is not None else ""
            failed_ids.add(task_id)
            spec = task.task_spec if task is not None else None
            retries = getattr(spec, "retries", None)
            retries = DEFAULT_RETRIES if retries is None and failure.kind == "service" else (retries or 0)
            details = "".join(traceback.format_exception(failure.error))[-4000:]
            incident = self.open_incidents.get(task_id)
            if incident is None:
                incident = Incident(
                    instance_id=self.instance.id,
                    task_id=task_id or None,
                    element_id=getattr(spec, "bpmn_id", None),
                    element_name=getattr(spec, "bpmn_name", None),
                    error_type=type(failure.error).__name__,
                    message=failure.message,
                    details=details,
                    attempts=1,
                    retries_left=retries,
                    state="open",
                    created_at=self.now,
                )
                self.session.add(incident)
                self.open_incidents[task_id] = incident
            else:
                incident.attempts += 1
                incident.retries_left = max(0, incident.retries_left - 1)
                incident.message = failure.message
                incident.error_type = type(failure.error).__name__
                incident.details = details
            incident.next_retry_at = (
                self.now + proj.next_retry_delay(incident.attempts) if incident.retries_left > 0 else None
            )
            self.recorder.record(
                "incident", self.now, task, delta={"error": failure.message, "attempt": incident.attempts}
            )
        for task_id in self.retrying - failed_ids:
            incident = self.open_incidents.get(task_id)
            if incident is not None and incident.state == "open":
                incident.state = "resolved"  # the runner recorded it in the history
                incident.resolved_at = self.now
                incident.next_retry_at = None
        self._close_moot_incidents(failed_ids)

    def _close_moot_incidents(self, failed_ids: set[str]) -> None:
        """An incident whose element no longer waits (cancelled by a boundary event, or the
        instance ended meanwhile) cannot be retried: it is closed, and the history says why."""
        completed = self.workflow.is_completed()
        for task_id, incident in self.open_incidents.items():
            if incident.state != "open" or task_id in failed_ids or not task_id:
                continue
            try:
                task = self.workflow.get_task_from_id(UUID(task_id))
            except Exception:  # noqa: BLE001 - pruned: it finished
                task = None
            if not completed and task is not None and not task.has_state(TaskState.FINISHED_MASK):
                continue
            incident.state = "resolved"
            incident.resolved_at = self.now
            incident.next_retry_at = None
            self.recorder.record(
                "incident_resolved", self.now, task,
                element=(incident.element_id, incident.element_name, None),
                delta={"reason": f"{incident.element_id} no longer waits: it was cancelled or the instance ended"},
            )

    def _sync_human_tasks(self, completed: bool) -> None:
        inst = self.instance
        desired = {} if completed else {
            h.task_id: h for h in proj.human_tasks(
                self.workflow, self._evaluate_quietly, self.now, self._task_date_in_working_time
            )
        }
        existing = {} if not self.had_human_tasks else {
            row.id: row for row in row_writes.read_rows(self.session, HumanTask, _OPEN_TASK_ROWS, {"iid": inst.id})
        }
        # Task-date timer rows exist only for open tasks that have a date.
        self.had_task_dates = any(row.due_at or row.follow_up_at for row in existing.values())
        changes: list[tuple[Any, dict[str, Any]]] = []
        created: list[StoredRow] = []
        for task_id, row in existing.items():
            if task_id in desired:
                continue
            try:
                task = self.workflow.get_task_from_id(UUID(task_id))
                done = task.state == TaskState.COMPLETED
            except Exception:
                done = False
            changes.append((row, {"state": "completed" if done else "cancelled",
                                  "completed_at": row.completed_at or self.now}))
        for task_id, info in desired.items():
            if task_id in existing:
                row = existing[task_id]
                if self.refresh_task_rows:
                    changes.append((row, {
                        "element_id": info.element_id, "name": info.name, "lane": info.lane, "form": info.form,
                        "ui_form": info.ui_form, "instructions": info.instructions,
                    }))
                self.open_task_rows.append(row)
                continue
            info.initiator = inst.started_by
            self.core.route_new_task(info, inst.process_id)
            row = row_writes.new_row(
                    HumanTask,
                    id=task_id,
                    instance_id=inst.id,
                    process_id=inst.process_id,
                    business_key=inst.business_key,
                    element_id=info.element_id,
                    name=info.name,
                    kind=info.kind,
                    lane=info.lane,
                    queue=info.queue,
                    form=info.form,
                    ui_form=info.ui_form,
                    instructions=info.instructions,
                    assignee=info.assignee,
                    candidate_groups=info.candidate_groups,
                    priority=info.priority,
                    due_at=info.due_at,
                    follow_up_at=info.follow_up_at,
                    state="open",
                    created_at=self.now,
            )
            self.open_task_rows.append(row)
            self.new_task_rows.append(row)
            created.append(row)
            self.recorder.record("task_created", self.now, self.workflow.get_task_from_id(UUID(task_id)))
        row_writes.update_rows(self.session, HumanTask, changes)
        row_writes.insert_rows(self.session, HumanTask, created, _TASK_COLUMNS)

    def _task_date_in_working_time(self, task: Any, calendar: str, duration: str) -> datetime | None:
        """A task date marked `businessCalendar`; a problem is a warning and wall-clock time is used,
        so a task is never lost over its due date."""
        try:
            if self.core.working_time is None:
                raise WorkingTimeError("this engine has no working-time calendar (Engine(working_time=...))")
            element = task.task_spec.bpmn_id or task.task_spec.name
            return self._calendar_due(task, calendar, working_duration(duration, element))
        except Exception as err:  # noqa: BLE001 - a bad calendar must not lose the task
            self.recorder.record("warning", self.now, task, delta={"business_calendar": calendar, "error": str(err)})
            return None

    def _evaluate_quietly(self, task: Any, expression: str, convert: Any = None) -> Any:
        try:
            value = self.evaluate(task, expression)
            return value if convert is None else convert(value)  # a value unfit for its field warns too
        except Exception as err:  # noqa: BLE001 - a bad routing expression must not lose the task
            self.recorder.record("warning", self.now, task, delta={"expression": expression, "error": str(err)})
            return None

    def _sync_timers(self) -> None:
        inst = self.instance
        desired = {t.task_id: t for t in proj.timers(self.workflow)}
        pending: list[Any] = []
        if self.had_waits or self.had_task_dates:
            # No autoflush: what the ORM holds for this unit (incidents) goes out with the save's
            # one flush. A unit adds no timer row before this point; one it changed (a task
            # date it fired) may still read "pending" in the table, so its own state decides.
            rows = row_writes.read_rows(self.session, Timer, _PENDING_TIMER_ROWS, {"iid": inst.id}, autoflush=False)
            pending = [row for row in rows if row.state == "pending"]
        existing = {row.task_id: row for row in pending if row.kind not in task_dates.TASK_KINDS}
        changes: list[tuple[Any, dict[str, Any]]] = []
        new_rows: list[StoredRow] = []
        self._sync_task_dates([row for row in pending if row.kind in task_dates.TASK_KINDS], changes, new_rows)
        for task_id, row in existing.items():
            info = desired.get(task_id)
            if info is not None and info.due_at == row.due_at:
                continue
            fired = row.due_at <= self.now
            changes.append((row, {"state": "fired" if fired else "cancelled", "fired_at": self.now if fired else None}))
            if not fired:  # firings are recorded by the runner, before what they cause
                self.recorder.record(
                    "timer_cancelled",
                    self.now,
                    element=(row.element_id, row.name, "Timer"),
                    delta={"due_at": row.due_at.isoformat()},
                )
        for task_id, info in desired.items():
            row = existing.get(task_id)
            if row is None or row.due_at != info.due_at:  # new, or a cycle that moved on
                row = row_writes.new_row(
                    Timer,
                    instance_id=inst.id,
                    task_id=task_id,
                    element_id=info.element_id,
                    name=info.name,
                    kind=info.kind,
                    due_at=info.due_at,
                    state="pending",
                    created_at=self.now,
                )
                new_rows.append(row)
            self.timer_rows.append(row)
        row_writes.update_rows(self.session, Timer, changes)
        row_writes.insert_with_ids(self.session, Timer, new_rows, _TIMER_COLUMNS)

    def _sync_task_dates(self, pending: list[Any], changes: list[tuple[Any, dict[str, Any]]],
                         new_rows: list[StoredRow]) -> None:
        """Task-date rows live as long as their task is open; a new task brings its own (added to
        `changes` and `new_rows`, which `_sync_timers` writes)."""
        open_ids = {row.id for row in self.open_task_rows}
        for row in pending:
            if row.task_id in open_ids:
                self.timer_rows.append(row)
            else:
                changes.append((row, {"state": "cancelled"}))
        for task in self.new_task_rows:
            for row in task_dates.timers_for(task, self.now):
                new_rows.append(row)
                self.timer_rows.append(row)

    def fire_task_dates(self, rows: list[Timer]) -> None:
        """Fire due task-date rows (the scheduler's pass holds this instance's lock)."""
        for _ in task_dates.fire(self.session, rows, self.recorder, self.now):
            self.core.metrics.inc("crmflow_task_reminders_total")

    def _sync_subscriptions(self) -> None:
        inst = self.instance
        desired: dict[tuple[str, str, str], Any] = {
            ("message", s.task_id, s.message_name): s for s in proj.subscriptions(self.workflow)
        }
        for wait in signals.signal_waits(self.workflow):
            desired[(signals.KIND, wait.task_id, wait.signal_name)] = proj.SubscriptionInfo(
                wait.task_id, wait.element_id, wait.signal_name, None
            )
        existing: dict[tuple[str, str, str], Any] = {}
        if self.had_waits:
            # Nothing in a unit changes subscription rows before this point, so what the ORM
            # holds for this unit (incidents) need not be flushed for this query: it goes out
            # with the save's one flush instead of an extra autoflush here.
            rows = row_writes.read_rows(self.session, MessageSubscription, _SUBSCRIPTION_ROWS, {"iid": inst.id},
                                        autoflush=False)
            existing = {(row.kind or "message", row.task_id, row.message_name): row for row in rows}
        gone = [row for key, row in existing.items() if key not in desired]
        changes: list[tuple[Any, dict[str, Any]]] = []
        new_rows: list[StoredRow] = []
        for key, info in desired.items():
            row = existing.get(key)
            if row is not None:
                changes.append((row, {"correlation_key": info.correlation_key}))
            else:
                row = row_writes.new_row(
                    MessageSubscription,
                    instance_id=inst.id,
                    task_id=info.task_id,
                    element_id=info.element_id,
                    message_name=info.message_name,
                    correlation_key=info.correlation_key,
                    created_at=self.now,
                    kind=key[0],
                )
                new_rows.append(row)
            if key[0] == "message":  # the instance view lists what it waits for by message
                self.subscription_rows.append(row)
        # As a flush orders them: changed rows, new rows, then the deleted ones.
        row_writes.update_rows(self.session, MessageSubscription, changes)
        row_writes.insert_rows(self.session, MessageSubscription, new_rows, _SUBSCRIPTION_COLUMNS)
        row_writes.delete_rows(self.session, MessageSubscription, gone)


def thrown_for_others(events: list[Any]) -> list[Thrown]:
    """Messages thrown in a unit that no task of its instance caught go to other instances;
    so do signals, to every instance waiting on them (with their payload only if a dict)."""
    thrown = []
    for event in events:
        name = getattr(event.event_definition, "name", None)
        kind = type(event.event_definition).__name__
        if name and kind == "SignalEventDefinition":
            thrown.append(Thrown("signal", name, event.payload if isinstance(event.payload, dict) else None))
        elif name and kind == "MessageEventDefinition":
            thrown.append(Thrown("message", name, event.payload))
    return thrown


def process_variables(workflow: Any) -> dict[str, Any]:
    """What `show` calls the process variables: the newest data the instance holds."""
    if workflow.is_completed():
        return {k: v for k, v in workflow.data.items() if k != "data_objects"}
    newest: dict[str, Any] = {}
    tasks = sorted(
        (t for t in proj.iter_tasks(workflow, TaskState.READY | TaskState.WAITING | TaskState.STARTED
                                    | TaskState.COMPLETED)),
        key=lambda t: t.last_state_change,
    )
    for task in tasks[-50:]:
        newest.update(task.data)
    return newest


def run_in_unit(
    core: EngineCore,
    session: Session,
    instance_id: int,
    now: datetime,
    action: Callable[[Unit], Any],
    precheck: Callable[[], None] | None = None,
    skip_locked: bool = False,
    allow_suspended: bool = False,
) -> Unit:
    """Load the instance (locking its row where the database can), act, advance, save.

    `precheck` runs once the lock is held, to re-read what a concurrent unit may have
    changed while this one waited (e.g. the task was completed meanwhile). A suspended
    instance is refused unless `allow_suspended` (an operator's repair)."""
    instance = records.load(session, instance_id, lock=not core.db.is_sqlite, skip_locked=skip_locked)
    if instance is None:
        if skip_locked:
            raise Busy(f"instance {instance_id} is being advanced by another worker")
        raise NotFound(f"instance {instance_id} does not exist")
    if precheck is not None:
        precheck()
    if instance.status in ("completed", "terminated", "cancelled"):
        raise Conflict(f"instance {instance_id} has already {instance.status}")
    if instance.status == "suspended" and not allow_suspended:
        raise suspended_error(instance_id)
    unit = Unit(core, session, instance, now)
    action(unit)
    unit.advance()
    unit.save()
    return unit
