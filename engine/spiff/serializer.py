"""The serializer configuration: specs once per version, an instance's running state without its spec.

Upstream defect: `BpmnWorkflowSerializer` writes the whole spec into every serialized workflow, and
its workflow converter offers no way to write or read the running part alone.

`BpmnWorkflowSerializer.configure` is upstream's extension point: `REGISTRY` is configured with
`SPIFF_CONFIG` plus converters for `Decimal` and `date` (process data CRM scripts produce), and
`STATE` is a `StateConverter`, upstream's `BpmnWorkflow` converter extended by `state_to_dict` /
`state_from_dict` (used by engine/state.py). Both are objects of our own; nothing upstream changes.
"""

from __future__ import annotations

from copy import copy
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.default.workflow import TaskConverter
from SpiffWorkflow.bpmn.serializer.helpers.registry import DefaultRegistry
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

__all__ = ["REGISTRY", "SERIALIZER", "SERIALIZER_VERSION", "STATE", "StateConverter", "StateTaskConverter"]


class StateConverter(SPIFF_CONFIG[BpmnWorkflow]):  # type: ignore[misc, valid-type]
    """Upstream's `BpmnWorkflow` converter, plus the running state without the spec."""

    def state_to_dict(self, workflow: BpmnWorkflow) -> dict[str, Any]:
        registry = self.registry
        return {
            "data": registry.convert(registry.clean(workflow.data)),
            "correlations": workflow.correlations,
            "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
            "success": workflow.success,
            "completed": workflow.completed,
            "tasks": self.mapping_to_dict(workflow.tasks),
            "root": str(workflow.task_tree.id),
            "subprocesses": self.mapping_to_dict(workflow.subprocesses),
            "bpmn_events": registry.convert(workflow.bpmn_events),
        }

    def state_from_dict(
        self, dct: dict[str, Any], spec: Any, subprocess_specs: dict[str, Any], script_engine: Any
    ) -> BpmnWorkflow:
        workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], _uuid, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(_uuid(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.get("bpmn_events", []))
        return workflow


_UUIDS: dict[str, UUID] = {}  # task ids as read back: the same ids come back at every load of an instance
_UUIDS_KEPT = 20_000  # about 6 MB at most; cleared when full


def _uuid(text: str) -> UUID:
    """`UUID(text)`, remembered: parsing a UUID is most of what reading a task's ids costs, and
    a UUID is immutable, so workflows can share one."""
    found = _UUIDS.get(text)
    if found is None:
        if len(_UUIDS) >= _UUIDS_KEPT:
            _UUIDS.clear()
        found = _UUIDS[text] = UUID(text)
    return found


class StateTaskConverter(TaskConverter):  # type: ignore[misc]
    """Upstream's `Task` converter; reading a task does the same, in less time.

    Upstream defect (cost): `TaskConverter.from_dict` parses every task's id, parent and
    children anew (`UUID(...)`, in Python) and starts a task's data from its parent's with
    `DeepMerge.merge({}, parent.data)`, a generic merge into an empty dict. Here ids come from
    `_uuid`, and the data starts as the merge's result made directly: the parent's keys, each
    dict, list or set value copied one level (as the merge's shallow `copy`), other values as
    they are. Writing (`to_dict`) is upstream's, unchanged."""

    def from_dict(self, dct: dict[str, Any], workflow: Any) -> Any:
        task_spec = workflow.spec.task_specs.get(dct["task_spec"])
        task = self.target_class(workflow, task_spec, state=dct["state"], id=_uuid(dct["id"]))
        task._parent = _uuid(dct["parent"]) if dct["parent"] is not None else None
        task._children = [_uuid(child) for child in dct["children"]]
        task.last_state_change = dct["last_state_change"]
        task.triggered = dct["triggered"]
        task.internal_data = self.registry.restore(dct["internal_data"])
        if isinstance(task_spec, CatchingEvent) and task.has_state(TaskState.WAITING):
            task.workflow.top_workflow.event_manager.add_task(task)
        delta = dct.get("delta")
        parent = task.parent if delta else None
        if delta and parent is not None:
            data = {key: copy(value) if isinstance(value, (dict, list, set)) else value
                    for key, value in parent.data.items()}
            data.update(self.registry.restore(delta.get("updates", {})))
            for key in delta.get("deletions", {}):
                if key in data:
                    del data[key]
        else:
            data = self.registry.restore(dct["data"])
        task.data = data
        return task


def _registry() -> DefaultRegistry:
    registry = DefaultRegistry()
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
    return BpmnWorkflowSerializer.configure(
        {**SPIFF_CONFIG, BpmnWorkflow: StateConverter, Task: StateTaskConverter}, registry
    )


REGISTRY = _registry()
STATE = StateConverter(BpmnWorkflow, REGISTRY)  # registers itself again: the same converter, held by us
SERIALIZER = BpmnWorkflowSerializer(REGISTRY)
