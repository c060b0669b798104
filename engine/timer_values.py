"""Check what a timer's expression gives before SpiffWorkflow uses it.

SpiffWorkflow 3.2 parses a timer value loosely: `"P"` or `""` is a zero duration (the timer
fires at once and the instance runs on as if the wait had passed), `"-PT1H"` is accepted,
a number or a `timedelta` fails with "AttributeError: ... has no attribute 'lower'", and a
date timer keeps an unparsable value so that even a retry cannot recover. The runner calls
`check` before a timer event is set up; a bad value raises `TimerValueError`, whose
message names the timer, the expression, what it gave and what is expected, and becomes
the timer's incident.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)

# ISO 8601 duration: at least one part, a T only before time parts, weeks alone or with days.
DURATION = re.compile(
    r"^P(?=\d|T\d)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(?:[.,]\d+)?S)?)?$", re.IGNORECASE
)


class TimerValueError(ValueError):
    """A timer expression gave a value that is no valid time for its kind of timer."""


def check(task: Any) -> None:
    """Raise TimerValueError when `task` is a timer about to start waiting on a bad value."""
    definition = getattr(task.task_spec, "event_definition", None)
    if not isinstance(definition, TimerEventDefinition) or task.internal_data.get("event_value") is not None:
        return
    if task.parent is not None:
        task._inherit_data()  # as its set-up is about to (TaskSpec._update_hook): the data it will see
    value = task.workflow.script_engine.evaluate(task, definition.expression)
    problem = _problem(definition, value)
    if problem is not None:
        spec = task.task_spec
        element = spec.bpmn_id or spec.name
        raise TimerValueError(
            f"timer {element}: its expression {definition.expression!r} gave {value!r}, which {problem}"
        )


def _problem(definition: TimerEventDefinition, value: Any) -> str | None:
    if isinstance(definition, DurationTimerEventDefinition):
        if isinstance(value, str) and DURATION.match(value.strip()):
            return None
        hint = "is not an ISO 8601 duration; a duration timer needs text such as 'PT4H', 'P2D' or 'PT0S'"
        if isinstance(value, timedelta):
            fix = iso_duration(value)
            return hint + f" (a timedelta is not accepted: write an ISO 8601 duration string, here {fix!r})"
        return hint
    if isinstance(definition, TimeDateEventDefinition):
        hint = "is not an ISO 8601 date-time; a date timer needs text such as '2026-03-01T09:00:00+01:00'"
        if isinstance(value, datetime):
            return hint + " (write the datetime's .isoformat())"
        if not isinstance(value, str):
            return hint
        try:
            parsed = TimerEventDefinition.parse_time_or_duration(value.strip())
        except Exception:  # noqa: BLE001 - SpiffWorkflow raises bare Exceptions here
            return hint
        return None if isinstance(parsed, datetime) else hint
    if isinstance(definition, CycleTimerEventDefinition):
        hint = "is not an ISO 8601 repeating interval; a cycle timer needs text such as 'R3/PT1H' or 'R/P1D'"
        if not isinstance(value, str) or not value.strip().upper().startswith("R"):
            return hint
        parts = value.strip().upper().replace("--", "/").split("/")
        durations = [p for p in parts[1:] if p.startswith("P")]
        if any(not DURATION.match(p) for p in durations):
            return hint
        try:
            TimerEventDefinition.parse_iso_recurring_interval(value.strip())
        except Exception:  # noqa: BLE001 - SpiffWorkflow raises bare Exceptions here
            return hint
    return None


def iso_duration(value: timedelta) -> str:
    """The ISO 8601 duration text for a (non-negative) timedelta, to show in the fix."""
    seconds = int(abs(value).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    text = "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")
    return text if text != "P" else "PT0S"
