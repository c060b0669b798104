"""Our own loop over READY tasks: bounded by steps we count, not by tree depth.

SpiffWorkflow's `do_engine_steps` finds work with iterators that stop at depth 1000, so
long loops stall silently; it also lets one failing task abort the whole call. This
loop finds READY tasks through each workflow's flat task map, keeps the tree short (see
`pruning`), turns a failing task into a `Failure` (its data restored, the task left
READY for a retry, other branches still advancing), and routes a handler's `BpmnError`
to the matching error boundary event.
"""

from __future__ import annotations

import copy
import logging
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent
from SpiffWorkflow.bpmn.specs.mixins.script_task import ScriptEngineTask
from SpiffWorkflow.specs.base import TaskSpec
from SpiffWorkflow.spiff.specs.event_definitions import ErrorEventDefinition
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskIterator, TaskState

from . import call_depth, timer_values
from .clock import frozen_time
from .conditions import refresh as refresh_conditions
from .event_subprocesses import settle as settle_event_subprocesses
from .history import HistoryRecorder, data_delta, is_visible
from .projections import due_from_value
from .pruning import compress_all
from .scripting import ServiceCallFailed
from .services import BpmnError
from .unit_time import UnitDeadline, overrun_message

PRUNE_EVERY = 30
TIMER_KINDS = (TimerEventDefinition, MultipleEventDefinition)
SELF_EXPLAINING = (call_depth.CallDepthExceeded, timer_values.TimerValueError)  # messages name element and fix


RAN = "crmflow_ran"  # internal data: the task's own work (handler, script) ran and committed
SETUP_FAILED = "crmflow_setup_failed"  # internal data: the task failed while being set up


_ATOMS = frozenset({str, int, float, bool, type(None)})  # what `copy.deepcopy` hands back as it is


class _NotPlain(Exception):
    """The data holds something `copy_data` leaves to `copy.deepcopy`."""


def copy_data(data: Any) -> Any:
    """`copy.deepcopy(data)` for task data, faster where it is plain JSON-like data.

    A task's data is copied before every script or service task runs, to restore it if the
    task fails; deepcopy's memo bookkeeping costs more than the copy itself. Dicts and lists
    of strings, numbers, booleans and None are copied here; anything else (another type, a
    dict or list held twice, whose sharing deepcopy keeps) goes to `copy.deepcopy`, so the
    result is always what deepcopy gives."""
    seen: set[int] = set()

    def walk(value: Any) -> Any:
        kind = type(value)
        if kind in _ATOMS:
            return value
        if kind is not dict and kind is not list or id(value) in seen:
            raise _NotPlain
        seen.add(id(value))
        if kind is list:
            return [item if type(item) in _ATOMS else walk(item) for item in value]
        if not all(type(key) in _ATOMS for key in value):
            raise _NotPlain
        return {key: item if type(item) in _ATOMS else walk(item) for key, item in value.items()}

    try:
        return walk(data)
    except _NotPlain:
        return copy.deepcopy(data)


def has_run(task: Any) -> bool:
    return bool(task.internal_data.get(RAN))


def mark_run(task: Any) -> None:
    task.internal_data[RAN] = True


# SpiffWorkflow's own loggers. Its Task._set_state and Workflow._mark_complete build their log
# record's extras eagerly (the workflow's walks every task of the tree), even when the logger
# drops the record; where our loop calls them, it skips that work when nothing would be logged.
_TASK_LOG = logging.getLogger("spiff.task")
_WORKFLOW_LOG = logging.getLogger("spiff.workflow")
_SPEC_UPDATE = TaskSpec._update
_READY, _WAITING = int(TaskState.READY), int(TaskState.WAITING)
_TASK_READY = Task._ready


def set_state(task: Any, state: int) -> None:
    """`Task._set_state`: the same state and timestamp, its log record built only if it is logged."""
    if _TASK_LOG.isEnabledFor(logging.INFO):  # DEBUG (same state) is enabled only if INFO is
        task._set_state(state)
    elif state != task._state:
        task.last_state_change = time.time()
        task._state = state


def mark_complete(wf: Any, task: Any) -> None:
    """`Workflow._mark_complete`: the same effect, its log record built only if it is logged."""
    if _WORKFLOW_LOG.isEnabledFor(logging.INFO):
        wf._mark_complete(task)
    else:
        wf.data.update(task.data)
        wf.completed = True


def update(task: Any) -> None:
    """`TaskSpec._update`: the same steps, the task's READY transition logged lazily (`set_state`).

    Upstream's `Task._ready` goes through `Task._set_state`, which builds its log record (the
    state's name twice, the task's extras) on every transition, logged or not; setting up each
    follower costs that once. Any spec or task class that overrides these goes upstream's way.
    """
    spec = task.task_spec
    if type(spec)._update is not _SPEC_UPDATE or type(task)._ready is not _TASK_READY:
        spec._update(task)
        return
    if task.has_state(TaskState.PREDICTED_MASK):
        spec._predict(task)
    if spec._update_hook(task):
        if task.has_state(TaskState.COMPLETED) or task.has_state(TaskState.CANCELLED):
            return
        set_state(task, TaskState.READY)
        spec._on_ready(task)


def boundary_failed(task: Any) -> bool:
    """One of the activity's boundary events failed while being set up (it has an incident)."""
    split = task.parent
    if split is None or not isinstance(split.task_spec, BoundaryEventSplit):
        return False
    return any(s is not task and s.internal_data.get(SETUP_FAILED) for s in split.children)


def add_form_data(task: Any, data: dict[str, Any]) -> None:
    """A person's form data: nested under the user task's `spiffworkflow:variableName` when
    it has one (as spiff-arena does), else merged into the task data at the top level."""
    variable = (getattr(task.task_spec, "variable", None) or "").strip()
    if variable:
        task.data[variable] = data
    else:
        task.data.update(data)


class StepBudgetExceeded(Exception):
    """An instance ran more automatic steps in one call than allowed (an endless loop?)."""

    task: Any = None  # the step it stopped before, when known (its incident goes there)


class UnitTimeExceeded(StepBudgetExceeded):
    """The unit of work ran longer than its wall-clock limit (engine/unit_time.py)."""

    def __init__(self, message: str, task: Any) -> None:
        super().__init__(message)
        self.task = task


@dataclass
class Failure:
    task: Any
    error: BaseException
    kind: str
    message: str


def unwrap(exc: BaseException) -> BaseException:
    """The handler's or script's own exception, out of SpiffWorkflow's wrappers."""
    seen = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ServiceCallFailed):
            return exc
        inner = getattr(exc, "exception", None)
        if isinstance(inner, BaseException):
            exc = inner
            continue
        if isinstance(exc, BpmnError):
            return exc
        if exc.__cause__ is not None:
            exc = exc.__cause__
            continue
        break
    return exc


def describe(exc: BaseException) -> tuple[str, str]:
    """(kind, one-line message) for an incident."""
    if isinstance(exc, ServiceCallFailed):
        original = exc.original
        return "service", f"{type(original).__name__}: {original}"
    if isinstance(exc, BpmnError):
        return "bpmn_error", f"BPMN error '{exc.code}' was not caught by any error boundary event: {exc.message}"
    return "script", f"{type(exc).__name__}: {exc}"


_ASYNC: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()  # per task spec, read once


def is_async(task_spec: Any) -> bool:
    """Marked asynchronous in the diagram (`spiffworkflow:property name="async" value="true"`)."""
    known = _ASYNC.get(task_spec)
    if known is None:
        props = (getattr(task_spec, "extensions", None) or {}).get("properties") or {}
        known = _ASYNC[task_spec] = str(props.get("async", "")).strip().strip("\"'").lower() in ("true", "yes", "1")
    return known


def skip_missed_cycles(event_value: dict[str, Any], now: datetime) -> None:
    """After downtime a cycle fires once, then waits for its next *future* occurrence.

    SpiffWorkflow moves a cycle on by one period per firing, so a week offline would make a
    daily cycle fire seven times in a row. Missed occurrences count against a bounded
    cycle (R5/...) but do not fire.
    """
    nxt = datetime.fromisoformat(event_value["next"])
    period = timedelta(seconds=event_value["duration"])
    if period <= timedelta(0) or nxt > now or event_value.get("cycles") == 0:
        return
    missed = int((now - nxt) / period) + 1
    event_value["next"] = (nxt + missed * period).isoformat()
    if event_value["cycles"] > 0:
        event_value["cycles"] = max(0, event_value["cycles"] - missed)


class Runner:
    """Advances one workflow as far as it can go without a person, a timer or a message."""

    def __init__(
        self,
        workflow: Any,
        recorder: HistoryRecorder,
        now: Any,
        blocked: set[str] | None = None,
        max_steps: int = 200_000,
        on_step: Callable[[Any], None] | None = None,
        max_call_depth: int = call_depth.DEFAULT_MAX_CALL_DEPTH,
        deadline: UnitDeadline | None = None,
    ) -> None:
        self.workflow = workflow
        self.deadline = deadline
        self.recorder = recorder
        self.now = now
        self.blocked = blocked if blocked is not None else set()
        self.max_steps = max_steps
        self.max_call_depth = max_call_depth
        self.steps = 0
        self.failures: list[Failure] = []
        self.retrying: set[str] = set()
        self.released: set[str] = set()
        self.deferred: set[str] = set()
        self.on_step = on_step

    # -- finding work -------------------------------------------------------------
    def _ready(self, wf: Any) -> list[Any]:
        ready = []
        for t in wf.tasks.values():  # `_state`, not the `state` property: once per task per round
            if t._state != _READY or t.task_spec.manual or (self.blocked and str(t.id) in self.blocked):
                continue
            if boundary_failed(t):
                continue  # it would run without the deadline or error path its diagram gives it
            if is_async(t.task_spec) and str(t.id) not in self.released:
                # Asynchronous: the step commits first; a worker runs it as a job later.
                self.deferred.add(str(t.id))
                continue
            ready.append(t)
        return ready

    def _any_ready(self) -> bool:
        if self._ready(self.workflow):
            return True
        return any(self._ready(sp) for sp in self.workflow.get_active_subprocesses())

    # -- the loop -----------------------------------------------------------------
    def advance(self) -> list[Failure]:
        wf = self.workflow
        self.retry_setup()
        since_prune = 0
        while True:
            progressed = settle_event_subprocesses(wf)
            for sp in sorted(wf.get_active_subprocesses(), key=lambda s: s.depth, reverse=True):
                ran = self._run_all(sp)
                progressed = progressed or ran > 0
                since_prune += ran
                if sp.parent_task_id is not None:
                    parent = wf.get_task_from_id(sp.parent_task_id)
                    parent.task_spec._update(parent)
            ran = self._run_all(wf)
            since_prune += ran
            progressed = progressed or ran > 0
            if since_prune >= PRUNE_EVERY:
                compress_all(wf)
                since_prune = 0
            if not progressed:
                self._refresh_timers()
                refresh_conditions(wf)
                if not self._any_ready():
                    break
        compress_all(wf)
        return self.failures

    def _refresh_timers(self) -> None:
        """Let due timers fire, recording each firing before what it causes."""
        waiting = [
            (t, copy.deepcopy(t.internal_data.get("event_value")))
            for t in self.workflow.event_manager.tasks.values()
            if t.state == TaskState.WAITING
        ]
        # SpiffWorkflow fires a timer only when due < now; a row is due at due_at <= now.
        # Every waiting timer already has its due time here, so looking a microsecond
        # ahead changes no due time, only makes "due exactly now" fire now.
        with frozen_time(self.now + timedelta(microseconds=1)):
            self._update_timers()
        for task, value in waiting:
            if value is None:
                continue
            current = task.internal_data.get("event_value")
            if task.state != TaskState.WAITING or current != value:
                due = due_from_value(value)
                self.recorder.record(
                    "timer_fired", self.now, task, delta={"due_at": due.isoformat()} if due else None
                )
                if isinstance(current, dict):
                    skip_missed_cycles(current, self.now)

    def _update_timers(self) -> None:
        """SpiffWorkflow's `BpmnWorkflow.refresh_timers`, a failing timer being its own incident."""
        for task in list(self.workflow.event_manager.tasks.values()):
            definition = task.task_spec.event_definition
            if isinstance(definition, TIMER_KINDS) and not task.internal_data.get(SETUP_FAILED):
                self.set_up(task)

    def _run_all(self, wf: Any) -> int:
        count = 0
        for task in self._ready(wf):
            if task.state != TaskState.READY:
                continue  # an earlier task in this round cancelled or ran it
            if self.steps and self.deadline is not None and self.deadline.passed():  # between steps only
                raise UnitTimeExceeded(overrun_message(task, self.deadline.seconds), task)
            self.run_task(task)
            count += 1
        return count

    def run_task(
        self, task: Any, user: str | None = None, event: str = "completed", data: dict[str, Any] | None = None
    ) -> bool:
        """Run one task (with `data` merged in first, e.g. a form); on failure restore its
        data, leave it READY and record a Failure."""
        self.steps += 1
        if self.steps > self.max_steps:
            raise StepBudgetExceeded(
                f"more than {self.max_steps} automatic steps in one call (last at "
                f"{getattr(task.task_spec, 'bpmn_id', task.task_spec.name)}); is there a loop without a wait?"
            )
        in_place = isinstance(task.task_spec, ScriptEngineTask) or getattr(task.task_spec, "prescript", None)
        before = copy_data(task.data) if in_place else dict(task.data)
        if data:
            add_form_data(task, data)
        if not has_run(task):  # a task whose own work ran already only completes on a retry
            try:
                retval = task.task_spec._run(task)
            except Exception as exc:  # noqa: BLE001 - every failure becomes an incident, never a crash
                original = unwrap(exc)
                if isinstance(original, BpmnError) and self._route_bpmn_error(task, original):
                    self.recorder.record("error_thrown", self.now, task, delta={"code": original.code})
                    return True
                task.data = before
                self._fail(task, original)
                return False
            if retval is None:  # waits for something (e.g. a subprocess): SpiffWorkflow's Task.run
                task._set_state(TaskState.STARTED)
                return True
            if retval is False:
                task.error()
                return True
            mark_run(task)
        try:
            self._complete(task)
        except Exception as exc:  # noqa: BLE001 - its own completion (e.g. a data output) failed
            self._fail(task, unwrap(exc))
            return False
        task.internal_data.pop(RAN, None)
        if self.retrying and str(task.id) in self.retrying:
            self.recorder.record("incident_resolved", self.now, task)
        self._record_interrupted(task)
        if is_visible(task):
            self.recorder.record(event, self.now, task, user=user, delta=data_delta(before, task.data))
        if self.on_step is not None:
            self.on_step(task)
        return True

    def _record_interrupted(self, boundary: Any) -> None:
        """An interrupting boundary event that fired ended its activity: the history says so.

        SpiffWorkflow just cancels the activity (a subprocess ended by an error or escalation
        end event, a task whose deadline passed), and once the tree is pruned the history is
        the only record that it ran and how it ended.
        """
        spec = boundary.task_spec
        split = boundary.parent
        if not isinstance(spec, BoundaryEvent) or not spec.cancel_activity or split is None:
            return
        for main in split.children:
            if not isinstance(main.task_spec, BoundaryEvent) and main.state == TaskState.CANCELLED and is_visible(main):
                self.recorder.record("cancelled", self.now, main, delta={"interrupted_by": spec.bpmn_id})

    def _fail(self, task: Any, error: BaseException) -> None:
        """Leave `task` READY and blocked, with a Failure that becomes its incident."""
        task._set_state(TaskState.READY)
        self.blocked.add(str(task.id))
        kind, message = describe(error)
        self.failures.append(Failure(task, error, kind, message))

    # -- completing without blaming the completed task ----------------------------
    def _complete(self, task: Any) -> None:
        """SpiffWorkflow's `Task.complete`, with each follower set up on its own.

        `TaskSpec._on_complete` updates every child, and one that fails while being set
        up (a timer whose expression does not parse) would abort the completion of the
        task that just ran — whose handler's effects are committed. Here such a child
        gets the incident; the completed task stays completed.
        """
        set_state(task, TaskState.COMPLETED)
        try:
            task.task_spec._on_complete_hook(task)
        except Exception:
            task._set_state(TaskState.READY)
            raise
        for child in task.children:
            if not child.has_state(TaskState.FINISHED_MASK):
                self.set_up(child)
        self._notify_completed(task)

    def _notify_completed(self, task: Any) -> None:
        """SpiffWorkflow's `Workflow._task_completed_notify` (3.2), each waiting task updated on its own.

        A waiting task that fails its update (a timer re-evaluating a bad expression) gets
        the incident, not the task that completed; one that already failed waits for its retry.
        """
        wf = task.workflow
        wf.last_task = task
        if task.task_spec.name == "End":
            mark_complete(wf, task)
        if wf.completed:
            wf.completed_event(wf)
            return
        if not any(t._state == _WAITING for t in wf.tasks.values()):
            return  # the common case: nothing waits, so no walk over the tree
        for waiting in list(TaskIterator(wf.task_tree, state=TaskState.WAITING)):
            if not waiting.internal_data.get(SETUP_FAILED):
                self.set_up(waiting)

    def set_up(self, task: Any) -> bool:
        """Let `task` react to its predecessor (SpiffWorkflow's `_update`); a failure is its incident."""
        try:
            call_depth.check(task, self.max_call_depth)
            timer_values.check(task)
            update(task)
        except Exception as exc:  # noqa: BLE001 - every failure becomes an incident, never a crash
            self._setup_failed(task, unwrap(exc))
            return False
        task.internal_data.pop(SETUP_FAILED, None)
        return True

    def _setup_failed(self, task: Any, error: BaseException) -> None:
        task.internal_data[SETUP_FAILED] = True
        if isinstance(getattr(task.task_spec, "event_definition", None), TimerEventDefinition):
            task.internal_data.pop("event_value", None)  # a date timer keeps a value it could not parse
        self.blocked.add(str(task.id))
        kind, message = describe(error)
        message = str(error) if isinstance(error, SELF_EXPLAINING) else f"could not be set up: {message}"
        self.failures.append(Failure(task, error, kind, message))

    def retry_setup(self) -> None:
        """Retried incidents of tasks that failed while being set up: set them up again."""
        for task_id in sorted(self.retrying):
            task = self._find(task_id)
            if task is None or not task.internal_data.get(SETUP_FAILED):
                continue
            if self.set_up(task):
                self.recorder.record("incident_resolved", self.now, task)

    def _find(self, task_id: str) -> Any:
        try:
            return self.workflow.get_task_from_id(UUID(task_id))
        except Exception:  # noqa: BLE001 - gone (pruned or cancelled meanwhile)
            return None

    # -- BPMN errors from handlers ------------------------------------------------
    def _route_bpmn_error(self, task: Any, error: BpmnError) -> bool:
        """Give the error to an error boundary event on the task or an enclosing subprocess."""
        definition = ErrorEventDefinition(error.code, code=error.code)
        event = BpmnEvent(definition, payload=dict(error.data, error_code=error.code, error_message=error.message))
        current = task
        while current is not None:
            parent = current.parent
            if parent is not None and isinstance(parent.task_spec, BoundaryEventSplit):
                for sibling in parent.children:
                    spec = sibling.task_spec
                    if (
                        sibling is not current
                        and isinstance(spec, BoundaryEvent)
                        and sibling.state == TaskState.WAITING
                        and isinstance(spec.event_definition, ErrorEventDefinition)
                        and spec.event_definition.catches(sibling, event)
                    ):
                        if current is task:
                            task._set_state(TaskState.STARTED)
                        spec.catch(sibling, event)
                        spec._update(sibling)
                        return True
            parent_task_id = current.workflow.parent_task_id
            current = self.workflow.get_task_from_id(parent_task_id) if parent_task_id is not None else None
        return False
