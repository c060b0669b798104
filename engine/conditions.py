"""Conditional events re-evaluated whenever the instance's data may have changed.

SpiffWorkflow evaluates a conditional catch event's condition when the event is reached
(and when something calls `_update` on it); nothing calls it again, so an instance whose
condition becomes true later (another branch completes a task, a message brings data)
waits forever. The runner calls `refresh` each time it runs out of work, i.e. at the end
of every unit of work that changed something: each waiting conditional event is
evaluated against its own data overlaid with the newest data of the instance, and fires
(taking that data) when true.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.conditional import ConditionalEventDefinition
from SpiffWorkflow.util.task import TaskState

from . import event_subprocesses
from .event_subprocesses import WATCHED, newest_data  # noqa: F401 - named here by callers

REMEMBERED = "crmflow_conditional_starts"


def _holds(task: Any, expression: str, data: dict[str, Any]) -> bool:
    before = task.data
    task.data = {**before, **data}
    try:
        return bool(task.workflow.script_engine.evaluate(
            task, expression, external_context=task.workflow.data_objects
        ))
    except Exception:  # noqa: BLE001 - a condition that cannot be evaluated yet does not hold
        return False
    finally:
        task.data = before


def refresh_event_subprocesses(workflow: Any, latest: dict[str, Any]) -> bool:
    """Start event sub-processes whose conditional start just became true (false -> true:
    a condition that stays true does not start another one)."""
    started = False
    for scope, name, start in event_subprocesses.triggers(workflow, ConditionalEventDefinition):
        memory = scope.task_tree.internal_data.setdefault(REMEMBERED, {})
        holds = _holds(scope.task_tree, start.event_definition.expression, latest)
        if holds and not memory.get(start.name):
            start_task = event_subprocesses.start_event_subprocess(scope, name, start, None)
            if start_task is not None and start_task.state == TaskState.WAITING:
                # Its condition holds on the newest data (its own is the scope's older copy).
                start_task.data = {**start_task.data, **latest}
                start_task._ready()
            started = True
        memory[start.name] = holds
    return started


def refresh(workflow: Any) -> bool:
    """Fire the waiting conditional events whose condition now holds; True when any fired."""
    conditional_starts = next(event_subprocesses.triggers(workflow, ConditionalEventDefinition), None)
    started = conditional_starts is not None and refresh_event_subprocesses(workflow, newest_data(workflow))
    waiting = [
        t for wf in [workflow, *workflow.subprocesses.values()] for t in wf.tasks.values()
        if t.state == TaskState.WAITING
        and isinstance(getattr(t.task_spec, "event_definition", None), ConditionalEventDefinition)
    ]
    if not waiting:
        return started
    latest = newest_data(workflow)
    fired = started
    for task in waiting:
        before = task.data
        task.data = {**before, **latest}
        definition = task.task_spec.event_definition
        try:
            holds = task.workflow.script_engine.evaluate(
                task, definition.expression, external_context=task.workflow.data_objects
            )
        except Exception:  # noqa: BLE001 - a condition that cannot be evaluated yet keeps waiting
            holds = False
        if holds:
            # Not `_update`: it would first re-inherit the data from the parent task.
            task._ready()
            fired = True
        else:
            task.data = before
    return fired
