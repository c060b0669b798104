"""Run states to mark on a drawing: from an instance's history and what it waits for now."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .style import STATES


def _check_marks(marks: Mapping[str, str] | None) -> dict[str, str]:
    if not marks:
        return {}
    bad = sorted({str(state) for state in marks.values() if state not in STATES})
    if bad:
        raise ValueError(f"unknown mark state(s) {', '.join(bad)}; use one of {', '.join(STATES)}")
    return {str(k): v for k, v in marks.items()}


def _field(entry: Any, name: str) -> Any:
    return entry.get(name) if isinstance(entry, Mapping) else getattr(entry, name, None)


def marks_from_history(
    history: Iterable[Any],
    open_task_element_ids: Iterable[str] = (),
    waiting_element_ids: Iterable[str] = (),
    incident_element_ids: Iterable[str] = (),
) -> dict[str, str]:
    """Element states from an instance's history and what it waits for now.

    'completed' makes an element done; 'timer_cancelled'/'cancelled' makes it cancelled when
    nothing happened to it later. Then what waits now wins: timers and subscriptions are
    waiting, open tasks active, incidents failed (the most urgent). History entries may be
    `HistoryView`s or their `to_dict()`s.
    """
    marks: dict[str, str] = {}
    for entry in history:
        element_id, event = _field(entry, "element_id"), _field(entry, "event")
        if not element_id:
            continue
        if event == "completed":
            marks[element_id] = "done"
        elif event in ("timer_cancelled", "cancelled"):
            marks[element_id] = "cancelled"
        elif marks.get(element_id) == "cancelled":
            del marks[element_id]  # something happened after the cancel: it no longer describes the element
    for ids, state in ((waiting_element_ids, "waiting"), (open_task_element_ids, "active"),
                       (incident_element_ids, "failed")):  # fmt: skip
        for element_id in ids:
            if element_id:
                marks[element_id] = state
    return marks


def instance_marks(detail: Any) -> dict[str, str]:
    """Marks for an `InstanceDetail` (history, open tasks, timers, subscriptions, incidents)."""
    waiting = [t.element_id for t in detail.timers] + [s.element_id for s in detail.subscriptions]
    incidents = [i.element_id for i in detail.incidents if getattr(i, "state", "open") == "open"]
    return marks_from_history(
        detail.history, [t.element_id for t in detail.open_tasks], waiting, [i for i in incidents if i]
    )
