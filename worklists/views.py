"""What the worklists answer with: one human-task view (`TaskView`) and the pages, counts,
permissions and bulk results around it. The API's models, the pages and the CLI's tables all
read these; `task_view` is the one way to make a TaskView.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy.orm import Session

from engine.views import HumanTaskView, View

from .priority import priority_label
from .routing import USER_PREFIX


class SlaInfo(NamedTuple):
    """A case's SLA KPI: its status (e.g. "ok", "nearing", "breached") and when it falls due."""

    status: str
    due_at: datetime | None


class SlaProvider(Protocol):
    """Answers SLA status by business key, in the view's read session (CRM wiring plugs in here)."""

    def sla_for(self, session: Session, business_keys: Sequence[str]) -> Mapping[str, SlaInfo | tuple]: ...


@dataclass
class TaskView(HumanTaskView):
    """The one human-task view of the worklists, used by the API, the pages and the CLI: the engine's
    task view (`engine.views.HumanTaskView`, the projection row's fields) plus its SLA status, time
    left and priority label. Views fill the SLA fields; operations (pick, release, route) return the
    task as it is then, with them empty.

    `sla_status`, `sla_due_at`, `sla_seconds_left` and `sla_source` come from one decision
    (`worklists.sla.sla_state`): the case's SLA when the CRM has one, else the task's due date."""

    sla_status: str | None = None
    sla_due_at: datetime | None = None
    sla_seconds_left: float | None = None
    sla_source: str | None = None
    priority_label: str | None = None


_FIELDS = tuple(f.name for f in fields(TaskView))


@dataclass
class TaskFilter:
    """Filters every view accepts; all are optional and combine with AND."""

    process: str | None = None
    business_key: str | None = None
    due_before: datetime | None = None
    priority_up_to: int | None = None
    """At least this urgent: priority 1..N (1 is the most urgent, see worklists.priority)."""
    sla_status: str | None = None
    text: str | None = None


@dataclass
class Page(View):
    """A page of items; pass `next_cursor` back for the next one (None: this was the last).

    `total` is filled only when asked (`with_total=True`) and is a lower bound when
    `total_is_lower_bound` (counting stops at COUNT_CAP). SLA sorting and filtering look
    at the first SLA_WINDOW items by due date; `window_limited` says more existed."""

    items: list[TaskView]
    next_cursor: str | None = None
    total: int | None = None
    total_is_lower_bound: bool = False
    window_limited: bool = False


@dataclass
class QueueCount(View):
    queue: str
    open: int
    unpicked: int
    available_to_me: int
    groups: list[str] = field(default_factory=list)


@dataclass
class Counts(View):
    """The numbers beside the view names: my open work and each of my queues."""

    mine: int
    queues: list[QueueCount]


@dataclass
class ItemResult(View):
    """The outcome for one task of a bulk operation."""

    task_id: str
    ok: bool
    code: str | None = None
    message: str | None = None
    task: TaskView | None = None


@dataclass
class Permissions(View):
    """What a user may do with a task now (to show the right buttons)."""

    view: bool
    pick: bool
    release: bool
    route: bool
    complete: bool
    comment: bool


@dataclass(frozen=True)
class Actor:
    """A user as the checks see them."""

    name: str
    groups: frozenset[str]
    admin: bool = False

    @property
    def principals(self) -> frozenset[str]:
        return self.groups | {f"{USER_PREFIX}{self.name}"}


def task_view(source: HumanTaskView | Mapping[str, Any]) -> TaskView:
    """The one way to make a TaskView: from the engine's task view or a projection row's mapping
    (list queries leave out `instructions` and `ui_form`; missing fields are None)."""
    values = {f.name: getattr(source, f.name) for f in fields(source)} if isinstance(source, HumanTaskView) \
        else source
    data = dict.fromkeys(_FIELDS)
    data.update((k, v) for k, v in values.items() if k in data)
    data["candidate_groups"] = list(data["candidate_groups"] or [])
    data["priority_label"] = priority_label(data["priority"]) if data["priority"] is not None else None
    return TaskView(**data)
