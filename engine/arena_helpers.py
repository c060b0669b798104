"""spiff-arena's script helper functions, mapped onto crmflow or refused with the alternative.

spiff-arena's backend puts every subclass of its ``Script`` class into the script namespace under
its snake_case name (``spiffworkflow_backend/scripts/*.py``). A diagram written there calls
``get_current_user()``, ``get_toplevel_process_info()`` or ``get_env()`` without importing
anything. Here each name is either mapped onto what crmflow knows of the running step — the
acting user, the process initiator, the instance id, the engine's clock, settings — or refused
with a one-line message that names what to use instead. ``HELPERS`` lists every name with its
status; docs/spiff-arena.md is written from the same list.

Users and groups live outside the engine (crmflow's worklists); the composition root hands a
``UserDirectory`` to ``use_directory``. Without one, a user is just a name.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import HumanTask, Instance
from .sandbox_core import SandboxError
from .script_scope import ScriptCall, current
from .services import ServiceContext

ENV_SETTING = "CRMFLOW_ENV"
DEFAULT_ENV = "local_development"  # spiff-arena's default environment name
BASE_URL_SETTING = "CRMFLOW_BASE_URL"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_LOCAL_TIMEZONE = "US/Eastern"  # spiff-arena's get_localtime default


class UserDirectory(Protocol):
    """Who the users are, read in the step's own session (so in its transaction)."""

    def user(self, session: Session, name: str) -> dict[str, Any] | None:
        """``{"username", "email", "display_name", "groups"}`` or None for an unknown name."""
        ...

    def members(self, session: Session, group: str) -> list[str] | None:
        """User names in `group`, or None when there is no such group."""
        ...


_directory: UserDirectory | None = None


def use_directory(directory: UserDirectory | None) -> None:
    """Set (or clear) the user directory the helpers consult; crmflow's settings call this."""
    global _directory
    _directory = directory


# --- what a helper may know ---------------------------------------------------------------------


def _call(name: str) -> ScriptCall:
    call = current()
    if call is None or call.task is None:
        raise SandboxError(f"{name}() needs a running process instance (it was called outside a task)")
    return call


def _context(name: str) -> ServiceContext:
    ctx = _call(name).context()
    if ctx is None:
        raise SandboxError(f"{name}() needs a running process instance (no instance in this call)")
    return ctx


def _user_dict(session: Session, name: str | None) -> dict[str, Any] | None:
    if not name:
        return None
    found = _directory.user(session, name) if _directory is not None else None
    if found is not None:
        return dict(found)
    return {"username": name, "email": None, "display_name": name, "groups": []}


def _setting(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _base_url() -> str:
    return _setting(BASE_URL_SETTING, DEFAULT_BASE_URL).rstrip("/")


# --- mapped helpers ---------------------------------------------------------------------------------


def get_current_user() -> dict[str, Any]:
    """The user who set this step going (completed the task, started the instance)."""
    ctx = _context("get_current_user")
    found = _user_dict(ctx.session, ctx.user)
    if found is None:
        raise SandboxError(
            "get_current_user(): nobody acts in this step (a timer, a message or a worker moved it on); "
            "use get_process_initiator_user() or a user task's completed_by"
        )
    return found


def get_process_initiator_user() -> dict[str, Any] | None:
    """The user who started the instance (None when it was started by a timer or message)."""
    ctx = _context("get_process_initiator_user")
    started_by = ctx.session.scalar(select(Instance.started_by).where(Instance.id == ctx.instance_id))
    return _user_dict(ctx.session, started_by)


def get_last_user_completing_task(bpmn_process_identifier: str | None = None,
                                  task_bpmn_identifier: str | None = None) -> dict[str, Any] | None:
    """Who last completed the user task `task_bpmn_identifier` in this instance (None: nobody yet)."""
    ctx = _context("get_last_user_completing_task")
    if task_bpmn_identifier is None:
        task_bpmn_identifier, bpmn_process_identifier = bpmn_process_identifier, None
    rows = ctx.session.execute(
        select(HumanTask.process_id, HumanTask.completed_by)
        .where(HumanTask.instance_id == ctx.instance_id, HumanTask.element_id == task_bpmn_identifier,
               HumanTask.completed_by.is_not(None))
        .order_by(HumanTask.completed_at.desc())
    ).all()
    preferred = [r for r in rows if r.process_id == bpmn_process_identifier] or rows
    return _user_dict(ctx.session, preferred[0].completed_by) if preferred else None


def get_user(username: str | None = None) -> dict[str, Any] | None:
    """A user by name; None when the directory does not know them."""
    ctx = _context("get_user")
    if not username:
        raise ValueError("get_user() needs a username")
    if _directory is None:
        return _user_dict(ctx.session, username)
    found = _directory.user(ctx.session, username)
    return dict(found) if found is not None else None


def get_group_members(group_identifier: str) -> list[str]:
    """The user names in a group, sorted."""
    ctx = _context("get_group_members")
    members = _directory.members(ctx.session, group_identifier) if _directory is not None else None
    if members is None:
        raise LookupError(f"get_group_members(): there is no group {group_identifier!r}")
    return sorted(members)


def get_groups_for_user() -> list[dict[str, str]]:
    """The acting user's groups as ``[{"identifier": ..., "name": ...}]``."""
    user = get_current_user()
    return [{"identifier": g, "name": g} for g in sorted(user.get("groups") or [])]


def get_env() -> str:
    """The environment's name: the ``CRMFLOW_ENV`` setting (spiff-arena's default when unset)."""
    return _setting(ENV_SETTING, DEFAULT_ENV)


def get_frontend_url() -> str:
    """Where crmflow's pages are: the ``CRMFLOW_BASE_URL`` setting."""
    return _base_url()


def get_localtime(datetime: datetime | None = None, timezone: str = DEFAULT_LOCAL_TIMEZONE) -> datetime:
    """`datetime` (naive means UTC) in the time zone named `timezone`."""
    import pytz

    if datetime is None:
        raise ValueError("get_localtime() needs a datetime to convert")
    aware = datetime if datetime.tzinfo is not None else datetime.replace(tzinfo=UTC)
    return aware.astimezone(pytz.timezone(timezone))


def get_toplevel_process_info() -> dict[str, Any]:
    """``{"process_instance_id", "process_model_identifier"}``: the model identifier is the
    top-level process id (crmflow starts processes by id)."""
    ctx = _context("get_toplevel_process_info")
    return {"process_instance_id": ctx.instance_id, "process_model_identifier": ctx.process_id}


def get_process_info() -> dict[str, Any]:
    """spiff-arena's older name for get_toplevel_process_info()."""
    return get_toplevel_process_info()


def get_current_task_info() -> dict[str, Any]:
    """The running task as SpiffWorkflow serializes it, without its data (as spiff-arena returns it)."""
    from .spiff.serializer import SERIALIZER

    task = _call("get_current_task_info").task
    info = SERIALIZER.to_dict(task)
    info.pop("data", None)
    return json.loads(json.dumps(info, default=str))


_INTERNAL_KEYS = frozenset({"__builtins__", "__annotations__"})


def _plain_data(task: Any) -> dict[str, Any]:
    return {k: v for k, v in task.data.items()
            if k not in _INTERNAL_KEYS and not k.startswith("_") and not callable(v) and not _is_module(v)}


def _is_module(value: Any) -> bool:
    return type(value).__name__ == "module"


def get_current_task_data() -> dict[str, Any]:
    """A copy of the task's data."""
    return dict(_plain_data(_call("get_current_task_data").task))


def get_task_data_value(name: str, default: Any = None) -> Any:
    """`name` from the task data, `default` when missing or None."""
    value = _call("get_task_data_value").task.data.get(name)
    return default if value is None else value


def extract_from_task_data(predicate: str | Callable[[str], bool] | None = None) -> dict[str, Any]:
    """Remove the variables whose names start with `predicate` (or for which it is true) and
    return them."""
    task = _call("extract_from_task_data").task
    if isinstance(predicate, str):
        prefix = predicate
        predicate = lambda k: k.startswith(prefix)  # noqa: E731
    elif predicate is None:
        predicate = lambda k: True  # noqa: E731
    elif not callable(predicate):
        raise ValueError("extract_from_task_data() takes a name prefix or a function")
    return {k: task.data.pop(k) for k in list(_plain_data(task)) if predicate(k)}


def update_task_data_with_dictionary(updates: Mapping[str, Any]) -> None:
    """Set each key of `updates` as a variable."""
    if not isinstance(updates, Mapping):
        raise ValueError("update_task_data_with_dictionary() expects a dictionary")
    _call("update_task_data_with_dictionary").task.data.update(updates)


def get_data_sizes() -> dict[str, Any]:
    """How big the instance's task data is (JSON characters), and its variable names per task."""
    workflow = _call("get_data_sizes").task.workflow
    by_task: dict[str, list[str]] = {}
    size = 0
    for task in workflow.get_tasks():
        data = _plain_data(task)
        if data:
            by_task[task.task_spec.name] = sorted(data)
            size += len(json.dumps(data, default=str))
    return {"python_env_size": 0, "python_env_keys": [], "task_data_size": size, "task_data_keys_by_task": by_task}


def _task_url(task_id: str) -> str:
    return f"{_base_url()}/tasks/{task_id}"


def get_url_for_task(task_guid: str | None = None, public: bool = False) -> str:
    """The task page of a human task (crmflow has no public pages: the link asks for a login)."""
    ctx = _context("get_url_for_task")
    if not task_guid:
        raise ValueError("get_url_for_task() needs a task id")
    found = ctx.session.scalar(select(HumanTask.id).where(HumanTask.id == str(task_guid)))
    if found is None and _workflow_task(_call("get_url_for_task").task.workflow, task_guid) is None:
        raise LookupError(f"get_url_for_task(): there is no human task {task_guid!r}")
    return _task_url(str(task_guid))


def _workflow_task(workflow: Any, task_guid: str) -> Any:
    try:
        return workflow.get_task_from_id(UUID(str(task_guid)))
    except Exception:
        return None


def get_url_for_task_with_bpmn_identifier(bpmn_identifier: str, public: bool = True) -> str:
    """The task page of the newest task of element `bpmn_identifier` in this instance."""
    workflow = _call("get_url_for_task_with_bpmn_identifier").task.workflow
    tasks = [t for t in workflow.get_tasks() if t.task_spec.bpmn_id == bpmn_identifier]
    if not tasks:
        raise LookupError(f"get_url_for_task_with_bpmn_identifier(): no task {bpmn_identifier!r} in this instance")
    task = max(tasks, key=lambda t: t.last_state_change)
    if not task.task_spec.manual:
        raise ValueError(f"{bpmn_identifier!r} is not a user or manual task, so it has no task page")
    return _task_url(str(task.id))


def times_executed_by_user() -> int:
    """How many instances of this process exist (spiff-arena counts them all, whoever started them)."""
    ctx = _context("times_executed_by_user")
    return int(ctx.session.scalar(
        select(func.count()).select_from(Instance).where(Instance.process_id == ctx.process_id)
    ) or 0)


def user_has_started_instance() -> bool:
    """Whether an instance of this process has been started (spiff-arena's check ignores the user)."""
    return times_executed_by_user() > 0


def _human_task(name: str, task_guid: str | None) -> tuple[ServiceContext, HumanTask]:
    ctx = _context(name)
    if not task_guid:
        raise ValueError(f"{name}() needs a task id")
    row = ctx.session.get(HumanTask, str(task_guid))
    if row is None:
        raise LookupError(f"{name}(): there is no human task {task_guid!r}")
    return ctx, row


def get_task_potential_owners(task_guid: str | None = None) -> dict[str, list[str]]:
    """Who may work a human task: ``{"users": [...], "groups": [...]}``."""
    ctx, row = _human_task("get_task_potential_owners", task_guid)
    users: set[str] = {row.assignee} if row.assignee else set()
    groups = []
    for entry in row.candidate_groups or []:
        if entry.startswith("user:"):
            users.add(entry[len("user:"):])
        else:
            groups.append(entry)
            if not row.assignee and _directory is not None:
                users.update(_directory.members(ctx.session, entry) or [])
    return {"users": sorted(users), "groups": sorted(groups)}


def get_users_assigned_to_task(task_guid: str | None = None) -> list[str]:
    """The user names who may work a human task."""
    return get_task_potential_owners(task_guid)["users"]


_MD_SPECIAL = re.compile(r"([_*\[\]()~`#+\-=|{}!])")


def sanitize_for_md(value: Any) -> str:
    """Escape markdown's special characters and drop line breaks (spiff-arena's JinjaHelpers)."""
    return _MD_SPECIAL.sub(r"\\\1", str(value)).replace("\n", "").replace("\r", "")


def _seconds_as_datetime(value: str) -> str:
    try:
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (ValueError, OverflowError, OSError):
        return value


def generate_markdown_table(columns: list[Any] | None = None, data: list[Mapping[str, Any]] | None = None) -> str:
    """A markdown table from column definitions (a property name, or a dict with property,
    label, sanitize, formatter) and rows of dicts."""
    if columns is None:
        raise ValueError("generate_markdown_table() needs 'columns'")
    if data is None:
        raise ValueError("generate_markdown_table() needs 'data'")
    headers = [c if isinstance(c, Mapping) else {"property": c, "label": str(c).replace("_", " ").capitalize()}
               for c in columns]
    table = "| " + " | ".join(str(h["label"]) for h in headers) + " |\n"
    table += "| " + " | ".join(["----"] * len(headers)) + " |\n"
    for item in data:
        row = []
        for column in headers:
            value = str(item.get(column["property"], ""))
            if column.get("formatter") == "convert_seconds_to_date_time_for_display":
                value = _seconds_as_datetime(value)
            elif column.get("sanitize", True) is True:
                value = sanitize_for_md(value)
            row.append(value)
        table += "| " + " | ".join(row) + " |\n"
    return table


# --- refused helpers ---------------------------------------------------------------------------------


def _refusal(name: str, why: str) -> Callable[..., Any]:
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise SandboxError(f"{name}() is not available in crmflow: {why}")

    refused.__name__ = name
    return refused


_PERMISSIONS = ("permissions and groups are an operator's job, outside diagrams: "
                "`crmflow users add NAME --groups ...` and lanes.json")
_FILES = "crmflow stores no uploaded files; keep documents in the CRM and pass a link or record id"
REFUSED: dict[str, str] = {
    "get_secret": "secrets never enter process data; use a service task whose handler reads its own configuration",
    "set_secret": "secrets are configured by operators, not by diagrams; use a service task's handler settings",
    "add_permission": _PERMISSIONS,
    "add_user_to_group": _PERMISSIONS,
    "clear_permissions": _PERMISSIONS,
    "refresh_permissions": _PERMISSIONS,
    "get_all_permissions": _PERMISSIONS,
    "set_user_properties": "crmflow users have no property store; keep such values in a CRM record "
                           "(a service task) or in process data",
    "get_user_properties": "crmflow users have no property store; use get_current_user() for name, email "
                           "and groups",
    "set_feature_flags": "crmflow has no feature flags; branch on process data or on get_env()",
    "delete_process_instances_with_criteria": "a diagram never deletes instances: their history is the audit "
                                              "trail; end a process with an end event",
    "create_unique_kkv_top_level_key": "spiff-arena's KKV data stores are not supported; keep the record "
                                       "in a CRM table through a service task",
    "fact_service": "scripts have no network access; call the web service from a service task",
    "get_encoded_file_data": _FILES,
    "markdown_file_download_link": _FILES,
    "get_markdown_file_download_link": _FILES,
    "save_process_instance_metadata": "crmflow keeps no instance metadata table; keep the values in process "
                                      "data (shown by `crmflow show` and the API) or write a CRM record "
                                      "from a service task",
}


@dataclass(frozen=True)
class Helper:
    name: str
    status: str  # "mapped" or "refused"
    note: str


MAPPED: dict[str, Callable[..., Any]] = {
    f.__name__: f
    for f in (
        get_current_user, get_process_initiator_user, get_last_user_completing_task, get_user,
        get_group_members, get_groups_for_user, get_env, get_frontend_url, get_localtime,
        get_toplevel_process_info, get_process_info, get_current_task_info, get_current_task_data,
        get_task_data_value, extract_from_task_data, update_task_data_with_dictionary, get_data_sizes,
        get_url_for_task, get_url_for_task_with_bpmn_identifier, times_executed_by_user,
        user_has_started_instance, get_task_potential_owners, get_users_assigned_to_task,
        generate_markdown_table, sanitize_for_md,
    )
}

HELPERS: list[Helper] = sorted(
    [Helper(n, "mapped", (f.__doc__ or "").strip().splitlines()[0]) for n, f in MAPPED.items()]
    + [Helper(n, "refused", why) for n, why in REFUSED.items()],
    key=lambda h: h.name,
)


def builtins() -> dict[str, Callable[..., Any]]:
    """Every helper name → its function (refused ones raise with their alternative)."""
    return {**MAPPED, **{name: _refusal(name, why) for name, why in REFUSED.items()}}


NEEDS_DATABASE = frozenset({
    "get_current_user", "get_process_initiator_user", "get_last_user_completing_task", "get_user",
    "get_group_members", "get_groups_for_user", "get_url_for_task", "times_executed_by_user",
    "user_has_started_instance", "get_task_potential_owners", "get_users_assigned_to_task",
})
"""Helpers that read the step's database session: a sandbox child (engine/sandbox_worker.py) has
them run by its parent process, which owns the connection."""
