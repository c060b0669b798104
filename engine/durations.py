"""ISO 8601 durations with a bound, and without SpiffWorkflow's per-month loop.

SpiffWorkflow turns ``P<n>Y``/``P<n>M`` into days by looping over every month; ``"P99999999Y"``
as a timer or task due date ran 1.2 billion iterations outside any sandbox. Here a duration is
refused beyond ``CRMFLOW_MAX_DURATION_YEARS`` (default 100) — at parse time, so ``validate``
reports it and a timer evaluated at run time becomes an incident — and months are added by
date arithmetic (the same result as the loop, in constant time). engine/spiff/timer_durations.py
puts these functions into ``TimerEventDefinition``, which every timer, task date and start timer
parses with, when an engine is built.
"""

from __future__ import annotations

import os
from calendar import monthrange
from datetime import UTC, date, datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

DEFAULT_MAX_YEARS = 100
_DAYS_PER = {"years": 366, "months": 31, "weeks": 7, "days": 1, "hours": 1 / 24, "minutes": 1 / 1440,
             "seconds": 1 / 86400}


class DurationTooLong(ValueError):
    """A duration longer than the configured bound (the message names the value and the bound)."""


def max_years() -> int:
    raw = os.environ.get("CRMFLOW_MAX_DURATION_YEARS", "").strip()
    try:
        return max(1, int(raw)) if raw else DEFAULT_MAX_YEARS
    except ValueError:
        return DEFAULT_MAX_YEARS


_spiff_parse = TimerEventDefinition.parse_iso_duration


def parse_iso_duration(expression: str) -> dict[str, Any]:
    """SpiffWorkflow's parser, then the bound: at most `max_years()` years (counted generously)."""
    parsed = _spiff_parse(expression)
    days = sum(float(value) * _DAYS_PER.get(unit, 0) for unit, value in parsed.items())
    limit = max_years()
    if days > limit * 366:
        raise DurationTooLong(
            f"duration {expression.strip()!r} is longer than the limit of {limit} years "
            "(CRMFLOW_MAX_DURATION_YEARS)"
        )
    return parsed


def _first_of_month(year: int, month: int) -> date:
    """The 1st of `month` in `year`, with months past 12 or below 1 carried into the years."""
    year, month = year + (month - 1) // 12, (month - 1) % 12 + 1
    return date(year, month, 1)


def _whole_and_fraction(parsed: dict[str, Any]) -> tuple[Any, Any]:
    years, months = parsed.pop("years", 0), parsed.pop("months", 0)
    return months + years * 12, parsed.pop("days", 0)


def get_timedelta_from_start(parsed_duration: dict[str, Any], start: datetime | None = None) -> timedelta:
    """Same result as SpiffWorkflow's: each month counted with its own length, from `start`'s."""
    start = start or datetime.now(UTC)
    months, days = _whole_and_fraction(parsed_duration)
    whole = int(months)
    try:
        days += (_first_of_month(start.year, start.month + whole) - _first_of_month(start.year, start.month)).days
        if months != whole:
            target = _first_of_month(start.year, start.month + whole)
            days += (months - whole) * monthrange(target.year, target.month)[1]
        parsed_duration["days"] = days
        return timedelta(**parsed_duration)
    except (OverflowError, ValueError) as err:
        raise DurationTooLong(f"duration reaches past the year 9999: {err}") from None


def get_timedelta_from_end(parsed_duration: dict[str, Any], end: datetime) -> timedelta:
    """Same result as SpiffWorkflow's: the months before `end`'s month, each with its length."""
    months, days = _whole_and_fraction(parsed_duration)
    whole = int(months)
    try:
        days += (_first_of_month(end.year, end.month) - _first_of_month(end.year, end.month - whole)).days
        if months != whole:
            target = _first_of_month(end.year, end.month - whole)
            days += (months - whole) * monthrange(target.year, target.month)[1]
        parsed_duration["days"] = days
        return timedelta(**parsed_duration)
    except (OverflowError, ValueError) as err:
        raise DurationTooLong(f"duration reaches before the year 1: {err}") from None
