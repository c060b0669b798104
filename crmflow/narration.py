"""What the demo chapters share: drive an instance through the facade and tell what it did.

A chapter is a dataclass with `eng`, `clock`, `echo`, `instance_id`, `seen_history`,
`lanes` and `day`; mixing `Narration` in gives it the facade calls (each followed by the
story of what the instance did, read from its history) and the printing. Chapters differ
only in what `describe` shows of one history entry: the element types they tell about
(`shown_types`), the deciding field of a form (`choice_of`) and a short phrase for what a
service produced (`summarize`).
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
    queues: dict[str, str]
    day: str
    shown_types: frozenset[str] = frozenset()

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
        """One line for a history entry a reader cares about, else None."""
        name = entry.element_name or entry.element_id
        delta = (entry.data_delta or {}).get("set", {}) if isinstance(entry.data_delta, dict) else {}
        if entry.event == "task_created":
            task = self.latest_task(entry.element_id)
            who = f", assigned to {task.assignee}" if task and task.assignee else ""
            due = f", due {task.due_at:%a %H:%M}, priority {task.priority}" if task and task.due_at else ""
            return f"task {name!r} waits in queue {self.queue_of(task)}{who}{due}"
        if entry.event == "timer_fired":
            return f"timer {name!r} fired"
        if entry.event == "error_thrown":
            return f"{name}: BPMN error {(entry.data_delta or {}).get('code')}"
        if entry.event == "incident":
            return f"INCIDENT at {name!r}: {(entry.data_delta or {}).get('error')}"
        if entry.event == "instance_completed":
            return "instance completed"
        if entry.event != "completed" or entry.element_type not in self.shown_types:
            return None
        if entry.element_type == "UserTask":
            return f"{name} completed by {entry.user} ({self.choice_of(delta)})"
        if entry.element_type == "EndEvent":
            return f"end: {name}"
        summary = self.summarize(delta)
        return name + (f" → {summary}" if summary else "")

    def choice_of(self, delta: dict[str, Any]) -> str:
        """The deciding field of a completed form and what was chosen."""
        raise NotImplementedError

    def summarize(self, delta: dict[str, Any]) -> str:
        """One short phrase for what a service, rule or catch event produced."""
        raise NotImplementedError

    def latest_task(self, element_id: str | None) -> Any:
        """The newest task (open or not) of this element, for the line about its creation."""
        tasks = [t for t in self.eng.list_tasks(state="all", instance_id=self.instance_id)
                 if t.element_id == element_id]
        return tasks[-1] if tasks else None

    def queue_of(self, task: Any) -> str:
        """The task's own queue (a territory's sales queue, say), else its lane's."""
        if task is None:
            return "?"
        return task.queue or self.queues.get(task.lane or "", task.lane or "?")
