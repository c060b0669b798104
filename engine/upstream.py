"""Workarounds for SpiffWorkflow 3.2.0 behaviour that would break a CRM process.

Each fix is small, named after what it prevents, covered by a test, and applied once
when the engine is imported. Remove a fix when the upstream release that contains it is
the one pinned in pyproject.toml.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.event_parsers import (
    CANCEL_EVENT_XPATH,
    ERROR_EVENT_XPATH,
    ESCALATION_EVENT_XPATH,
    MESSAGE_EVENT_XPATH,
    SIGNAL_EVENT_XPATH,
    TERMINATION_EVENT_XPATH,
    EndEventParser,
)
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition

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


def install() -> None:
    if MultipleEventDefinition.has_fired is not _event_gateway_fires_once:
        MultipleEventDefinition.has_fired = _event_gateway_fires_once  # type: ignore[method-assign]
    if EndEventParser.create_task is not _end_event_with_signal:
        EndEventParser.create_task = _end_event_with_signal  # type: ignore[method-assign]


install()
