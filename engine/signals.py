"""Signals: broadcast to every instance waiting on one, and starting signal-start processes.

Inside one instance SpiffWorkflow already hands a thrown signal to every catch event that
waits for it. Across instances nothing did: these helpers find what an instance waits on
(projected as subscription rows of kind "signal", like message subscriptions), deliver a
signal to one loaded workflow, and name the signal starts of a process spec. The facade's
`Engine.signal` ties them together, one unit of work per instance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.util.task import TaskState

from . import event_subprocesses

KIND = "signal"


@dataclass
class SignalWait:
    task_id: str
    element_id: str
    signal_name: str


def _signal_names(definition: Any, task: Any = None) -> list[str]:
    """Signals `definition` waits for (those a parallel multiple event has already caught left out)."""
    from .projections import already_seen

    candidates = definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
    return [
        d.name for d in candidates
        if isinstance(d, SignalEventDefinition) and d.name and not (task is not None and already_seen(task, d))
    ]


def signal_waits(workflow: Any) -> list[SignalWait]:
    """Every catch event (boundary, intermediate, event gateway) of the instance waiting for a signal."""
    found = []
    for wf in [workflow, *workflow.subprocesses.values()]:
        for task in wf.tasks.values():
            if task.state != TaskState.WAITING:
                continue
            definition = getattr(task.task_spec, "event_definition", None)
            if definition is None or event_subprocesses.is_own_start(task):
                continue
            for name in _signal_names(definition, task):
                found.append(SignalWait(str(task.id), task.task_spec.bpmn_id, name))
    for scope, _, start in event_subprocesses.triggers(workflow, SignalEventDefinition):
        found.append(SignalWait(str(scope.task_tree.id), start.bpmn_id, start.event_definition.name))
    return found


def signal_starts(spec: Any) -> list[str]:
    """Names of the signals that start a process (its own start events)."""
    names = set()
    for task_spec in spec.task_specs.values():
        if isinstance(task_spec, StartEvent):
            names.update(_signal_names(getattr(task_spec, "event_definition", None)))
    return sorted(names)


def deliver(workflow: Any, name: str, payload: dict[str, Any] | None) -> int:
    """Hand the signal to every task of this instance that waits for it; how many caught it.

    The payload (a JSON object) is merged into each catching task's data, as SpiffWorkflow
    does with a signal thrown inside the instance."""
    starting = [
        (scope, esp, start) for scope, esp, start in event_subprocesses.triggers(workflow, SignalEventDefinition)
        if start.event_definition.name == name
    ]
    caught = _catch(workflow, name, payload)
    for scope, esp, start in starting:  # armed before this signal came
        if event_subprocesses.start_event_subprocess(scope, esp, start, payload) is not None:
            caught += 1
    return caught


def _catch(workflow: Any, name: str, payload: dict[str, Any] | None) -> int:
    waiting = _waiting_for(workflow, name)
    if not waiting:
        return 0
    # The diagram's own definition object: SpiffWorkflow matches events by class and name,
    # and the spiff parser's signal class is not the bpmn one.
    event = BpmnEvent(waiting[0][1], payload=dict(payload) if payload else None)
    caught = workflow.event_manager.catch(event, internal=False)
    if payload:
        for task, definition in waiting:
            # A catch event naming a variable gets the payload there (SpiffWorkflow);
            # otherwise its fields become data, as a message's do.
            if task.state != TaskState.WAITING and getattr(definition, "variable", None) is None:
                task.data.update(payload)
    return caught


def _waiting_for(workflow: Any, name: str) -> list[tuple[Any, Any]]:
    found = []
    for task in list(workflow.event_manager.tasks.values()):
        definition = getattr(task.task_spec, "event_definition", None)
        candidates = (
            definition.event_definitions if isinstance(definition, MultipleEventDefinition) else [definition]
        )
        found.extend((task, d) for d in candidates if isinstance(d, SignalEventDefinition) and d.name == name)
    return found
