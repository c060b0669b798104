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

WATCHED = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.COMPLETED


def newest_data(workflow: Any) -> dict[str, Any]:
    """The instance's newest values: the data of its most recently changed tasks win."""
    tasks = [t for wf in [workflow, *workflow.subprocesses.values()] for t in wf.tasks.values() if t.state & WATCHED]
    data: dict[str, Any] = {}
    for task in sorted(tasks, key=lambda t: t.last_state_change)[-50:]:
        data.update(task.data)
    return data


def refresh(workflow: Any) -> bool:
    """Fire the waiting conditional events whose condition now holds; True when any fired."""
    waiting = [
        t for wf in [workflow, *workflow.subprocesses.values()] for t in wf.tasks.values()
        if t.state == TaskState.WAITING
        and isinstance(getattr(t.task_spec, "event_definition", None), ConditionalEventDefinition)
    ]
    if not waiting:
        return False
    latest = newest_data(workflow)
    fired = False
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
