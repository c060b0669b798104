"""Injected time.

The engine never asks the operating system for the time directly: it asks a `Clock`, so
tests, scenarios and `crmflow tick --now` can move time instead of sleeping.

SpiffWorkflow's timer definitions call `datetime.now(timezone.utc)` themselves. We point
the `datetime` name inside that one module at a subclass whose `now()` reads the clock of
the engine call in progress (a context variable), so diagram timers follow the injected
clock too. Outside an engine call it behaves exactly like `datetime.datetime`.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol


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
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


_current: contextvars.ContextVar[datetime | None] = contextvars.ContextVar("crmflow_now", default=None)


class _ClockedDatetime(datetime):
    """`datetime` whose `now()` answers the engine's clock during an engine call."""

    @classmethod
    def now(cls, tz=None):  # type: ignore[override]
        frozen = _current.get()
        if frozen is None:
            return datetime.now(tz)
        return frozen.astimezone(tz) if tz is not None else frozen.astimezone().replace(tzinfo=None)


@contextmanager
def frozen_time(when: datetime) -> Iterator[None]:
    """Within this block SpiffWorkflow's timers see `when` as the current time."""
    token = _current.set(ensure_utc(when))
    try:
        yield
    finally:
        _current.reset(token)


def _install() -> None:
    from SpiffWorkflow.bpmn.specs.event_definitions import timer

    if timer.datetime is not _ClockedDatetime:
        timer.datetime = _ClockedDatetime


_install()
