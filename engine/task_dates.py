"""A person's task has dates too: its due date and its follow-up date become timer rows.

A user task's `dueDate` / `followUpDate` properties (see `projections.human_tasks`) are
stored on the task row for the worklists to sort and colour by. So that they also *do*
something, each becomes a `wf_timer` row of kind `task_due` or `task_follow_up`, fired by
the same scheduler pass, lock and SKIP LOCKED as the diagram's timers, exactly once:

- firing writes a history entry (`task_overdue` or `task_follow_up`, with the assignee and
  queue at that moment) and a `task_reminder` outbox message in the same transaction; a
  sender for that channel (crmflow's turns it into an email to the assignee or the queue's
  people) delivers it after commit, retried with the same key, never twice;
- the workflow itself does not move: a task date is a reminder, not a BPMN event (a diagram
  that must act on lateness draws a timer boundary event instead);
- the rows are cancelled when the task is completed or cancelled before its date.

These rows are kept apart from the diagram's timers when a unit re-syncs those: they are
not a projection of the workflow state, so they are created once with the task and never
re-created after they fired.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from . import outbox
from .history import HistoryRecorder
from .models import HumanTask, Timer
from .row_writes import StoredRow, new_row

TASK_DUE = "task_due"
TASK_FOLLOW_UP = "task_follow_up"
TASK_KINDS = (TASK_DUE, TASK_FOLLOW_UP)
REMINDER_CHANNEL = "task_reminder"
_EVENTS = {TASK_DUE: "task_overdue", TASK_FOLLOW_UP: "task_follow_up"}


def timers_for(task: Any, now: datetime) -> list[StoredRow]:
    """The timer rows of a new task (a `HumanTask` row): one per date it has, to insert
    (`row_writes.insert_with_ids`)."""
    rows = []
    for kind, when in ((TASK_DUE, task.due_at), (TASK_FOLLOW_UP, task.follow_up_at)):
        if when is not None:
            rows.append(
                new_row(
                    Timer,
                    instance_id=task.instance_id, task_id=task.id, element_id=task.element_id, name=task.name,
                    kind=kind, due_at=when, state="pending", created_at=now,
                )
            )
    return rows


def reminder_payload(task: HumanTask, kind: str, instance_id: int) -> dict[str, Any]:
    """What a reminder sender needs to tell someone, without reading the database again."""
    return {
        "kind": kind,
        "event": _EVENTS[kind],
        "task_id": task.id,
        "instance_id": instance_id,
        "process_id": task.process_id,
        "business_key": task.business_key,
        "element_id": task.element_id,
        "name": task.name,
        "assignee": task.assignee,
        "queue": task.queue,
        "candidate_groups": list(task.candidate_groups or []),
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "follow_up_at": task.follow_up_at.isoformat() if task.follow_up_at else None,
    }


def fire(
    session: Session, rows: Iterable[Timer], recorder: HistoryRecorder, now: datetime
) -> list[Timer]:
    """Fire due task-date rows (the caller holds the instance lock); returns those fired."""
    fired = []
    for row in rows:
        task = session.get(HumanTask, row.task_id)
        if task is None or task.state != "open":
            row.state = "cancelled"
            continue
        row.state, row.fired_at = "fired", now
        recorder.record(
            _EVENTS[row.kind], now, user=None,
            element=(row.element_id, row.name, "UserTask" if task.kind == "user" else "ManualTask"),
            delta={"task_id": task.id, "due_at": row.due_at.isoformat(), "assignee": task.assignee,
                   "queue": task.queue},
        )
        outbox.enqueue(
            session, REMINDER_CHANNEL, reminder_payload(task, row.kind, row.instance_id),
            key=f"task-date:{row.id}", now=now, instance_id=row.instance_id,
        )
        fired.append(row)
    return fired
