"""Task reminders by email: the outbox sender for the engine's `task_reminder` channel.

When a task's follow-up date or due date passes, the engine writes one `task_reminder`
outbox message (see `engine/task_dates.py`). This sender turns it into an email through
the `email` sender (SMTP): to the assignee when someone holds the task, otherwise to the
people of its candidate groups — the ones who could pick it up. Users without an email
address (`crmflow users email NAME ADDRESS`) are skipped; when nobody has one, the reminder
is done without mail: the instance history and the worklist's due colouring still show it.

The same channel tells a person when a supervisor takes a task they had picked
(`task_reassigned`, written by `notify_reassigned` when the worklist routes or releases it):
only that person is mailed, and only when they have an address.

The email keeps the outbox's idempotency key, so a retried delivery is the same Message-ID.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from engine import Engine
from engine.outbox import enqueue
from engine.task_dates import REMINDER_CHANNEL
from engine.views import HumanTaskView

from .auth import Accounts

EmailSender = Callable[[dict[str, Any], str], None]
REASSIGNED = "task_reassigned"
SUBJECTS = {"task_due": "Overdue: {name}", "task_follow_up": "Follow up: {name}",
            REASSIGNED: "Reassigned: {name}"}


def notify_reassigned(engine: Engine, task: HumanTaskView, *, previous: str, by: str) -> None:
    """Queue the email telling `previous` that `by` took their task (now as `task` shows it).

    Written right after the routing committed (the history entry is the record; this is the
    courtesy mail), under a key of its own so delivery retries never send it twice."""
    payload = {
        "kind": REASSIGNED, "task_id": task.id, "instance_id": task.instance_id, "process_id": task.process_id,
        "business_key": task.business_key, "element_id": task.element_id, "name": task.name,
        "assignee": task.assignee, "queue": task.queue, "previous_assignee": previous, "by": by,
        "notify": [previous],
    }
    now = engine.now()
    with engine.db.write() as session:
        enqueue(session, REMINDER_CHANNEL, payload, key=f"task-reassigned:{task.id}:{uuid.uuid4().hex}", now=now,
                instance_id=task.instance_id)


class TaskReminderSender:
    """`sender(payload, key)` for the `task_reminder` channel (raises to have the outbox retry)."""

    def __init__(self, accounts: Accounts, email: EmailSender, base_url: str | None = None) -> None:
        self.accounts = accounts
        self.email = email
        self.base_url = (base_url or "").rstrip("/")

    def recipients(self, payload: dict[str, Any]) -> list[str]:
        if payload.get("kind") == REASSIGNED:
            return self.accounts.addresses(users=[str(u) for u in payload.get("notify") or []])
        assignee = payload.get("assignee")
        if assignee:
            return self.accounts.addresses(users=[assignee])
        candidates = [str(c) for c in payload.get("candidate_groups") or []]
        users = [c.removeprefix("user:") for c in candidates if c.startswith("user:")]
        return self.accounts.addresses(users=users, groups=[c for c in candidates if not c.startswith("user:")])

    def __call__(self, payload: dict[str, Any], idempotency_key: str) -> None:
        to = self.recipients(payload)
        if not to:
            return
        self.email(
            {"to": to, "subject": self.subject(payload), "body": self.body(payload)}, idempotency_key
        )

    @staticmethod
    def subject(payload: dict[str, Any]) -> str:
        name = payload.get("name") or payload.get("element_id") or "a task"
        key = payload.get("business_key")
        text = SUBJECTS.get(str(payload.get("kind")), "Reminder: {name}").format(name=name)
        return f"{text} ({key})" if key else text

    def body(self, payload: dict[str, Any]) -> str:
        name = payload.get("name") or payload.get("element_id")
        overdue = payload.get("kind") == "task_due"
        when = payload.get("due_at") if overdue else payload.get("follow_up_at")
        if payload.get("kind") == REASSIGNED:
            now_with = payload.get("assignee") or f"queue {payload.get('queue')}, not picked"
            first = (f"{payload.get('by')} took the task '{name}' you had picked; it is now with {now_with}. "
                     "The instance history has the change.")
        else:
            first = f"The task '{name}' {'was due' if overdue else 'is up for a follow-up'} at {_readable(when)}."
        lines = [
            first,
            f"Process: {payload.get('process_id')}, instance {payload.get('instance_id')}"
            + (f", {payload.get('business_key')}" if payload.get("business_key") else ""),
            f"Assigned to: {payload.get('assignee') or 'nobody yet'}; queue: {payload.get('queue') or '-'}",
        ]
        if self.base_url:
            lines.append(f"Open it: {self.base_url}/tasks/{payload.get('task_id')}")
        else:
            lines.append(f"Task id: {payload.get('task_id')} (crmflow show {payload.get('instance_id')})")
        return "\n".join(lines) + "\n"


def _readable(value: Any) -> str:
    if not value:
        return "-"
    try:
        return datetime.fromisoformat(str(value)).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return str(value)
