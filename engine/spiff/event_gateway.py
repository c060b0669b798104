"""An event-based gateway takes the FIRST event that arrives, only that one.

Upstream defect: `MultipleEventDefinition.has_fired` adds a timer that is due by the time the gateway
runs to the events it has already seen, so a message caught after the timer's due time (but before
the scheduler's pass) started both the "reply" and the "chase" branches.

Event definitions are serialized by class name, so a subclass would change every stored spec;
`install()` wraps `has_fired` instead (tests/test_elements.py covers the race).
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition

_upstream_has_fired = MultipleEventDefinition.has_fired


def _event_gateway_fires_once(self: MultipleEventDefinition, my_task: Any) -> bool:
    if not self.parallel and my_task.internal_data.get("seen_events"):
        return True
    return _upstream_has_fired(self, my_task)


def install() -> None:
    if MultipleEventDefinition.has_fired is not _event_gateway_fires_once:
        MultipleEventDefinition.has_fired = _event_gateway_fires_once  # type: ignore[method-assign]


def installed() -> bool:
    return MultipleEventDefinition.has_fired is _event_gateway_fires_once
