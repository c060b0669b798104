"""Plain read-only views the facade returns; interfaces render them, never ORM rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class View:
    def to_dict(self) -> dict[str, Any]:
        return _plain(asdict(self))  # type: ignore[call-overload]


@dataclass
class ProcessVersionView(View):
    process_id: str
    name: str | None
    version: int
    content_hash: str
    file: str
    deployed_at: datetime
    changed: bool = False
    changes: dict[str, Any] | None = None


@dataclass
class HumanTaskView(View):
    id: str
    instance_id: int
    process_id: str
    business_key: str | None
    element_id: str
    name: str | None
    kind: str
    lane: str | None
    queue: str | None
    form: str | None
    instructions: str | None
    assignee: str | None
    claimed_at: datetime | None
    candidate_groups: list[str]
    priority: int | None
    due_at: datetime | None
    follow_up_at: datetime | None
    state: str
    created_at: datetime
    completed_at: datetime | None
    completed_by: str | None


@dataclass
class TimerView(View):
    id: int
    instance_id: int
    element_id: str
    name: str | None
    kind: str
    due_at: datetime
    state: str
    fired_at: datetime | None
    # The instance's status in timer lists (the console marks suspended ones); None inside an
    # instance's own view, which says its status itself.
    instance_status: str | None = None


@dataclass
class SubscriptionView(View):
    instance_id: int
    element_id: str
    message_name: str
    correlation_key: str | None


@dataclass
class IncidentView(View):
    id: int
    instance_id: int
    element_id: str | None
    element_name: str | None
    error_type: str
    message: str
    attempts: int
    retries_left: int
    next_retry_at: datetime | None
    state: str
    created_at: datetime
    resolved_at: datetime | None


@dataclass
class HistoryView(View):
    id: int
    at: datetime
    event: str
    element_id: str | None
    element_name: str | None
    element_type: str | None
    user: str | None
    data_delta: dict[str, Any] | None


@dataclass
class SignalView(View):
    """Where a broadcast signal went: instances that caught it and instances it started."""

    signal: str
    delivered: list[int] = field(default_factory=list)
    started: list[int] = field(default_factory=list)


@dataclass
class InstanceView(View):
    id: int
    process_id: str
    version: int
    business_key: str | None
    status: str
    created_at: datetime
    updated_at: datetime
    ended_at: datetime | None
    open_tasks: list[HumanTaskView] = field(default_factory=list)
    timers: list[TimerView] = field(default_factory=list)
    subscriptions: list[SubscriptionView] = field(default_factory=list)
    incidents: list[IncidentView] = field(default_factory=list)


@dataclass
class InstanceDetail(InstanceView):
    data: dict[str, Any] = field(default_factory=dict)
    history: list[HistoryView] = field(default_factory=list)


@dataclass
class FiredTimer(View):
    instance_id: int
    element_id: str
    due_at: datetime
    fired_at: datetime


@dataclass
class TickResult(View):
    now: datetime
    timers_fired: list[FiredTimer]
    incidents_retried: list[int]
    errors: list[str]
    jobs_run: list[int] = field(default_factory=list)


@dataclass
class DeployResult(View):
    versions: list[ProcessVersionView]
    warnings: list[Any] = field(default_factory=list)
    """The validator's warnings (and, on a forced deploy, its errors) as `Diagnostic`s."""

    @property
    def changed(self) -> list[ProcessVersionView]:
        return [v for v in self.versions if v.changed]


@dataclass
class ModificationPlan(View):
    """What a modification does (or, in a dry run, would do)."""

    instance_id: int
    allowed: bool
    dry_run: bool
    reasons: list[str] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)  # elements whose tokens go
    start: str | None = None  # the element that becomes active
    how: str | None = None  # "back" (it ran before: reset) or "forward" (it has not run)
    active_before: list[str] = field(default_factory=list)
    active_after: list[str] = field(default_factory=list)
