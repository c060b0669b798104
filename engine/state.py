"""An instance's running state as JSON, without its spec.

SpiffWorkflow's serializer writes the whole spec into every workflow. We store the spec
once per process version (see `definitions`) and serialize only the running part here;
loading re-attaches the version's already-deserialized spec objects, which SpiffWorkflow
shares between workflows as a matter of course.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

from .definitions import REGISTRY
from .errors import EngineError

REGISTRY.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
REGISTRY.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))

_WORKFLOW_CONVERTER = REGISTRY.convert_to_dict[REGISTRY.typenames[BpmnWorkflow]].args[1].__self__
SUPPORTED_VERSIONS = {SERIALIZER_VERSION}


class StateVersionError(EngineError):
    code = "state_version"


def dump_state(workflow: BpmnWorkflow) -> str:
    """Serialize everything but the spec (and subprocess specs) to compact JSON."""
    conv = _WORKFLOW_CONVERTER
    dct = {
        "data": REGISTRY.convert(REGISTRY.clean(workflow.data)),
        "correlations": workflow.correlations,
        "last_task": str(workflow.last_task.id) if workflow.last_task is not None else None,
        "success": workflow.success,
        "completed": workflow.completed,
        "tasks": conv.mapping_to_dict(workflow.tasks),
        "root": str(workflow.task_tree.id),
        "subprocesses": conv.mapping_to_dict(workflow.subprocesses),
        "bpmn_events": REGISTRY.convert(workflow.bpmn_events),
    }
    return json.dumps(dct, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set):
        return sorted(value)
    raise TypeError(f"value of type {type(value).__name__} cannot be stored in process data")


def load_state(
    state_json: str,
    serializer_version: str,
    spec: Any,
    subprocess_specs: dict[str, Any],
    script_engine: Any,
) -> BpmnWorkflow:
    """Rebuild a workflow from `dump_state` output and the version's spec objects."""
    if serializer_version not in SUPPORTED_VERSIONS:
        raise StateVersionError(
            f"instance state was written by serializer {serializer_version}; this engine reads "
            f"{', '.join(sorted(SUPPORTED_VERSIONS))} (run `crmflow db upgrade`)"
        )
    dct = json.loads(state_json)
    conv = _WORKFLOW_CONVERTER
    workflow = BpmnWorkflow(spec, subprocess_specs, script_engine=script_engine, deserializing=True)
    workflow.tasks = conv.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
    workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
    conv.set_default_attributes(workflow, dct)
    conv.subprocesses_from_dict(dct["subprocesses"], workflow)
    workflow.bpmn_events = REGISTRY.restore(dct.get("bpmn_events", []))
    return workflow
