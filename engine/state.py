"""An instance's running state as JSON, without its spec.

SpiffWorkflow's serializer writes the whole spec into every workflow. We store the spec
once per process version (see `definitions`) and serialize only the running part here;
loading re-attaches the version's already-deserialized spec objects, which SpiffWorkflow
shares between workflows as a matter of course. The converter that writes and reads the
running part is engine/spiff/serializer.py's `STATE`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from SpiffWorkflow.bpmn.workflow import BpmnWorkflow

from .errors import EngineError
from .spiff.serializer import SERIALIZER_VERSION, STATE

SUPPORTED_VERSIONS = {SERIALIZER_VERSION}


class StateVersionError(EngineError):
    code = "state_version"


def dump_state(workflow: BpmnWorkflow) -> str:
    """Serialize everything but the spec (and subprocess specs) to compact JSON."""
    dct = STATE.state_to_dict(workflow)
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
    return STATE.state_from_dict(dct, spec, subprocess_specs, script_engine)
