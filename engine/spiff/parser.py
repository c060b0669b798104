"""The diagram parser the engine uses: SpiffWorkflow's, with corrected end- and start-event parsers.

Upstream defects: `EndEventParser.create_task` does not look for a signal definition, so a signal end
event was read as a plain end and the signal boundary events it should trigger waited forever; and
`StartEventParser.create_task` does not look for error or escalation definitions, so an event
sub-process with such a start ran as soon as its scope started (`scope_triggers` is the other half).

`BpmnParser.OVERRIDE_PARSER_CLASSES` is upstream's extension point for this: `BpmnParser` here is
`SpiffBpmnParser` with the end- and start-event entries swapped for the classes below. No global change.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import (
    CANCEL_EVENT_XPATH,
    CONDITIONAL_EVENT_XPATH,
    ERROR_EVENT_XPATH,
    ESCALATION_EVENT_XPATH,
    MESSAGE_EVENT_XPATH,
    SIGNAL_EVENT_XPATH,
    TERMINATION_EVENT_XPATH,
    TIMER_EVENT_XPATH,
)
from SpiffWorkflow.bpmn.specs.defaults import EndEvent, StartEvent
from SpiffWorkflow.spiff.parser.event_parsers import SpiffEndEventParser, SpiffStartEventParser
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

__all__ = ["VALIDATOR", "BpmnParser", "CodeStartEventParser", "SignalEndEventParser"]


class SignalEndEventParser(SpiffEndEventParser):
    """A signal end event throws its signal (upstream's list of end-event definitions lacks it)."""

    def create_task(self) -> Any:
        definition = self.get_event_definition([
            MESSAGE_EVENT_XPATH, CANCEL_EVENT_XPATH, ERROR_EVENT_XPATH, ESCALATION_EVENT_XPATH,
            TERMINATION_EVENT_XPATH, SIGNAL_EVENT_XPATH,
        ])
        task = self._create_task(definition)
        task.connect(self.spec.end)
        return task


class CodeStartEventParser(SpiffStartEventParser):
    """An error or escalation start event (of an event sub-process) waits for its error or escalation
    (upstream's list of start-event definitions lacks both, so it was read as a plain start)."""

    def create_task(self) -> Any:
        definition = self.get_event_definition([
            MESSAGE_EVENT_XPATH, SIGNAL_EVENT_XPATH, TIMER_EVENT_XPATH, CONDITIONAL_EVENT_XPATH,
            ERROR_EVENT_XPATH, ESCALATION_EVENT_XPATH,
        ])
        task = self._create_task(definition)
        self.spec.start.connect(task)
        return task


class BpmnParser(SpiffBpmnParser):
    """`SpiffBpmnParser` with `SignalEndEventParser` for end events and `CodeStartEventParser` for starts."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("endEvent"): (SignalEndEventParser, EndEvent),
        full_tag("startEvent"): (CodeStartEventParser, StartEvent),
    }
