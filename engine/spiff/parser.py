"""The diagram parser the engine uses: SpiffWorkflow's, with a corrected end-event parser.

Upstream defect: `EndEventParser.create_task` does not look for a signal definition, so a signal end
event was read as a plain end and the signal boundary events it should trigger waited forever.

`BpmnParser.OVERRIDE_PARSER_CLASSES` is upstream's extension point for this: `BpmnParser` here is
`SpiffBpmnParser` with the end-event entry swapped for `SignalEndEventParser`. No global change.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import (
    CANCEL_EVENT_XPATH,
    ERROR_EVENT_XPATH,
    ESCALATION_EVENT_XPATH,
    MESSAGE_EVENT_XPATH,
    SIGNAL_EVENT_XPATH,
    TERMINATION_EVENT_XPATH,
)
from SpiffWorkflow.bpmn.specs.defaults import EndEvent
from SpiffWorkflow.spiff.parser.event_parsers import SpiffEndEventParser
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

__all__ = ["VALIDATOR", "BpmnParser", "SignalEndEventParser"]


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


class BpmnParser(SpiffBpmnParser):
    """`SpiffBpmnParser` with `SignalEndEventParser` for end events."""

    OVERRIDE_PARSER_CLASSES = {
        **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES,
        full_tag("endEvent"): (SignalEndEventParser, EndEvent),
    }
