"""An event sub-process with an error or escalation start starts with its scope, its start waiting.

Upstream defect: `BpmnStartTask.connect_or_add_trigger` lists such an event sub-process among its
scope's triggers, which only the top level's event manager consults, so one inside a sub-process
never caught the escalation thrown there. Here it starts with its scope (as a timer start does);
thrown errors and escalations reach its start event through the event manager (the thrower's scope
first, then outwards), and `engine.event_subprocesses.settle` interrupts the scope when the start
interrupts and retires it once the scope's own flow has finished.

The method runs while diagrams are parsed and no extension point reaches it, so `install()` replaces
it (tests/conformance: `esp_error_*`, `esp_escalation_*`).
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.control import BpmnStartTask
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import CodeEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition


def _scope_starts_code_event_subprocesses(self: Any, task_spec: Any, sp_spec: Any) -> None:
    for start in sp_spec.bpmn_start_events:
        if isinstance(start.event_definition, (NoneEventDefinition, TimerEventDefinition, CodeEventDefinition)):
            self.connect(task_spec)
            task_spec.connect(self._wf_spec.end)
        else:
            self._wf_spec.task_specs[sp_spec.name] = task_spec
            self.trigger_specs.append(sp_spec.name)


def install() -> None:
    if BpmnStartTask.connect_or_add_trigger is not _scope_starts_code_event_subprocesses:
        BpmnStartTask.connect_or_add_trigger = _scope_starts_code_event_subprocesses  # type: ignore[method-assign]


def installed() -> bool:
    return BpmnStartTask.connect_or_add_trigger is _scope_starts_code_event_subprocesses
