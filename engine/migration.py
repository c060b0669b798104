"""Comparing process versions and moving running instances between them.

Built on SpiffWorkflow's `SpecDiff` / `diff_workflow` / `migrate_workflow`: elements are
aligned by BPMN id. An instance may move to another version only when every element it
is active in (a ready task, a waiting event, a running subprocess) still exists there;
otherwise the move is refused with the elements that stand in the way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from SpiffWorkflow.bpmn.util.diff import SpecDiff, diff_workflow, migrate_workflow
from SpiffWorkflow.util.task import TaskState

from .projections import all_workflows
from .spiff.serializer import REGISTRY
from .views import View

ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED


def _visible(spec: Any) -> str | None:
    return getattr(spec, "bpmn_id", None)


@dataclass
class VersionDiff(View):
    """Elements added, removed and changed between two versions of one process."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def diff_specs(original: Any, new: Any) -> VersionDiff:
    diff = SpecDiff(REGISTRY, original, new)
    return VersionDiff(
        added=sorted(i for i in (_visible(s) for s in diff.added) if i),
        removed=sorted(i for i in (_visible(s) for s in diff.removed) if i),
        changed={
            _visible(s): sorted(k for k in keys if k not in ("typename",)) or ["type"]
            for s, keys in diff.changed.items()
            if _visible(s)
        },
    )


@dataclass
class MigrationPlan(View):
    instance_id: int
    from_version: int
    to_version: int
    allowed: bool
    reasons: list[str] = field(default_factory=list)
    active_elements: list[str] = field(default_factory=list)


def plan(workflow: Any, new_spec: Any, new_subprocess_specs: dict[str, Any]) -> tuple[list[str], list[str], Any]:
    """(active element ids, reasons it cannot move, diffs to apply)."""
    top_diff, sp_diffs = diff_workflow(REGISTRY, workflow, new_spec, new_subprocess_specs)
    active = sorted(
        {_visible(t.task_spec) for wf in all_workflows(workflow) for t in wf.tasks.values()
         if t.state & ACTIVE and _visible(t.task_spec)}
    )
    reasons = []
    for task in top_diff.removed:
        if task.state & ACTIVE and _visible(task.task_spec):
            reasons.append(f"'{_visible(task.task_spec)}' is active here but does not exist in the new version")
    for sp_id, sp_diff in sp_diffs.items():
        sp = workflow.subprocesses[sp_id]
        if sp.completed:
            continue
        if sp_diff is None:
            reasons.append(f"subprocess '{sp.spec.name}' is running but the new version does not have it")
            continue
        for task in sp_diff.removed:
            if task.state & ACTIVE and _visible(task.task_spec):
                element = _visible(task.task_spec)
                reasons.append(f"'{element}' (in {sp.spec.name}) is active here but does not exist in the new version")
    return active, reasons, (top_diff, sp_diffs)


def apply(workflow: Any, diffs: Any, new_spec: Any, new_subprocess_specs: dict[str, Any]) -> None:
    """Move the workflow onto the new specs, keeping waiting timers' due times."""
    top_diff, sp_diffs = diffs
    kept = {
        t.id: dict(t.internal_data)
        for wf in all_workflows(workflow)
        for t in wf.tasks.values()
        if t.state == TaskState.WAITING and "event_value" in t.internal_data
    }
    workflow.subprocess_specs = new_subprocess_specs
    migrate_workflow(top_diff, workflow, new_spec)
    for sp_id, sp_diff in sp_diffs.items():
        sp = workflow.subprocesses[sp_id]
        if sp_diff is not None and not sp.completed:
            migrate_workflow(sp_diff, sp, new_subprocess_specs[sp.spec.name])
    for wf in all_workflows(workflow):
        for task in wf.tasks.values():
            saved = kept.get(task.id)
            if saved and task.state == TaskState.WAITING:
                task.internal_data.update(saved)  # the reset recomputed it from "now"
