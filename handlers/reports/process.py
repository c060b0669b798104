"""Process figures from the engine's own tables: instance counts, waits and incidents.

Reads `engine.read_model` only (the projections and the append-only history), never a
serialized workflow, so it stays cheap and needs no SpiffWorkflow.

A wait is measured per element run: from the run's `task_created` (user and manual tasks)
or else from the instance's previous history row of another element (when the element was
reached), to its `completed` row. Elements that never waited (service tasks, gateways run in
the same step) drop out. In parallel branches the "previous row" can be the other branch's,
which makes such a wait look shorter, never longer.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.read_model import HistoryEntry, HumanTask, Incident, Instance, MessageSubscription, ProcessVersion, Timer

from .base import WINDOW, Params, Report, Row, average, cols, hours, number, window, within


# -- instances ----------------------------------------------------------------------------------
def instances(session: Session, now: datetime, params: Params) -> list[Row]:
    """Instances started in the window, by process, version and status."""
    since, until = window(params)
    rows = session.execute(
        select(Instance.process_id, ProcessVersion.version, Instance.status, Instance.created_at)
        .join(ProcessVersion, ProcessVersion.id == Instance.version_id)
    )
    groups: dict[tuple[str, int, str], list[datetime]] = defaultdict(list)
    for process_id, version, status, created in rows:
        if within(created, since, until):
            groups[(process_id, version, status)].append(created)
    return [{"process_id": p, "version": v, "status": s, "instances": len(groups[(p, v, s)]),
             "last_started": max(groups[(p, v, s)]).isoformat()} for p, v, s in sorted(groups)]


# -- waits --------------------------------------------------------------------------------------
@dataclass
class ElementWaits:
    name: str | None = None
    element_type: str | None = None
    waits: list[timedelta] = field(default_factory=list)
    waiting_since: list[datetime] = field(default_factory=list)

    def describe(self, name: str | None, element_type: str | None) -> None:
        self.name = self.name or name
        self.element_type = self.element_type or element_type


def _completed_waits(session: Session, since: datetime | None, until: datetime | None,
                     process_of: dict[int, str], found: dict[tuple[str, str], ElementWaits]) -> None:
    created: dict[str, datetime] = {}
    last_instance: int | None = None
    run_task: str | None = None
    run_start: datetime | None = None
    last_at: datetime | None = None
    rows = session.execute(
        select(HistoryEntry.instance_id, HistoryEntry.at, HistoryEntry.event, HistoryEntry.task_id,
               HistoryEntry.element_id, HistoryEntry.element_name, HistoryEntry.element_type)
        .order_by(HistoryEntry.instance_id, HistoryEntry.id)
    )
    for instance_id, at, event, task_id, element_id, name, element_type in rows:
        if instance_id != last_instance:
            created.clear()
            last_instance, run_task, last_at = instance_id, None, None
        if task_id is None or task_id != run_task:
            # a new element run starts waiting when the instance last moved; rows of the same run
            # (a message received, then completed) do not move that start
            run_task, run_start = task_id, last_at if last_at is not None else at
        if event == "task_created" and task_id:
            created.setdefault(task_id, at)
        if event == "completed" and element_id and within(at, since, until):
            start = created.get(task_id or "") or run_start or at
            entry = found[(process_of.get(instance_id, "?"), element_id)]
            entry.describe(name, element_type)
            entry.waits.append(max(at - start, timedelta(0)))
        last_at = at


def _waiting_now(session: Session, process_of: dict[int, str], found: dict[tuple[str, str], ElementWaits]) -> None:
    sources = (
        select(HumanTask.instance_id, HumanTask.element_id, HumanTask.name, HumanTask.created_at)
        .where(HumanTask.state == "open"),
        select(Timer.instance_id, Timer.element_id, Timer.name, Timer.created_at).where(Timer.state == "pending"),
        select(MessageSubscription.instance_id, MessageSubscription.element_id, MessageSubscription.element_id,
               MessageSubscription.created_at),
    )
    for stmt in sources:
        for instance_id, element_id, name, created in session.execute(stmt):
            entry = found[(process_of.get(instance_id, "?"), element_id)]
            entry.describe(name if name != element_id else None, None)
            entry.waiting_since.append(created)


def waits(session: Session, now: datetime, params: Params) -> list[Row]:
    """Per element: completed waits in the window (count, average, max hours) and what waits
    there now (open tasks, pending timers, message subscriptions) with the oldest wait."""
    since, until = window(params)
    process_of = dict(session.execute(select(Instance.id, Instance.process_id)).all())
    found: dict[tuple[str, str], ElementWaits] = defaultdict(ElementWaits)
    _completed_waits(session, since, until, process_of, found)
    _waiting_now(session, process_of, found)
    rows = []
    for (process_id, element_id), entry in found.items():
        spans = [hours(w) for w in entry.waits]
        oldest = hours(now - min(entry.waiting_since)) if entry.waiting_since else None
        if not entry.waiting_since and not any(spans):
            continue
        rows.append({
            "process_id": process_id,
            "element_id": element_id,
            "element_name": entry.name,
            "element_type": entry.element_type,
            "completed": len(spans),
            "average_hours": number(average(spans)),
            "max_hours": number(max(spans)) if spans else None,
            "waiting_now": len(entry.waiting_since),
            "oldest_waiting_hours": number(oldest),
            "_sort": (average(spans) or Decimal(0), oldest or Decimal(0)),
        })
    rows.sort(key=lambda r: (r["_sort"], r["process_id"], r["element_id"]), reverse=True)
    for row in rows:
        del row["_sort"]
    return rows


# -- incidents ----------------------------------------------------------------------------------
def incidents(session: Session, now: datetime, params: Params) -> list[Row]:
    """Open incidents by process and element: how many, how many still retry, the oldest."""
    rows = session.execute(
        select(Incident, Instance.process_id).join(Instance, Instance.id == Incident.instance_id)
        .where(Incident.state == "open").order_by(Incident.created_at, Incident.id)
    )
    groups: dict[tuple[str, str], list[Incident]] = defaultdict(list)
    for incident, process_id in rows:
        groups[(process_id, incident.element_id or "")].append(incident)
    result = []
    for (process_id, element_id), found in groups.items():
        oldest, newest = found[0], found[-1]
        result.append({
            "process_id": process_id,
            "element_id": element_id or None,
            "element_name": oldest.element_name,
            "open": len(found),
            "retrying": sum(1 for i in found if i.retries_left > 0 and i.next_retry_at is not None),
            "oldest_at": oldest.created_at.isoformat(),
            "oldest_age_hours": number(hours(now - oldest.created_at)),
            "last_error": f"{newest.error_type}: {newest.message}",
        })
    result.sort(key=lambda r: (r["oldest_at"], r["process_id"], r["element_id"] or ""))
    return result


REPORTS = (
    Report("instances", "Process instances", "process",
           "Instances started in the window by process, version and status.",
           cols(("process_id", "Process"), ("version", "Version", "int"), ("status", "Status"),
                ("instances", "Instances", "int"), ("last_started", "Last started", "datetime")),
           instances, params=WINDOW),
    Report("waits", "Where instances wait", "process",
           "Per element: waits completed in the window (count, average and max hours, from the history) and "
           "what waits there now, longest average first.",
           cols(("process_id", "Process"), ("element_id", "Element"), ("element_name", "Name"),
                ("element_type", "Type"), ("completed", "Completed", "int"), ("average_hours", "Avg hours", "number"),
                ("max_hours", "Max hours", "number"), ("waiting_now", "Waiting now", "int"),
                ("oldest_waiting_hours", "Oldest waiting (h)", "number")),
           waits, params=WINDOW),
    Report("incidents", "Open incidents", "process",
           "Open incidents by process and element: count, still retrying, oldest and its age, latest error.",
           cols(("process_id", "Process"), ("element_id", "Element"), ("element_name", "Name"),
                ("open", "Open", "int"), ("retrying", "Retrying", "int"), ("oldest_at", "Oldest", "datetime"),
                ("oldest_age_hours", "Age (h)", "number"), ("last_error", "Latest error")),
           incidents),
)
