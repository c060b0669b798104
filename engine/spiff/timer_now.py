"""Diagram timers read the engine's clock.

Upstream defect: `SpiffWorkflow.bpmn.specs.event_definitions.timer` calls `datetime.now(timezone.utc)`
itself, so a timer cannot follow an injected clock (tests, scenarios, `crmflow tick --now`).

There is no extension point for "now", so `install()` points the `datetime` name inside that one
module at a subclass whose `now()` answers `engine.clock.frozen_now()` (the time of the engine call
in progress). Outside an engine call it behaves exactly like `datetime.datetime`.
"""

from __future__ import annotations

from datetime import datetime

from SpiffWorkflow.bpmn.specs.event_definitions import timer

from ..clock import frozen_now


class ClockedDatetime(datetime):
    """`datetime` whose `now()` answers the engine's clock during an engine call."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        frozen = frozen_now()
        if frozen is None:
            return datetime.now(tz)
        return frozen.astimezone(tz) if tz is not None else frozen.astimezone().replace(tzinfo=None)


def install() -> None:
    if timer.datetime is not ClockedDatetime:
        timer.datetime = ClockedDatetime  # type: ignore[misc]


def installed() -> bool:
    return timer.datetime is ClockedDatetime
