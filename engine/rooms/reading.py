"""Reading: instances, tasks, incidents, timers and history as the plain views of engine/views.py.

Every query runs on the read engine and returns views, never ORM rows; the operator's
repairs answer with `get_instance` too.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, exists, select
from sqlalchemy.orm import Session

from ..camunda import INLINE_FORM_PROPERTY
from ..clock import ensure_utc
from ..core import EngineCore
from ..db import connection
from ..errors import NotFound
from ..models import HistoryEntry, HumanTask, Incident, Instance, MessageSubscription, ProcessVersion, Timer
from ..projections import properties_of
from ..row_views import history_view, incident_view, subscription_view, task_view, timer_view
from ..views import HistoryView, HumanTaskView, IncidentView, InstanceDetail, InstanceView, TimerView


@dataclass(frozen=True)
class TaskFormSource:
    """A task's inline form schema (or None: the form is a file, or there is none) and the
    variable its form data is nested under (None: top level)."""

    schema: dict[str, Any] | None
    variable: str | None


_I, _PV = Instance.__table__, ProcessVersion.__table__
_HT, _TM, _MS, _IN = HumanTask.__table__, Timer.__table__, MessageSubscription.__table__, Incident.__table__
# An instance as a caller sees it, in Core statements built once (its serialized state, the
# largest column, is not read): the instance with its version and whether it has each kind of
# wait, then only the waits it has (most instances wait on one or two kinds, seldom an incident).
_TASKS_OPEN = (_HT.c.instance_id == bindparam("iid"), _HT.c.state == "open")
_TIMERS_PENDING = (_TM.c.instance_id == bindparam("iid"), _TM.c.state == "pending")
_WAITS_MESSAGE = (_MS.c.instance_id == bindparam("iid"), _MS.c.kind == "message")
_INCIDENTS_OPEN = (_IN.c.instance_id == bindparam("iid"), _IN.c.state == "open")
_INSTANCE = (
    select(_I.c.id, _I.c.process_id, _I.c.business_key, _I.c.status, _I.c.created_at, _I.c.updated_at,
           _I.c.ended_at, _I.c.variables, _PV.c.version,
           exists().where(*_TASKS_OPEN).label("has_tasks"), exists().where(*_TIMERS_PENDING).label("has_timers"),
           exists().where(*_WAITS_MESSAGE).label("has_waits"),
           exists().where(*_INCIDENTS_OPEN).label("has_incidents"))
    .outerjoin(_PV, _PV.c.id == _I.c.version_id)
    .where(_I.c.id == bindparam("iid"))
)
_OPEN_TASKS = select(_HT).where(*_TASKS_OPEN)
_PENDING_TIMERS = select(_TM).where(*_TIMERS_PENDING).order_by(_TM.c.due_at)
_MESSAGE_WAITS = select(_MS).where(*_WAITS_MESSAGE)
_OPEN_INCIDENTS = select(_IN).where(*_INCIDENTS_OPEN)


def get_instance(core: EngineCore, instance_id: int, with_history: bool = True) -> InstanceDetail:
    with core.db.read() as session:
        conn, key = connection(session), {"iid": instance_id}
        inst = conn.execute(_INSTANCE, key).first()
        if inst is None:
            raise NotFound(f"instance {instance_id} does not exist (crmflow instances lists them)")
        detail = InstanceDetail(
            id=inst.id,
            process_id=inst.process_id,
            version=inst.version or 0,
            business_key=inst.business_key,
            status=inst.status,
            created_at=inst.created_at,
            updated_at=inst.updated_at,
            ended_at=inst.ended_at,
            open_tasks=[task_view(t) for t in conn.execute(_OPEN_TASKS, key)] if inst.has_tasks else [],
            timers=[timer_view(t) for t in conn.execute(_PENDING_TIMERS, key)] if inst.has_timers else [],
            subscriptions=[subscription_view(s) for s in conn.execute(_MESSAGE_WAITS, key)] if inst.has_waits else [],
            incidents=[incident_view(i) for i in conn.execute(_OPEN_INCIDENTS, key)] if inst.has_incidents else [],
            data=json.loads(inst.variables) if inst.variables else {},
        )
        if with_history:
            detail.history = _history(session, instance_id)
        return detail


def list_instances(core: EngineCore, process_id: str | None, status: str | None, business_key: str | None,
                   limit: int, offset: int, visible: Any = None) -> list[InstanceView]:
    """Newest first; `visible` is a caller's WHERE clause on `Instance` (the worklists' read rule)."""
    with core.db.read() as session:
        stmt = select(Instance, ProcessVersion.version).join(ProcessVersion, ProcessVersion.id == Instance.version_id)
        if visible is not None:
            stmt = stmt.where(visible)
        if process_id:
            stmt = stmt.where(Instance.process_id == process_id)
        if status:
            stmt = stmt.where(Instance.status == status)
        if business_key:
            stmt = stmt.where(Instance.business_key == business_key)
        stmt = stmt.order_by(Instance.id.desc()).limit(limit).offset(offset)
        return [
            InstanceView(
                id=i.id, process_id=i.process_id, version=v, business_key=i.business_key, status=i.status,
                created_at=i.created_at, updated_at=i.updated_at, ended_at=i.ended_at,
            )
            for i, v in session.execute(stmt)
        ]


def list_tasks(core: EngineCore, state: str, instance_id: int | None, assignee: str | None, lane: str | None,
               process_id: str | None, limit: int | None, offset: int | None) -> list[HumanTaskView]:
    filters = {"state": None if state == "all" else state, "instance_id": instance_id, "assignee": assignee or None,
               "lane": lane or None, "process_id": process_id or None}
    given = {name: value for name, value in filters.items() if value is not None}
    with core.db.read() as session:
        # Core rows: the view is all a caller gets, no ORM object is needed
        stmt = _task_list(tuple(given), limit is not None, offset is not None)
        rows = connection(session).execute(stmt, {**given, "limit": limit, "offset": offset})
        return [task_view(t) for t in rows]


@functools.cache
def _task_list(names: tuple[str, ...], limited: bool, offset: bool) -> Any:
    """The task list's statement for one set of given filters, built once (values bound)."""
    stmt = select(_HT).where(*(_HT.c[name] == bindparam(name) for name in names))
    stmt = stmt.order_by(_HT.c.due_at.is_(None), _HT.c.due_at, _HT.c.created_at)
    stmt = stmt.limit(bindparam("limit")) if limited else stmt
    return stmt.offset(bindparam("offset")) if offset else stmt


def get_task(core: EngineCore, task_id: str) -> HumanTaskView:
    with core.db.read() as session:
        row = session.get(HumanTask, task_id)
        if row is None:
            raise NotFound(f"task {task_id} does not exist")
        return task_view(row)


def task_form_source(core: EngineCore, task_id: str) -> TaskFormSource:
    """Where a task's form comes from beyond its file name, read from the spec stored with the
    instance's process version: the inline JSON Schema (a Camunda generated form,
    `formJsonSchema`) and the `spiffworkflow:variableName` its data is kept under."""
    with core.db.read() as session:
        row = session.get(HumanTask, task_id)
        if row is None:
            raise NotFound(f"task {task_id} does not exist")
        version_id = session.scalar(select(Instance.version_id).where(Instance.id == row.instance_id))
        loaded = core.specs_for(session, version_id)
    for spec in (loaded.spec, *loaded.subprocess_specs.values()):
        task_spec = spec.task_specs.get(row.element_id)
        if task_spec is None:
            continue
        text = properties_of(task_spec).get(INLINE_FORM_PROPERTY)
        variable = (getattr(task_spec, "variable", None) or "").strip() or None
        return TaskFormSource(json.loads(text) if text else None, variable)
    return TaskFormSource(None, None)


def list_incidents(core: EngineCore, state: str, instance_id: int | None) -> list[IncidentView]:
    with core.db.read() as session:
        stmt = select(Incident).order_by(Incident.id)
        if state != "all":
            stmt = stmt.where(Incident.state == state)
        if instance_id is not None:
            stmt = stmt.where(Incident.instance_id == instance_id)
        return [incident_view(i) for i in session.scalars(stmt)]


def list_timers(core: EngineCore, due_before: datetime | None, state: str) -> list[TimerView]:
    with core.db.read() as session:
        stmt = select(Timer, Instance.status).join(Instance, Instance.id == Timer.instance_id).order_by(Timer.due_at)
        if state != "all":
            stmt = stmt.where(Timer.state == state)
        if due_before is not None:
            stmt = stmt.where(Timer.due_at <= ensure_utc(due_before))
        return [timer_view(t, status) for t, status in session.execute(stmt)]


def history(core: EngineCore, instance_id: int) -> list[HistoryView]:
    with core.db.read() as session:
        if session.get(Instance, instance_id) is None:
            raise NotFound(f"instance {instance_id} does not exist")
        return _history(session, instance_id)


def _history(session: Session, instance_id: int) -> list[HistoryView]:
    stmt = select(HistoryEntry).where(HistoryEntry.instance_id == instance_id).order_by(HistoryEntry.id)
    return [history_view(h) for h in session.scalars(stmt)]
