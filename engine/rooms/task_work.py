"""Work on human tasks: complete one (which advances its instance), pick, release, route, comment.

Owns the SQL of the task rows people act on; picking is one conditional UPDATE so of two
agents picking at once exactly one gets the task.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..core import EngineCore, conflicts_as_errors
from ..data_parsing import parse_data
from ..db import connection
from ..errors import Conflict, Forbidden, InvalidInput, NotFound
from ..input_checks import check_text
from ..models import HistoryEntry, HumanTask
from ..row_views import history_view, task_view
from ..unit import Unit
from ..views import HistoryView, HumanTaskView, InstanceDetail
from .starting import run

_HT = HumanTask.__table__
_CLAIM = (
    update(_HT)
    .where(_HT.c.id == bindparam("tid"), _HT.c.state == "open", _HT.c.assignee.is_(None))
    .values(assignee=bindparam("user"), claimed_at=bindparam("now"))
)
_COMPLETED = update(_HT).where(_HT.c.id == bindparam("tid")).values(
    completed_by=bindparam("user"), completed_at=bindparam("now")
)


def complete_task(core: EngineCore, task_id: str, user: str | None, data: Any, require_claim: bool) -> InstanceDetail:
    """Complete a READY user or manual task with form data, then advance the instance (the
    pick rule: see `Engine.complete_task`)."""
    payload = parse_data(data)
    now = core.now()
    with conflicts_as_errors(), core.db.write() as session:
        row = session.get(HumanTask, task_id)
        if row is None:
            raise NotFound(f"task {task_id} does not exist (crmflow tasks lists open tasks)")

        def still_open() -> None:
            if not core.db.is_sqlite:  # SQLite: the row was read under the write lock (BEGIN IMMEDIATE)
                session.refresh(row)
            if row.state != "open":
                who = f" by {row.completed_by}" if row.completed_by else ""
                raise Conflict(f"task {task_id} ({row.name or row.element_id}) was already {row.state}{who}")
            if row.assignee and row.assignee != user:
                raise Forbidden(f"task {task_id} ({row.name or row.element_id}) is picked by {row.assignee}")
            if require_claim and not row.assignee:
                raise Forbidden(f"task {task_id} ({row.name or row.element_id}) must be picked before completing")

        def complete(unit: Unit) -> None:
            task = unit.find_task(task_id)
            if not task.task_spec.manual or task.state != TaskState.READY:
                state = TaskState.get_name(task.state)
                raise Conflict(f"task {task_id} is not waiting for a person (it is {state})")
            if not unit.run_task(task, user=user, data=payload):
                failure = unit.runner.failures[-1]
                raise InvalidInput(f"completing {row.name or row.element_id} failed: {failure.message}")
            # Who completed it goes to the table now, as one statement, not as an ORM change the
            # next savepoint or query would flush on its own (scripts in this unit may ask who
            # completed it: arena_helpers); the row object holds it as saved.
            connection(session).execute(_COMPLETED, {"tid": task_id, "user": user, "now": now})
            set_committed_value(row, "completed_by", user)
            set_committed_value(row, "completed_at", now)

        return run(core, session, row.instance_id, now, complete, precheck=still_open).view()


def claim_task(core: EngineCore, task_id: str, user: str) -> HumanTaskView:
    """Pick an open task for `user`; of two agents picking at once exactly one gets it."""
    if not user:
        raise InvalidInput("picking a task needs a user")
    now = core.now()
    with core.db.write() as session:
        result = connection(session).execute(_CLAIM, {"tid": task_id, "user": user, "now": now})
        row = _task_row(session, task_id)
        if result.rowcount != 1:
            if row.state != "open":
                raise Conflict(f"task {task_id} ({row.name or row.element_id}) is already {row.state}")
            if row.assignee != user:
                raise Conflict(f"task {task_id} ({row.name or row.element_id}) is already picked by {row.assignee}")
            return task_view(row)  # picking your own task again changes nothing
        _task_history(session, row, "claimed", user, now)
        return task_view(row)


def release_task(core: EngineCore, task_id: str, user: str, force: bool) -> HumanTaskView:
    """Put a picked task back in its queue (its assignee, or anyone with `force`)."""
    now = core.now()
    with core.db.write() as session:
        row = _task_row(session, task_id, lock=True)
        if row.state != "open":
            raise Conflict(f"task {task_id} ({row.name or row.element_id}) is already {row.state}")
        if row.assignee is None:
            return task_view(row)
        if row.assignee != user and not force:
            raise Forbidden(f"task {task_id} is picked by {row.assignee}; only they can release it")
        previous = row.assignee
        row.assignee, row.claimed_at = None, None
        _task_history(session, row, "released", user, now, {"was": previous})
        return task_view(row)


def route_task(core: EngineCore, task_id: str, by: str, queue: str | None, assignee: str | None,
               candidate_groups: list[str] | None) -> HumanTaskView:
    """Move an open task to another queue and/or person (None leaves that part as it is)."""
    if queue is None and assignee is None and candidate_groups is None:
        raise InvalidInput("routing needs a queue, an assignee or candidate groups")
    now = core.now()
    with core.db.write() as session:
        row = _task_row(session, task_id, lock=True)
        if row.state != "open":
            raise Conflict(f"task {task_id} ({row.name or row.element_id}) is already {row.state}")
        delta: dict[str, Any] = {}
        if queue is not None and queue != row.queue:
            delta["queue"] = {"from": row.queue, "to": queue}
            row.queue = queue
        if assignee is not None and assignee != row.assignee:
            delta["assignee"] = {"from": row.assignee, "to": assignee}
            row.assignee, row.claimed_at = assignee, now
        if candidate_groups is not None and list(candidate_groups) != list(row.candidate_groups or []):
            delta["candidate_groups"] = {"from": list(row.candidate_groups or []), "to": list(candidate_groups)}
            row.candidate_groups = list(candidate_groups)
        if delta:
            _task_history(session, row, "routed", by, now, delta)
        return task_view(row)


def comment_task(core: EngineCore, task_id: str, user: str, text: str) -> HistoryView:
    """A note on a task, kept in the instance's history."""
    if not text or not text.strip():
        raise InvalidInput("a comment needs some text")
    check_text(text, "text")
    now = core.now()
    with core.db.write() as session:
        row = _task_row(session, task_id)
        return history_view(_task_history(session, row, "comment", user, now, {"text": text.strip()[:4000]}))


def _task_row(session: Session, task_id: str, lock: bool = False) -> HumanTask:
    stmt = select(HumanTask).where(HumanTask.id == task_id).execution_options(populate_existing=True)
    if lock:
        stmt = stmt.with_for_update()
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFound(f"task {task_id} does not exist")
    return row


def _task_history(
    session: Session, row: HumanTask, event: str, user: str | None, now: datetime,
    delta: dict[str, Any] | None = None,
) -> HistoryEntry:
    entry = HistoryEntry(
        instance_id=row.instance_id, at=now, event=event, task_id=row.id, element_id=row.element_id,
        element_name=row.name, element_type="UserTask" if row.kind == "user" else "ManualTask", user=user,
        data_delta=delta,
    )
    session.add(entry)
    session.flush()
    return entry
