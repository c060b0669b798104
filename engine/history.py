"""The append-only history of an instance, collected during a unit and written in bulk."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from SpiffWorkflow.util.deep_merge import DeepMerge
from sqlalchemy import Connection, insert

from .db import Prepared
from .models import HistoryEntry
from .services import to_json_value


def element_of(task: Any) -> tuple[str | None, str | None, str]:
    spec = task.task_spec
    return getattr(spec, "bpmn_id", None), getattr(spec, "bpmn_name", None), type(spec).__name__


def is_visible(task: Any) -> bool:
    """Tasks drawn on the diagram (not SpiffWorkflow's internal Root/Start/joins)."""
    return getattr(task.task_spec, "bpmn_id", None) is not None


def data_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any] | None:
    updates = DeepMerge.get_updated_keys(before, after)
    deletions = DeepMerge.get_deleted_keys(before, after)
    if not updates and not deletions:
        return None
    delta: dict[str, Any] = {}
    if updates:
        delta["set"] = to_json_value(updates)
    if deletions:
        delta["removed"] = sorted(deletions) if not isinstance(deletions, dict) else to_json_value(deletions)
    return delta


_COLUMNS = ["event", "at", "task_id", "element_id", "element_name", "element_type", "user", "data_delta",
            "instance_id"]
_INSERT = Prepared(insert(HistoryEntry.__table__), column_keys=_COLUMNS, many=True)


@dataclass
class HistoryRecorder:
    """Rows for one unit of work; `flush` inserts them in one statement."""

    instance_id: int | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)

    def record(
        self,
        event: str,
        at: datetime,
        task: Any | None = None,
        user: str | None = None,
        delta: dict[str, Any] | None = None,
        element: tuple[str | None, str | None, str | None] | None = None,
    ) -> None:
        element_id, name, kind = element_of(task) if task is not None else (element or (None, None, None))
        self.rows.append(
            {
                "event": event,
                "at": at,
                "task_id": str(task.id) if task is not None else None,
                "element_id": element_id,
                "element_name": name,
                "element_type": kind,
                "user": user,
                "data_delta": delta,
            }
        )

    def take(self) -> list[dict[str, Any]]:
        """The unit's rows, each with its instance id, handed over to be written (see `write`)."""
        rows, self.rows = self.rows, []
        for row in rows:
            row["instance_id"] = self.instance_id
        return rows


def write(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """One executemany of a statement compiled once: the ORM's bulk path, and even Core's
    per-call compile lookup, cost more than the inserts themselves."""
    _INSERT.execute(conn, rows)
