"""Where a durable step's time goes, by phase: load, run, handlers, projections, history,
save, commit (and the rest of the facade call as "other").

Measured by wrapping the engine's phase functions for the duration of a `with` block
(nothing in engine/ knows about it). Times are exclusive: a handler called while the
runner runs counts as "handlers", not "run". The wrapping costs a little, so the breakdown
is taken in its own pass, never in the timed rounds.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

PHASES = ("load", "run", "handlers", "projections", "history", "save", "commit", "other")


class Breakdown:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._stack: list[list[float]] = []  # [start, child seconds]

    def wrap(self, phase: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            frame = [time.perf_counter(), 0.0]
            self._stack.append(frame)
            try:
                return fn(*args, **kwargs)
            finally:
                self._stack.pop()
                elapsed = time.perf_counter() - frame[0]
                self.seconds[phase] += elapsed - frame[1]
                if self._stack:
                    self._stack[-1][1] += elapsed

        return timed

    def row(self, total: float, steps: int) -> str:
        """`load 0.10 · run 0.40 · ...` in ms per step."""
        known = sum(self.seconds[p] for p in PHASES if p != "other")
        self.seconds["other"] = max(0.0, total - known)
        return " · ".join(f"{p} {1000 * self.seconds[p] / steps:.2f}" for p in PHASES)

    def share(self, phase: str, total: float) -> float:
        """The part of the pass's time spent in `phase` (after `row`)."""
        return self.seconds[phase] / total


@contextmanager
def measured() -> Iterator[Breakdown]:
    """Wrap the phases while the block runs; put everything back after."""
    from sqlalchemy.orm.session import SessionTransaction

    from engine import instances, scripting, unit

    breakdown = Breakdown()
    targets: list[tuple[Any, str, str]] = [
        (unit, "load_state", "load"),
        (unit.Unit, "advance", "run"),
        (unit.Unit, "run_task", "run"),
        (scripting.EngineScriptEngine, "call_service", "handlers"),
        (unit.Unit, "_write_incidents", "projections"),
        (unit.Unit, "_sync_human_tasks", "projections"),
        (unit.Unit, "_sync_timers", "projections"),
        (unit.Unit, "_sync_subscriptions", "projections"),
        (unit.Unit, "_write_jobs", "projections"),
        (instances, "write_history", "history"),  # SQLite; on PostgreSQL the history rides in save's statement
        (unit.Unit, "save", "save"),  # what save does beyond projections and history: state, instance row
        (instances, "save", "save"),
        (SessionTransaction, "commit", "commit"),  # `with session.begin()` ends here
    ]
    saved = [(owner, name, owner.__dict__[name]) for owner, name, _ in targets]
    try:
        for owner, name, phase in targets:
            setattr(owner, name, breakdown.wrap(phase, owner.__dict__[name]))
        yield breakdown
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)
