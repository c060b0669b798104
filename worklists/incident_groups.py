"""Open incidents grouped by process and element (the console's incidents page and API).

A hundred instances failing at the same step are one problem: the group shows how many, the
latest error, and lets an operator retry them all once the cause is fixed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select

from engine import Conflict, Engine, NotFound
from engine.read_model import Instance

from .service import Worklist


class IncidentGroup(BaseModel):
    process_id: str
    element_id: str | None
    element_name: str | None
    count: int
    error_type: str
    message: str
    oldest: datetime
    incident_ids: list[int]
    instance_ids: list[int]


def _process_of(engine: Engine, instance_ids: set[int]) -> dict[int, str]:
    if not instance_ids:
        return {}
    with engine.db.read() as session:
        rows = session.execute(select(Instance.id, Instance.process_id).where(Instance.id.in_(instance_ids)))
        return {iid: pid for iid, pid in rows}


def incident_groups(engine: Engine, worklist: Worklist, user: Any) -> list[IncidentGroup]:
    """The open incidents this user may read, grouped; the biggest group first."""
    incidents = worklist.instances.incidents(user, engine.list_incidents("open"))
    process = _process_of(engine, {i.instance_id for i in incidents})
    groups: dict[tuple[str, str | None], IncidentGroup] = {}
    for i in sorted(incidents, key=lambda i: i.created_at):
        key = (process[i.instance_id], i.element_id)
        group = groups.get(key)
        if group is None:
            groups[key] = IncidentGroup(process_id=key[0], element_id=i.element_id, element_name=i.element_name,
                                        count=1, error_type=i.error_type, message=i.message, oldest=i.created_at,
                                        incident_ids=[i.id], instance_ids=[i.instance_id])
        else:
            group.count += 1
            group.error_type, group.message = i.error_type, i.message  # the latest error
            group.incident_ids.append(i.id)
            group.instance_ids.append(i.instance_id)
    return sorted(groups.values(), key=lambda g: (-g.count, g.process_id, g.element_id or ""))


def retry_group(engine: Engine, process_id: str, element_id: str) -> tuple[list[int], list[int], dict[int, str]]:
    """Retry each open incident of `process_id` at `element_id`: (resolved, still failing, refused)."""
    open_ = [i for i in engine.list_incidents("open") if i.element_id == element_id]
    process = _process_of(engine, {i.instance_id for i in open_})
    retried, failing, errors = [], [], {}
    for incident in (i for i in open_ if process.get(i.instance_id) == process_id):
        try:
            after = engine.retry_incident(incident.id)
        except (Conflict, NotFound) as err:
            errors[incident.id] = str(err)
            continue
        still = any(i.id == incident.id and i.state == "open" for i in after.incidents)
        (failing if still else retried).append(incident.id)
    return retried, failing, errors
