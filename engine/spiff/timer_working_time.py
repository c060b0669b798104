"""Duration timers marked `businessCalendar` count working time (engine/working_time.py).

Upstream defect: `DurationTimerEventDefinition.has_fired` computes the due time itself from the
wall-clock duration, with no hook to compute it another way.

Timer specs are serialized by class name, so a subclass would change every stored spec; instead
`install()` wraps `has_fired`: when the timer starts waiting, a business-hours due time is stored
where upstream keeps a duration timer's due time (`internal_data['event_value']`), then upstream's
`has_fired` runs as before.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import DurationTimerEventDefinition

from ..working_time import due_in_working_time

_upstream_has_fired = DurationTimerEventDefinition.has_fired


def _has_fired(self: DurationTimerEventDefinition, my_task: Any) -> bool:
    if my_task._get_internal_data("event_value") is None:
        due = due_in_working_time(self, my_task)
        if due is not None:
            my_task._set_internal_data(event_value=due.isoformat())
    return _upstream_has_fired(self, my_task)


def install() -> None:
    if DurationTimerEventDefinition.has_fired is not _has_fired:
        DurationTimerEventDefinition.has_fired = _has_fired  # type: ignore[method-assign]


def installed() -> bool:
    return DurationTimerEventDefinition.has_fired is _has_fired
