"""Helpers for the per-element suite: every action runs on a freshly made Engine.

A new `Engine` per action (same database, empty caches) is what a restarted process sees,
so each wait in a diagram is crossed only through state saved in and reloaded from the DB.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from engine import Engine, ManualClock

ELEMENTS = Path(__file__).parent / "diagrams" / "elements"


class Restarting:
    """Drives instances through the facade, restarting the engine before every call."""

    def __init__(self, make_engine: Callable[..., Engine], clock: ManualClock) -> None:
        self.make_engine = make_engine
        self.clock = clock

    def engine(self) -> Engine:
        """A new Engine on the same database: nothing survives but what was saved."""
        return self.make_engine()

    def deploy(self, *files: str) -> None:
        paths = [ELEMENTS / name for name in files]
        for path in paths:
            assert path.exists(), f"missing element diagram {path}"
        self.engine().deploy(paths)

    def start(self, process_id: str, data: dict[str, Any] | None = None, business_key: str | None = None) -> int:
        return self.engine().start(process_id, data, business_key=business_key).id

    def instance(self, instance_id: int) -> Any:
        return self.engine().get_instance(instance_id)

    def open_tasks(self, instance_id: int) -> list[str]:
        """Element ids of the instance's open human tasks, sorted."""
        return sorted(t.element_id for t in self.engine().list_tasks(state="open", instance_id=instance_id))

    def task(self, instance_id: int, element_id: str, state: str = "open") -> Any:
        """The one task row of `element_id` in `state` (fails if there are none or several)."""
        rows = [
            t for t in self.engine().list_tasks(state=state, instance_id=instance_id) if t.element_id == element_id
        ]
        assert len(rows) == 1, f"expected one {state} task {element_id}, found {len(rows)}"
        return rows[0]

    def complete(
        self, instance_id: int, element_id: str, data: dict[str, Any] | None = None, user: str | None = None
    ) -> Any:
        task = self.task(instance_id, element_id)
        return self.engine().complete_task(task.id, user=user, data=data)

    def correlate(self, message: str, key: str | None = None, data: dict[str, Any] | None = None) -> Any:
        return self.engine().correlate(message, key=key, data=data)

    def fire_at(self, when: datetime) -> list[Any]:
        """Move the clock to `when` and fire what is due, on a fresh engine."""
        self.clock.set(when)
        return self.engine().fire_due_timers()

    def advance(self, delta: timedelta) -> list[Any]:
        return self.fire_at(self.clock.now() + delta)

    def path(self, instance_id: int) -> list[str]:
        """Element ids completed, in order (the path the instance actually took)."""
        return [h.element_id for h in self.engine().history(instance_id) if h.event == "completed"]

    def events(self, instance_id: int, event: str) -> list[Any]:
        return [h for h in self.engine().history(instance_id) if h.event == event]

    def timers(self, instance_id: int, state: str = "all") -> list[Any]:
        return [t for t in self.engine().list_timers(state=state) if t.instance_id == instance_id]
