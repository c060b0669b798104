"""What the demo chapters share: drive an instance through the facade and tell what it did.

A chapter is a dataclass with `eng`, `clock`, `echo`, `instance_id`, `seen_history`,
`lanes` and `day`; mixing `Narration` in gives it the facade calls (each followed by the
story of what the instance did, read from its history) and the printing. Chapters differ
only in `describe`, which turns one history entry into a line (or nothing).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


class Narration:
    """Facade calls that narrate; mixed into the demo's story dataclasses."""

    eng: Any
    clock: Any
    echo: Any
    instance_id: int
    seen_history: int
    lanes: dict[str, str]
    day: str

    # -- facade calls, each followed by what the instance did ---------------------------
    def complete(self, element_id: str, user: str, data: dict[str, Any]) -> None:
        task = self.open_task(element_id)
        self.eng.complete_task(task.id, user=user, data=data)
        self.narrate()

    def correlate(self, message: str, key: str | None, payload: dict[str, Any], said: str) -> None:
        self.say("Customer", said)
        self.eng.correlate(message, key=key, data=payload)
        self.narrate()

    def pass_time(self, delta: timedelta, fire: bool = False) -> None:
        self.clock.advance(delta)
        if fire and any(f.instance_id == self.instance_id for f in self.eng.fire_due_timers()):
            self.narrate()

    def open_task(self, element_id: str) -> Any:
        tasks = [t for t in self.eng.list_tasks(instance_id=self.instance_id) if t.element_id == element_id]
        if not tasks:
            open_now = [t.element_id for t in self.eng.list_tasks(instance_id=self.instance_id)]
            raise RuntimeError(f"the story expected task {element_id!r}; open tasks are {open_now}")
        return tasks[0]

    def variables(self) -> dict[str, Any]:
        return self.eng.get_instance(self.instance_id, with_history=False).data

    # -- printing -------------------------------------------------------------------------
    def say(self, who: str, text: str, at: datetime | None = None) -> None:
        when = at or self.clock.now()
        day = when.strftime("%a %d %b %Y")
        if day != self.day:
            self.day = day
            self.echo(f"-- {day} --")
        self.echo(f"{when:%H:%M} {who} · {text}")

    def narrate(self) -> None:
        """Print what the instance did since the last call, from its history."""
        for entry in self.eng.history(self.instance_id):
            if entry.id <= self.seen_history:
                continue
            self.seen_history = entry.id
            line = self.describe(entry)
            if line:
                self.say(self.lanes.get(entry.element_id or "", "Engine"), line, entry.at)

    def describe(self, entry: Any) -> str | None:
        raise NotImplementedError
