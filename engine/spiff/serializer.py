"""The serializer configuration: specs once per version, an instance's running state without its spec.

Upstream defect: `BpmnWorkflowSerializer` writes the whole spec into every serialized workflow, and
its workflow converter offers no way to write or read the running part alone.

`BpmnWorkflowSerializer.configure` is upstream's extension point: `REGISTRY` is configured with
`SPIFF_CONFIG` plus converters for `Decimal` and `date` (process data CRM scripts produce), and
`STATE` is a `StateConverter`, upstream's `BpmnWorkflow` converter extended by `state_to_dict` /
`state_from_dict` (used by engine/state.py). Both are objects of our own; nothing upstream changes.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.helpers.registry import DefaultRegistry
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

__all__ = ["REGISTRY", "SERIALIZER", "SERIALIZER_VERSION", "STATE", "StateConverter"]


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
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.get("bpmn_events", []))
        return workflow


def _registry() -> DefaultRegistry:
    registry = DefaultRegistry()
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
    return BpmnWorkflowSerializer.configure({**SPIFF_CONFIG, BpmnWorkflow: StateConverter}, registry)


REGISTRY = _registry()
STATE = StateConverter(BpmnWorkflow, REGISTRY)  # registers itself again: the same converter, held by us
SERIALIZER = BpmnWorkflowSerializer(REGISTRY)
