"""Schedules of timer start events: first occurrence at deploy, the next after each firing.

An expression is evaluated in the sandbox like any diagram expression and must give a
string: an ISO 8601 date (`"2026-12-01T02:00:00Z"`, once), a duration (`"PT1H"`, once,
counted from the deploy), a repeating interval (`"R/P1D"`, `"R3/2026-12-01T02:00:00Z/P1D"`)
or a cron line (`"cron: 0 2 * * *"`, UTC).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .clock import ensure_utc, frozen_time
from .errors import DefinitionError
from .sandbox import RestrictedEnvironment


@dataclass
class Schedule:
    kind: str
    next_due_at: datetime | None
    remaining: int
    period_seconds: float | None


def first_schedule(expression: str, now: datetime, where: str) -> Schedule:
    try:
        text = str(RestrictedEnvironment().evaluate(expression, {})).strip()
    except Exception as err:  # noqa: BLE001 - reported as a definition problem
        raise DefinitionError(f"{where}: timer start expression {expression!r} does not evaluate: {err}") from None
    try:
        if text.lower().startswith("cron:"):
            trigger = CronTrigger.from_crontab(text[5:].strip(), timezone=UTC)
            return Schedule("cron", trigger.get_next_fire_time(None, now), -1, None)
        with frozen_time(now):
            if text.upper().startswith("R"):
                cycles, start, duration = TimerEventDefinition.parse_iso_recurring_interval(text)
                return Schedule("cycle", ensure_utc(start), cycles, duration.total_seconds())
            if text.upper().startswith("P"):
                parsed = TimerEventDefinition.parse_iso_duration(text)
                return Schedule("duration", now + TimerEventDefinition.get_timedelta_from_start(parsed, now), 1, None)
            return Schedule("date", ensure_utc(TimerEventDefinition.get_datetime(text)), 1, None)
    except DefinitionError:
        raise
    except Exception as err:  # noqa: BLE001
        raise DefinitionError(f"{where}: timer start {text!r} is not an ISO 8601 date, duration, cycle or cron line: "
                              f"{err}") from None


def after_firing(kind: str, expression_value: str, due: datetime, remaining: int, period: float | None,
                 now: datetime) -> tuple[datetime | None, int]:
    """The next occurrence after one fired at `due` (skipping any missed while down)."""
    if kind in ("date", "duration"):
        return None, 0
    if kind == "cron":
        trigger = CronTrigger.from_crontab(expression_value, timezone=UTC)
        return trigger.get_next_fire_time(None, max(now, due) + timedelta(microseconds=1)), -1
    left = remaining - 1 if remaining > 0 else remaining
    if left == 0 or not period:
        return None, 0
    step = timedelta(seconds=period)
    nxt = due + step
    if nxt <= now:
        missed = int((now - nxt) / step) + 1
        nxt += missed * step
        if left > 0:
            left = max(0, left - missed)
            if left == 0:
                return None, 0
    return nxt, left


def cron_line(expression: str) -> str:
    text = str(RestrictedEnvironment().evaluate(expression, {})).strip()
    return text[5:].strip() if text.lower().startswith("cron:") else text
