"""What an instance is waiting for, read off its workflow and written as rows.

Human tasks, timers and message subscriptions are projections of the workflow state,
rebuilt (as a diff) at the end of every unit of work in the same transaction, so the
worklists, the scheduler and message correlation can query plain indexed tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.util.task import TaskState

from . import routing_values
from .camunda import GENERATED_FORM, INLINE_FORM_PROPERTY
from .clock import ensure_utc
from .event_subprocesses import is_own_start, message_triggers


def all_workflows(workflow: Any) -> list[Any]:
    return [workflow, *workflow.subprocesses.values()]


def iter_tasks(workflow: Any, state: int) -> Iterator[Any]:
    for wf in all_workflows(workflow):
        for task in wf.tasks.values():
            if task.state & state:
                yield task


# -- human tasks ------------------------------------------------------------------

@dataclass
class HumanTaskInfo:
    task_id: str
    element_id: str
    name: str | None
    kind: str
    lane: str | None
    form: str | None
    ui_form: str | None
    instructions: str | None
    assignee: str | None
    candidate_groups: list[str]
    priority: int | None
    due_at: datetime | None
    follow_up_at: datetime | None
    queue: str | None = None
    data: dict[str, Any] | None = None
    initiator: str | None = None  # who started the instance (spiff-arena's "Process Initiator" lane)


def properties_of(task_spec: Any) -> dict[str, str]:
    return dict((getattr(task_spec, "extensions", None) or {}).get("properties", {}) or {})


def human_tasks(
    workflow: Any, evaluate: Any, now: datetime, working_due: Any = None
) -> list[HumanTaskInfo]:
    """READY user and manual tasks, with routing fields evaluated against task data.

    Properties `assignee`, `candidateGroups`, `priority`, `dueDate` and `followUpDate`
    (spiffworkflow:property) are expressions; dates may be ISO datetimes or durations
    from now (`"P2D"`). With a `businessCalendar` property, durations count that calendar's
    working time: `working_due(task, calendar, duration_text)` gives the instant (or None
    when it cannot, and the duration then counts wall-clock time).
    """
    found = []
    for task in iter_tasks(workflow, TaskState.READY):
        spec = task.task_spec
        if not spec.manual:
            continue
        props = properties_of(spec)
        extensions = getattr(spec, "extensions", None) or {}

        def prop(name: str, convert: Any = None, task: Any = task, props: dict = props) -> Any:
            expr = props.get(name)
            if expr in (None, ""):
                return None
            return evaluate(task, expr) if convert is None else evaluate(task, expr, convert)

        groups = prop("candidateGroups")
        if isinstance(groups, str):
            groups = [g.strip() for g in groups.split(",") if g.strip()]
        calendar = prop("businessCalendar") if working_due is not None else None

        def date_prop(name: str, task: Any = task, calendar: Any = calendar) -> datetime | None:
            def convert(value: Any) -> datetime | None:
                if calendar and isinstance(value, str) and value.strip().upper().startswith("P"):
                    due = working_due(task, str(calendar), value.strip())
                    if due is not None:
                        return ensure_utc(due)
                return to_due(value, now)  # a huge duration raises DurationTooLong: a warning

            return prop(name, convert)

        found.append(
            HumanTaskInfo(
                task_id=str(task.id),
                element_id=spec.bpmn_id,
                name=spec.bpmn_name,
                kind="user" if type(spec).__name__ == "UserTask" else "manual",
                lane=spec.lane,
                form=props.get("formJsonSchemaFilename") or (GENERATED_FORM if INLINE_FORM_PROPERTY in props else None),
                ui_form=props.get("formUiSchemaFilename"),
                instructions=extensions.get("instructionsForEndUser"),
                assignee=prop("assignee", routing_values.assignee),
                candidate_groups=list(groups or []),
                priority=prop("priority", routing_values.priority),
                due_at=date_prop("dueDate"),
                follow_up_at=date_prop("followUpDate"),
                queue=_str_or_none(prop("queue")),
                data=task.data,
            )
        )
    return found


def _str_or_none(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def to_due(value: Any, now: datetime) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return ensure_utc(value)
    text = str(value).strip()
    if text.upper().startswith("P"):
        parsed = TimerEventDefinition.parse_iso_duration(text)
        return now + TimerEventDefinition.get_timedelta_from_start(parsed, now)
    return ensure_utc(TimerEventDefinition.get_datetime(text))


# -- timers -----------------------------------------------------------------------

@dataclass
class TimerInfo:
    task_id: str
    element_id: str
    name: str | None
    kind: str
    due_at: datetime


def _timer_kind(definition: Any) -> str:
    name = type(definition).__name__
    if isinstance(definition, CycleTimerEventDefinition):
        return "cycle"
    return "date" if name.startswith("TimeDate") else "duration"


def due_from_value(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, dict):  # a cycle: {'cycles', 'next', 'duration'}
        if value.get("cycles") == 0:
            return None
        return ensure_utc(datetime.fromisoformat(value["next"]))
    text = str(value)
    if text.upper().startswith("P"):
        return None
    return ensure_utc(TimerEventDefinition.get_datetime(text))


def timers(workflow: Any) -> list[TimerInfo]:
    """Every timer the workflow waits on, including an event-based gateway's."""
    found = []
    for task in iter_tasks(workflow, TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        if definition is None:
            continue
        for sub in awaited(task, definition):
            if isinstance(sub, TimerEventDefinition):
                if already_seen(task, sub):
                    break  # a parallel multiple event still waiting for its other events
                due = due_from_value(task.internal_data.get("event_value"))
                if due is not None:
                    found.append(
                        TimerInfo(str(task.id), task.task_spec.bpmn_id, sub.name or None, _timer_kind(sub), due)
                    )
                break
    return found


def already_seen(task: Any, definition: Any) -> bool:
    """A parallel multiple catch event has already caught this one of its events."""
    spec_definition = getattr(task.task_spec, "event_definition", None)
    if not isinstance(spec_definition, MultipleEventDefinition) or not spec_definition.parallel:
        return False
    return any(event.event_definition == definition for event in task.internal_data.get("seen_events", []))


# -- message subscriptions --------------------------------------------------------

@dataclass
class SubscriptionInfo:
    task_id: str
    element_id: str
    message_name: str
    correlation_key: str | None


def subscriptions(workflow: Any) -> list[SubscriptionInfo]:
    found = []
    for task in iter_tasks(workflow, TaskState.WAITING):
        definition = getattr(task.task_spec, "event_definition", None)
        if definition is None or is_own_start(task):
            continue
        for sub in awaited(task, definition):
            if isinstance(sub, MessageEventDefinition):
                key = correlation_key(task.workflow, sub)
                found.append(SubscriptionInfo(str(task.id), task.task_spec.bpmn_id, sub.name, key))
    for scope, _, start in message_triggers(workflow):  # event sub-processes, anchored on their scope
        definition = start.event_definition
        found.append(SubscriptionInfo(
            str(scope.task_tree.id), start.bpmn_id, definition.name, correlation_key(scope, definition)
        ))
    return found


def awaited(task: Any, definition: Any) -> list[Any]:
    """The event definitions `task` still waits for: a parallel-multiple catch needs each of
    its events once, so one it already received is no longer awaited."""
    if not isinstance(definition, MultipleEventDefinition):
        return [definition]
    remaining = list(definition.event_definitions)
    if definition.parallel:
        for event in task.internal_data.get("seen_events", []):
            if event.event_definition in remaining:
                remaining.remove(event.event_definition)
    return remaining


def correlation_key(workflow: Any, definition: Any) -> str | None:
    """A process-level correlation value for this message, when the diagram defines one."""
    keys = {k for prop in definition.correlation_properties for k in prop.correlation_keys}
    values = []
    for key in sorted(keys):
        found = workflow.correlations.get(key)
        if found:
            values.extend(str(v) for _, v in sorted(found.items()))
    if not values:
        return None
    return values[0] if len(values) == 1 else json.dumps(values)


def next_retry_delay(attempt: int, base_seconds: float = 30.0, cap_seconds: float = 3600.0) -> timedelta:
    """Exponential backoff for incident retries: 30 s, 60 s, 120 s, ... capped at an hour."""
    return timedelta(seconds=min(cap_seconds, base_seconds * (2 ** max(0, attempt - 1))))
