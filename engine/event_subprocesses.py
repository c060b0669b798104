"""Event sub-processes: armed while their scope runs, interrupting when the diagram says so.

SpiffWorkflow 3.2 starts an event sub-process with a timer start together with its scope (and,
with `engine.spiff.scope_triggers`'s fix, one with an error or escalation start, its start event waiting for
the thrown event), and one with a message, signal or conditional start only when its own event manager
catches such an event at the top level, which crmflow's correlation and broadcasts never
ask it to do; and it ignores `isInterrupting`. So here:

- `triggers` lists the armed event starts of every running scope (the instance and its
  sub-processes); projections make message starts subscriptions and `signals` makes
  signal starts signal waits, anchored on the scope's root task; `trigger_message`,
  `signals.deliver` and `conditions` start the event sub-process (`start_event_subprocess`);
- `settle` (called by the runner's loop) cancels the rest of the scope once an
  interrupting event sub-process has been triggered, hands a sub-process ended that way
  back to its parent, and cancels the event sub-processes still waiting for their start
  once the scope's own flow has finished (so an instance does not wait forever on a timer
  start nobody needs any more).

Whether a start event interrupts comes from the `spiffworkflow:interrupting` extension
that `element_rewrites` adds before parsing (true unless the diagram says false).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import EventSubprocess
from SpiffWorkflow.util.task import TaskState

#: the task states whose data is the instance's current data (conditions read it too)
WATCHED = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.COMPLETED


def newest_data(workflow: Any) -> dict[str, Any]:
    """The instance's newest values: the data of its most recently changed tasks win."""
    tasks = [t for wf in [workflow, *workflow.subprocesses.values()] for t in wf.tasks.values() if t.state & WATCHED]
    data: dict[str, Any] = {}
    for task in sorted(tasks, key=lambda t: t.last_state_change)[-50:]:
        data.update(task.data)
    return data

SETTLED = "crmflow_event_subprocess_settled"
ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def is_event_subprocess(spec: Any) -> bool:
    extensions = getattr(spec, "extensions", None) or {}
    return isinstance(spec, EventSubprocess) or extensions.get("eventSubprocess") == "true"


def is_interrupting(start_spec: Any) -> bool:
    extensions = getattr(start_spec, "extensions", None) or {}
    return str(extensions.get("interrupting", "true")).strip().lower() != "false"


def _event_starts(top: Any, esp_spec: Any) -> list[Any]:
    sub_spec = top.subprocess_specs.get(esp_spec.spec)
    if sub_spec is None:
        return []
    return [s for s in sub_spec.task_specs.values() if isinstance(s, StartEvent)]


def _running_interrupter(wf: Any) -> bool:
    """An interrupting event sub-process of this scope has been triggered: nothing else is armed."""
    return any(t.internal_data.get(SETTLED) == "interrupted" for t in _esp_tasks(wf))


def triggers(top: Any, kinds: type | tuple[type, ...]) -> Iterator[tuple[Any, str, Any]]:
    """(scope workflow, event sub-process spec name, start spec) of every armed event
    sub-process whose start event's definition is one of `kinds`."""
    for wf in [top, *top.subprocesses.values()]:
        trigger_specs = getattr(wf.spec.start, "trigger_specs", None) or []
        if not trigger_specs or wf.is_completed() or _running_interrupter(wf):
            continue
        for name in dict.fromkeys(trigger_specs):  # the parser may list one twice
            esp_spec = wf.spec.task_specs.get(name)
            if esp_spec is None:
                continue
            for start in _event_starts(top, esp_spec):
                if isinstance(start.event_definition, kinds):
                    yield wf, name, start


def message_triggers(top: Any) -> Iterator[tuple[Any, str, Any]]:
    return triggers(top, MessageEventDefinition)


def armed(top: Any) -> bool:
    """Any event sub-process armed for a message or a signal (they have subscription rows)."""
    return next(triggers(top, (MessageEventDefinition, SignalEventDefinition)), None) is not None


def is_own_start(task: Any) -> bool:
    """A start event inside an event sub-process: its scope's anchor subscribes for it."""
    wf = task.workflow
    if not isinstance(task.task_spec, StartEvent) or wf.parent_task_id is None:
        return False
    parent = wf.top_workflow.get_task_from_id(wf.parent_task_id)
    return parent is not None and is_event_subprocess(parent.task_spec)


def is_anchor(task: Any) -> bool:
    """The root task of a scope: where event sub-process subscriptions are anchored."""
    return task.parent is None


def trigger_message(anchor: Any, message: str, payload: dict[str, Any]) -> Any | None:
    """Start the event sub-process of `anchor`'s scope whose message start catches `message`;
    return its start event task (None when none is armed for it)."""
    wf = anchor.workflow
    for scope, name, start in message_triggers(wf.top_workflow):
        if scope is wf and start.event_definition.name == message:
            return start_event_subprocess(scope, name, start, payload)
    return None


def start_event_subprocess(wf: Any, name: str, start: Any, payload: dict[str, Any] | None) -> Any | None:
    """Create the event sub-process `name` in scope `wf` and hand its start event the event."""
    top = wf.top_workflow
    # Like SpiffWorkflow's `trigger_wf`, but without adding the sub-process to the start
    # task's outputs: the spec is shared (cached per version), and every later instance
    # would start the event sub-process with its main flow.
    esp_spec, spec_start, spec_end = wf.spec.task_specs[name], wf.spec.start, wf.spec.end
    if spec_start.name not in esp_spec._inputs:
        esp_spec._inputs.append(spec_start.name)
    if spec_end not in esp_spec.outputs:
        esp_spec.connect(spec_end)
    child = wf.task_tree._add_child(esp_spec, TaskState.FUTURE)
    child.triggered = True
    child.data = newest_data(top)  # it works on the instance as it is now, not as it started
    child.task_spec._update(child)
    sub = top.subprocesses.get(child.id)
    if sub is None:
        return None
    start_task = next((t for t in sub.tasks.values() if t.task_spec.name == start.name), None)
    if start_task is None or start_task.state != TaskState.WAITING:
        return start_task  # e.g. a conditional start whose condition already holds
    event = BpmnEvent(start.event_definition, payload=payload, correlations=dict(wf.correlations))
    start_task.task_spec.catch(start_task, event)
    start_task.task_spec._update(start_task)
    if getattr(start.event_definition, "message_var", None) is None and getattr(
        start.event_definition, "variable", None
    ) is None and payload:
        start_task.data.update(payload)
    return start_task


# -- the runner's part ----------------------------------------------------------------------


def _triggered_start(top: Any, esp_task: Any) -> Any | None:
    """The event start of the event sub-process run by `esp_task`, once its event has come."""
    sub = top.subprocesses.get(esp_task.id)
    if sub is None:
        return None
    for task in sub.tasks.values():
        if isinstance(task.task_spec, StartEvent) and task.state in (
            TaskState.READY, TaskState.STARTED, TaskState.COMPLETED
        ):
            return task
    return None


def _cancel_all_but(task: Any, keep: Any) -> None:
    """Cancel `task`'s branch, except the path down to `keep`."""
    if task is keep:
        return
    ancestor = keep.parent
    while ancestor is not None and ancestor is not task:
        ancestor = ancestor.parent
    if ancestor is task:
        for child in list(task.children):
            _cancel_all_but(child, keep)
    else:
        task.cancel()


def _has_esps(spec: Any) -> bool:
    """Whether a process spec has event sub-processes at all (remembered on the shared spec)."""
    known = getattr(spec, "_crmflow_has_esps", None)
    if known is None:
        known = any(is_event_subprocess(s) for s in spec.task_specs.values())
        spec._crmflow_has_esps = known
    return known


def _esp_tasks(wf: Any) -> list[Any]:
    if not _has_esps(wf.spec):
        return []  # the common case: nothing to look for in the task map
    return [t for t in wf.tasks.values() if is_event_subprocess(t.task_spec)]


def settle(top: Any) -> bool:
    """Interrupt scopes of triggered interrupting event sub-processes; retire idle ones.
    True when anything changed."""
    changed = False
    for wf in [top, *top.subprocesses.values()]:
        esps = _esp_tasks(wf)
        if not esps:
            continue
        idle = []
        for esp in esps:
            if esp.state == TaskState.COMPLETED and esp.internal_data.get(SETTLED) in ("interrupted", "running"):
                # Started by an event, it ends in the scope's End, past the join that carries
                # the flow's data into the process: carry its data there too.
                wf.data.update(esp.data)
                esp.internal_data[SETTLED] = "done"
                changed = True
            if esp.internal_data.get(SETTLED) or esp.state == TaskState.CANCELLED:
                continue
            start = _triggered_start(top, esp)
            if start is None:
                if not esp.has_state(TaskState.FINISHED_MASK):
                    idle.append(esp)
                continue
            if is_interrupting(start.task_spec):
                esp.internal_data[SETTLED] = "interrupted"
                _cancel_all_but(wf.task_tree, esp)
            else:
                esp.internal_data[SETTLED] = "running"
            changed = True
        if idle and _own_flow_finished(wf, esps):
            for esp in idle:
                if not esp.has_state(TaskState.FINISHED_MASK):
                    esp.cancel()
                    changed = True
            for join in [t for t in wf.tasks.values() if t.task_spec.name.endswith(".EndJoin")]:
                if join.state == TaskState.WAITING:
                    join.task_spec._update(join)  # it waited for the retired ones too
        changed = _hand_back(wf) or changed
    return changed


def _hand_back(wf: Any) -> bool:
    """A sub-process that ended through an event sub-process (its own End cancelled) lets the
    task that runs it go on, as its normal end would."""
    if wf.parent_task_id is None or not wf.is_completed():
        return False
    parent = wf.top_workflow.get_task_from_id(wf.parent_task_id)
    if parent is None or parent.state != TaskState.STARTED:
        return False
    parent.task_spec._on_subworkflow_completed(wf, parent)
    return True


def _own_flow_finished(wf: Any, esps: list[Any]) -> bool:
    """Nothing of the scope is active but event sub-processes still waiting for their start."""
    idle_ids = {t.id for t in esps if not t.internal_data.get(SETTLED)}
    for task in wf.tasks.values():
        closing = task.task_spec.name == "End" or task.task_spec.name.endswith(".EndJoin")
        if task.id not in idle_ids and not closing and task.has_state(ACTIVE):
            return False  # the flow, or a triggered event sub-process, still runs
    return True
