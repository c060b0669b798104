"""Instance modification: cancel the token at one element and/or start one at another.

Camunda calls it process instance modification, spiff-arena "reset to task". Backwards (to a
step that has run) uses SpiffWorkflow's own `reset_from_task_id`: the tasks after that step
go, the step becomes ready again with the data it had then. Forwards (to a step that has not
run yet) replaces the cancelled token with a new task of the target element, carrying the
cancelled token's data; the target may sit in the same (sub)process as the cancelled token or in
one around it (the sub-processes left end with their tokens). `plan` says what would happen
(a dry run shows it); `apply` does it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.util.task import TaskState

from . import projections as proj
from .views import ModificationPlan

ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
#: elements a forward move may start at: activities and catch events (not gateways, not joins)
_FORWARD_KINDS = ("Task", "Activity", "CallActivity", "SubWorkflow", "Event")


def _label(task: Any) -> str:
    spec = task.task_spec
    name = getattr(spec, "bpmn_name", None)
    return f"{name} ({spec.bpmn_id})" if name else str(spec.bpmn_id)


def active_tasks(workflow: Any) -> list[Any]:
    """Tokens an operator can see: active tasks of elements drawn on the diagram."""
    return [t for t in proj.iter_tasks(workflow, ACTIVE) if getattr(t.task_spec, "bpmn_id", None)]


def _labels(tasks: list[Any]) -> list[str]:
    return sorted({_label(t) for t in tasks})


def _spec_of(workflow: Any, element_id: str) -> Any | None:
    for spec in [workflow.spec, *workflow.subprocess_specs.values()]:
        for task_spec in spec.task_specs.values():
            if getattr(task_spec, "bpmn_id", None) == element_id:
                return task_spec
    return None


@dataclass
class _Move:
    cancel_tasks: list[Any]
    reset_to: Any | None
    forward_spec: Any | None
    anchor: Any | None  # the cancelled token a forward move replaces


def plan(workflow: Any, instance_id: int, cancel_element: str | None, start_element: str | None,
         dry_run: bool) -> tuple[ModificationPlan, _Move | None]:
    """Check a modification against the workflow; the plan says why when it cannot be done."""
    active = active_tasks(workflow)
    result = ModificationPlan(instance_id=instance_id, allowed=False, dry_run=dry_run,
                              active_before=_labels(active))
    cancel_element = (cancel_element or "").strip() or None
    start_element = (start_element or "").strip() or None
    if not cancel_element and not start_element:
        result.reasons.append("give an element to cancel the token at and/or one to start at")
        return result, None
    cancel_tasks: list[Any] = []
    if cancel_element:
        cancel_tasks = [t for t in active if t.task_spec.bpmn_id == cancel_element]
        if not cancel_tasks:
            shown = ", ".join(result.active_before) or "none"
            result.reasons.append(f"no token at '{cancel_element}'; active: {shown}")
        result.cancel = _labels(cancel_tasks) or [cancel_element]
    reset_to, forward_spec, anchor = None, None, None
    if start_element:
        ran = [t for t in proj.iter_tasks(workflow, TaskState.COMPLETED)
               if getattr(t.task_spec, "bpmn_id", None) == start_element]
        spec = _spec_of(workflow, start_element)
        if ran:
            reset_to = max(ran, key=lambda t: t.last_state_change)
            result.how, result.start = "back", _label(reset_to)
        elif spec is None:
            result.reasons.append(f"the process has no element '{start_element}'")
        elif not any(k in type(spec).__name__ for k in _FORWARD_KINDS) or "Gateway" in type(spec).__name__:
            result.reasons.append(f"'{start_element}' is a {type(spec).__name__}; a token starts at a task or event")
        elif not cancel_tasks:
            result.reasons.append(f"'{start_element}' has not run in this instance: moving forward needs the "
                                  "element whose token moves there (cancel at)")
        elif len(cancel_tasks) > 1:
            result.reasons.append(f"{len(cancel_tasks)} tokens at '{cancel_element}'; a forward move takes one")
        elif (anchor := _enclosing(workflow, cancel_tasks[0], spec)) is None:
            result.reasons.append(f"'{start_element}' is not in the (sub)process of '{cancel_element}' nor in "
                                  "one around it")
        else:
            forward_spec = spec
            result.how = "forward"
            name = getattr(spec, "bpmn_name", None)
            result.start = f"{name} ({start_element})" if name else start_element
    removed = {t.id for t in cancel_tasks}
    if anchor is not None:  # leaving a sub-process ends every token inside it
        removed |= {t.id for t in active if t is anchor or _inside(workflow, t, anchor)}
    if reset_to is not None:
        removed |= {t.id for t in active if t.is_descendant_of(reset_to)}
        removed |= {t.id for t in active if reset_to.workflow is not t.workflow
                    and _inside_subprocess_of(workflow, t, reset_to)}
    left = [t for t in active if t.id not in removed]
    if result.start is None and not left and not result.reasons:
        result.reasons.append(f"cancelling the token at '{cancel_element}' leaves nothing to run; "
                              "cancel the instance instead")
    result.active_after = sorted({*_labels(left), *([result.start] if result.start else [])})
    result.allowed = not result.reasons
    return result, _Move(cancel_tasks, reset_to, forward_spec, anchor) if result.allowed else None


def _enclosing(workflow: Any, task: Any, spec: Any) -> Any | None:
    """The token a forward move to `spec` replaces: `task` itself when `spec` is in its own
    (sub)process, else the sub-process activity around it that sits beside `spec`."""
    while task is not None:
        if spec.name in task.workflow.spec.task_specs and task.workflow.spec.task_specs[spec.name] is spec:
            return task
        parent_id = task.workflow.parent_task_id
        task = workflow.get_task_from_id(parent_id) if parent_id is not None else None
    return None


def _inside(workflow: Any, task: Any, activity: Any) -> bool:
    """Whether `task` runs inside the sub-process started by `activity`."""
    parent_id = task.workflow.parent_task_id
    while parent_id is not None:
        caller = workflow.get_task_from_id(parent_id)
        if caller is None:
            return False
        if caller is activity:
            return True
        parent_id = caller.workflow.parent_task_id
    return False


def _inside_subprocess_of(workflow: Any, task: Any, reset_to: Any) -> bool:
    parent_id = task.workflow.parent_task_id
    while parent_id is not None:
        caller = workflow.get_task_from_id(parent_id)
        if caller is None:
            return False
        if caller.is_descendant_of(reset_to):
            return True
        parent_id = caller.workflow.parent_task_id
    return False


def apply(workflow: Any, move: _Move) -> list[Any]:
    """Carry the move out on the workflow; returns the tasks made ready or waiting anew."""
    started: list[Any] = []
    for task in move.cancel_tasks:
        if move.reset_to is not None and task.is_descendant_of(move.reset_to):
            continue  # the reset removes it
        if task is move.anchor:
            continue
        if task.id in task.workflow.tasks:
            task.cancel()
    if move.reset_to is not None:
        workflow.reset_from_task_id(move.reset_to.id)
        started.append(_rekey(move.reset_to))
    if move.anchor is not None and move.forward_spec is not None:
        started.append(_replace(move.anchor, move.forward_spec))
    _forget_removed_waits(workflow)
    return started


def _forget_removed_waits(workflow: Any) -> None:
    """SpiffWorkflow's event manager keeps the catch events it waits on; drop those the move
    removed or cancelled (a removed boundary timer would otherwise still be refreshed)."""
    manager = getattr(workflow, "event_manager", None)
    if manager is None:
        return
    manager.tasks = {
        t.id: t for t in manager.tasks.values()
        if t.workflow.tasks.get(t.id) is t and t.state & TaskState.NOT_FINISHED_MASK
    }


def _rekey(task: Any) -> Any:
    """A step that runs again is a new task: the old one's rows (a completed worklist task)
    keep their id, the new one gets its own."""
    wf = task.workflow
    old, new = task.id, uuid4()
    wf.tasks.pop(old)
    task.id = new
    wf.tasks[new] = task
    parent = task.parent
    if parent is not None:
        parent._children = [new if c == old else c for c in parent._children]
    for child in task.children:
        child._parent = new
    return task


def _replace(anchor: Any, spec: Any) -> Any:
    """Drop the anchor token (with its boundary events) and add a task of `spec` in its place."""
    wf = anchor.workflow
    top = anchor.parent if isinstance(anchor.parent.task_spec, BoundaryEventSplit) else anchor
    parent = top.parent
    data = copy.deepcopy(anchor.data)
    root = getattr(wf, "top_workflow", wf)
    for inner in [t for t in top if t.id in root.subprocesses]:
        if inner.id in root.subprocesses:
            root.delete_subprocess(inner)  # a sub-process left by the move ends with its tokens
    wf._remove_task(top.id)
    splits = [i for i in spec.inputs if isinstance(i, BoundaryEventSplit)]
    target = splits[0] if splits else spec  # an activity with boundary events starts at their split
    child = parent._add_child(target, TaskState.FUTURE)
    child.data = data
    child.task_spec._predict(child, mask=TaskState.PREDICTED_MASK | TaskState.FUTURE)
    child._set_state(TaskState.READY)
    return child


def task_ids(tasks: list[Any]) -> list[str]:
    return [str(t.id) for t in tasks if isinstance(t.id, UUID)]
