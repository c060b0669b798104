"""A wall-clock bound on one unit of work (issue 23 item 6).

A unit holds the database's write lock from its first write to its commit; a chain of slow
service handlers run in one unit would keep every other writer waiting (SQLite answers them
"database is locked" after its busy timeout). The runner checks the bound between steps, never
inside one: once a unit has run longer than the limit, it stops before the next automatic step,
and that step becomes an incident naming it and the limit; the steps before it are saved as
usual (each ends at a consistent state), and a retry goes on from there.

The limit is `CRMFLOW_UNIT_SECONDS` (default 30 s), measured with an injectable monotonic clock so
tests need no real waiting.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from .errors import InvalidInput

UNIT_SECONDS_ENV = "CRMFLOW_UNIT_SECONDS"
DEFAULT_UNIT_SECONDS = 30.0


def unit_seconds_from_env() -> float:
    """The configured limit; a value that is no positive number is refused naming the variable."""
    raw = os.environ.get(UNIT_SECONDS_ENV, "").strip()
    if not raw:
        return DEFAULT_UNIT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise InvalidInput(f"{UNIT_SECONDS_ENV}={raw!r} is not a positive number of seconds (default "
                           f"{DEFAULT_UNIT_SECONDS:g})")
    return value


class UnitDeadline:
    """When the unit started and how long it may run, on `monotonic` (time.monotonic by default)."""

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.monotonic = monotonic
        self.started = monotonic()

    def passed(self) -> bool:
        return self.monotonic() - self.started > self.seconds


def overrun_message(task: Any, seconds: float) -> str:
    spec = task.task_spec
    element = getattr(spec, "bpmn_id", None) or spec.name
    name = getattr(spec, "bpmn_name", None)
    label = f'{element} "{name}"' if name else element
    return (f"this unit of work ran longer than {seconds:g} s ({UNIT_SECONDS_ENV}); it stopped before "
            f"{label} so other writers are not held up, and the steps before it are saved. Retry this "
            f"incident to go on from {element}; mark slow service tasks asynchronous "
            f"(spiffworkflow:property async=true) so each runs in its own unit, or raise {UNIT_SECONDS_ENV}")
