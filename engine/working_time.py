"""Timers that count working time: a duration timer marked with a business calendar.

A timer event carrying the property `businessCalendar` (spiffworkflow:property, an
expression naming a calendar, e.g. `"support"` or `team_calendar`) counts its duration in
that calendar's working time: "PT4H" raised Friday 16:00 for a Mon–Fri 9–17 team is due
Monday 12:00. The engine knows no calendars: it asks the `WorkingTime` function it was
built with (crmflow wires the CRM's business-hours calendars in). Only the hour, minute
and second parts of a duration are working time; a duration in days or months is refused,
because "two working days" is not 48 working hours and guessing would fire at the wrong time.

The due time is computed once, when the timer starts waiting, and stored where SpiffWorkflow
keeps a duration timer's due time (`internal_data['event_value']`), so the timer row, the
scheduler and a reload all see the same instant. Dates and cycles are not affected.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import DurationTimerEventDefinition, TimerEventDefinition
from sqlalchemy.orm import Session

from .scoped import Scoped

#: `working_time(session, calendar_name, start, duration)` → the instant `duration` of working time after `start`
WorkingTime = Callable[[Session, str, datetime, timedelta], datetime]
PROPERTY = "businessCalendar"
_TIME_PARTS = ("hours", "minutes", "seconds")


class WorkingTimeError(ValueError):
    """A business-hours timer that cannot be computed; the message names the timer and the fix."""


Scope = Callable[[Any, str, timedelta], datetime]
_scope: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("crmflow_working_time", default=None)


def working_time_scope(calendar_due: Scope | None) -> Scoped:
    """Within this block, business-hours timers ask `calendar_due(task, calendar, duration)`."""
    return Scoped((_scope, calendar_due))


def calendar_expression(task_spec: Any) -> str | None:
    """The `businessCalendar` expression of a timer event, or None for an ordinary timer."""
    props = ((getattr(task_spec, "extensions", None) or {}).get("properties") or {})
    expression = props.get(PROPERTY)
    return expression if expression not in (None, "") else None


def working_duration(text: Any, element: str) -> timedelta:
    """An ISO 8601 duration made only of hours, minutes and seconds (PT4H, PT1H30M)."""
    try:
        parsed = TimerEventDefinition.parse_iso_duration(str(text))
    except Exception:  # noqa: BLE001 - SpiffWorkflow raises a bare Exception
        raise WorkingTimeError(f"timer {element}: {text!r} is not an ISO 8601 duration such as 'PT4H'") from None
    other = [part for part, value in parsed.items() if part not in _TIME_PARTS and value]
    if other:
        raise WorkingTimeError(
            f"timer {element} counts working time, so its duration takes hours and minutes "
            f"(e.g. 'PT16H' for two 8-hour days), not {', '.join(other)}: {text!r}"
        )
    return timedelta(**{part: parsed.get(part, 0) for part in _TIME_PARTS})


def due_in_working_time(definition: DurationTimerEventDefinition, my_task: Any) -> datetime | None:
    """The business-hours due time of a duration timer, or None for an ordinary timer.

    Called by engine/spiff/timer_working_time.py when the timer starts waiting."""
    expression = calendar_expression(my_task.task_spec)
    if expression is None:
        return None
    element = my_task.task_spec.bpmn_id or my_task.task_spec.name
    calendar_due = _scope.get()
    if calendar_due is None:
        raise WorkingTimeError(
            f"timer {element} is marked {PROPERTY} but this engine has no working-time calendar "
            "(build the Engine with working_time=...)"
        )
    engine = my_task.workflow.script_engine
    calendar = engine.evaluate(my_task, expression)
    if not calendar:
        raise WorkingTimeError(f"timer {element}: {PROPERTY} {expression!r} gave no calendar name")
    duration = working_duration(engine.evaluate(my_task, definition.expression), element)
    return calendar_due(my_task, str(calendar), duration)
