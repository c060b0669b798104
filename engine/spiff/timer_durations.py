"""Bounded, loop-free ISO 8601 durations for every timer, task date and start timer.

Upstream defect: `TimerEventDefinition` turns `P<n>Y`/`P<n>M` into days by looping over every month,
with no bound (`"P99999999Y"` ran 1.2 billion iterations outside any sandbox).

The duration functions are static methods that every timer, task date and start timer calls through
the class, so `install()` replaces them with `engine.durations`' (same results, bounded, constant time).
"""

from __future__ import annotations

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .. import durations

_REPLACEMENTS = {
    "parse_iso_duration": durations.parse_iso_duration,
    "get_timedelta_from_start": durations.get_timedelta_from_start,
    "get_timedelta_from_end": durations.get_timedelta_from_end,
}


def install() -> None:
    for name, function in _REPLACEMENTS.items():
        if TimerEventDefinition.__dict__[name].__func__ is not function:
            setattr(TimerEventDefinition, name, staticmethod(function))


def installed() -> bool:
    return all(TimerEventDefinition.__dict__[name].__func__ is function for name, function in _REPLACEMENTS.items())
