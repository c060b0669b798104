"""Injected time.

The engine never asks the operating system for the time directly: it asks a `Clock`, so
tests, scenarios and `crmflow tick --now` can move time instead of sleeping.

Within an engine call, `frozen_time` holds that call's time in a context variable;
`frozen_now()` reads it. SpiffWorkflow's timers read it too, once the engine is built
(engine/spiff/timer_now.py), so diagram timers follow the injected clock.
"""

from __future__ import annotations

import contextvars
import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol

from .scoped import Scoped


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to: for tests, scenarios and `tick --now`."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = ensure_utc(start) if start else datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = ensure_utc(when)

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now = self._now + delta
            return self._now


def ensure_utc(when: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted to UTC."""
    if when.tzinfo is UTC:
        return when
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


_current: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("crmflow_now", default=None)


def frozen_now() -> datetime | None:
    """The time of the engine call in progress (see `frozen_time`), or None outside one."""
    return _current.get()


def frozen_time(when: datetime) -> Scoped:
    """Within this block SpiffWorkflow's timers see `when` as the current time."""
    return Scoped((_current, ensure_utc(when)))
