"""Workarounds for SpiffWorkflow 3.2.0 behaviour that would break a CRM process.

Each fix is small, named after what it prevents, covered by a test, and applied once
when the engine is imported. Remove a fix when the upstream release that contains it is
the one pinned in pyproject.toml.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.event_parsers import (
    CANCEL_EVENT_XPATH,
    CONDITIONAL_EVENT_XPATH,
    ERROR_EVENT_XPATH,
    ESCALATION_EVENT_XPATH,
    MESSAGE_EVENT_XPATH,
    SIGNAL_EVENT_XPATH,
    TERMINATION_EVENT_XPATH,
    TIMER_EVENT_XPATH,
    EndEventParser,
    StartEventParser,
)
from SpiffWorkflow.bpmn.specs.control import BpmnStartTask
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import CodeEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.simple import NoneEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

_original_has_fired = MultipleEventDefinition.has_fired


def _event_gateway_fires_once(self: MultipleEventDefinition, my_task: Any) -> bool:
    """An event-based gateway takes the FIRST event that arrives, only that one.

    Upstream, a gateway that caught a message still adds any timer that is due by the
    time it runs to the events it has seen, and then starts a branch for each: a message
    arriving after the timer's due time but before the scheduler's pass ran both the
    "reply" and the "chase" branches.
    """
    if not self.parallel and my_task.internal_data.get("seen_events"):
        return True
    return _original_has_fired(self, my_task)


def _end_event_with_signal(self: Any) -> Any:
    """A signal end event throws its signal.

    Upstream's end event parser does not look for a signal definition, so a signal end
    event was read as a plain end: the signal boundary events it should trigger (in a
    sibling branch, or in other instances) waited forever.
    """
    definition = self.get_event_definition([
        MESSAGE_EVENT_XPATH, CANCEL_EVENT_XPATH, ERROR_EVENT_XPATH, ESCALATION_EVENT_XPATH,
        TERMINATION_EVENT_XPATH, SIGNAL_EVENT_XPATH,
    ])
    task = self._create_task(definition)
    task.connect(self.spec.end)
    return task


def _start_event_with_error_or_escalation(self: Any) -> Any:
    """An error or escalation start event (of an event sub-process) waits for its error or escalation.

    Upstream's start event parser does not look for those definitions, so such a start was read
    as a plain start: the event sub-process ran as soon as its scope started, before (and
    whether or not) anything was thrown — an error event sub-process "caught" an error never
    raised, and its interrupting start cancelled the main flow at once.
    """
    definition = self.get_event_definition([
        MESSAGE_EVENT_XPATH, SIGNAL_EVENT_XPATH, TIMER_EVENT_XPATH, CONDITIONAL_EVENT_XPATH,
        ERROR_EVENT_XPATH, ESCALATION_EVENT_XPATH,
    ])
    task = self._create_task(definition)
    self.spec.start.connect(task)
    return task


def _scope_starts_error_and_escalation_event_subprocesses(self: Any, task_spec: Any, sp_spec: Any) -> None:
    """An event sub-process with an error or escalation start starts with its scope (as a timer
    start does), its start event waiting for the event.

    Upstream lists it among the scope's triggers, which only the top level's event manager
    consults: one inside a sub-process never caught the escalation thrown in that sub-process.
    Thrown errors and escalations reach it through the event manager (the thrower's scope
    first, then outwards); `engine.event_subprocesses.settle` interrupts the scope when its
    start interrupts, and retires it once the scope's own flow has finished.
    """
    for start in sp_spec.bpmn_start_events:
        if isinstance(start.event_definition, (NoneEventDefinition, TimerEventDefinition, CodeEventDefinition)):
            self.connect(task_spec)
            task_spec.connect(self._wf_spec.end)
        else:
            self._wf_spec.task_specs[sp_spec.name] = task_spec
            self.trigger_specs.append(sp_spec.name)


def install() -> None:
    if MultipleEventDefinition.has_fired is not _event_gateway_fires_once:
        MultipleEventDefinition.has_fired = _event_gateway_fires_once  # type: ignore[method-assign]
    if EndEventParser.create_task is not _end_event_with_signal:
        EndEventParser.create_task = _end_event_with_signal  # type: ignore[method-assign]
    if StartEventParser.create_task is not _start_event_with_error_or_escalation:
        StartEventParser.create_task = _start_event_with_error_or_escalation  # type: ignore[method-assign]
    if BpmnStartTask.connect_or_add_trigger is not _scope_starts_error_and_escalation_event_subprocesses:
        BpmnStartTask.connect_or_add_trigger = (  # type: ignore[method-assign]
            _scope_starts_error_and_escalation_event_subprocesses)


install()
