"""Task reminders by email: the outbox sender for the engine's `task_reminder` channel.

When a task's follow-up date or due date passes, the engine writes one `task_reminder`
outbox message (see `engine/task_dates.py`). This sender turns it into an email through
the `email` sender (SMTP): to the assignee when someone holds the task, otherwise to the
people of its candidate groups — the ones who could pick it up. Users without an email
address (`crmflow users email NAME ADDRESS`) are skipped; when nobody has one, the reminder
is done without mail: the instance history and the worklist's due colouring still show it.

The email keeps the outbox's idempotency key, so a retried delivery is the same Message-ID.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .auth import Accounts

EmailSender = Callable[[dict[str, Any], str], None]
SUBJECTS = {"task_due": "Overdue: {name}", "task_follow_up": "Follow up: {name}"}


class TaskReminderSender:
    """`sender(payload, key)` for the `task_reminder` channel (raises to have the outbox retry)."""

    def __init__(self, accounts: Accounts, email: EmailSender, base_url: str | None = None) -> None:
        self.accounts = accounts
        self.email = email
        self.base_url = (base_url or "").rstrip("/")

    def recipients(self, payload: dict[str, Any]) -> list[str]:
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
        lines = [
            f"The task '{name}' {'was due' if overdue else 'is up for a follow-up'} at {_readable(when)}.",
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
