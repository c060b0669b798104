"""What every command shares: options, one engine (or worklist) per command, output, and the
parsing of ids, times and `--data`. Command modules import this, never `crmflow.cli`, so the
CLI's modules import one way only: `cli` -> `commands.*` -> `commands.common`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any

import typer

from engine import Engine, EngineError, InvalidInput, ManualClock
from engine.input_checks import parse_object
from worklists.routing import LaneMap
from worklists.service import Worklist

from .. import render
from ..settings import build_engine, build_worklist, lane_map

DEBUG_ENV = "CRMFLOW_DEBUG"


class CliError(ValueError):
    """A user mistake the CLI itself detects (ambiguous task prefix, bad timestamp)."""



def one_line(message: str) -> str:
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL or SQLite file path (same as the global --db, which reads CRMFLOW_DB)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON document instead of a table.")]
DataOpt = Annotated[str | None, typer.Option("--data", help="JSON object, e.g. '{\"amount\": 10}'.")]
UserOpt = Annotated[
    str | None, typer.Option("--user", envvar="CRMFLOW_USER", help="Who acts (recorded in the history).")
]
LanesOpt = Annotated[
    str | None,
    typer.Option("--lanes", envvar="CRMFLOW_LANES", help="Lane map file (default: the processes folder's)."),
]


# -- plumbing ------------------------------------------------------------------------------
def _settings(ctx: typer.Context) -> dict[str, Any]:
    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    return {"db": obj.get("db"), "json": bool(obj.get("json"))}


def wants_json(ctx: typer.Context, as_json: bool) -> bool:
    return as_json or _settings(ctx)["json"]


@contextmanager
def open_engine(
    ctx: typer.Context,
    db: str | None,
    *,
    clock: ManualClock | None = None,
    with_handlers: bool = True,
    auto_migrate: bool = True,
    lanes: LaneMap | None = None,
) -> Iterator[Engine]:
    """An engine for one command; `lanes` (else the configured lane map) routes new tasks."""
    eng = build_engine(db or _settings(ctx)["db"], clock, with_handlers=with_handlers, auto_migrate=auto_migrate,
                       lanes=lanes)
    try:
        yield eng
    finally:
        eng.close()


@contextmanager
def open_worklist(ctx: typer.Context, db: str | None, lanes: str | None = None) -> Iterator[tuple[Engine, Worklist]]:
    """The engine and its worklists on one lane map (`--lanes`, else the processes folder's)."""
    lane_map_ = lane_map(lanes=lanes)
    with open_engine(ctx, db, lanes=lane_map_) as eng:
        yield eng, build_worklist(eng, lanes=lane_map_)


def need_user(user: str | None) -> str:
    if not user:
        raise InvalidInput("this command needs --user (or CRMFLOW_USER)")
    return user


def emit(ctx: typer.Context, as_json: bool, value: Any, text: str) -> None:
    """Print `value` as JSON or `text` for people."""
    typer.echo(render.to_json(value) if wants_json(ctx, as_json) else text)


def parse_json_object(raw: str | None, option: str = "--data") -> dict[str, Any]:
    """`--data` as a dict, by the engine's one parser of user JSON (`engine.input_checks.parse_object`):
    the same limits as the API's (valid Unicode, size, depth); the engine checks the field names."""
    return parse_object(raw, option)


def parse_time(raw: str, option: str) -> datetime:
    """An ISO 8601 timestamp; without a zone it is UTC."""
    try:
        return datetime.fromisoformat(raw.strip())
    except ValueError:
        raise CliError(f"{option} {raw!r} is not an ISO 8601 time (e.g. 2026-01-05T09:00:00Z)") from None


def resolve_task_id(eng: Engine, prefix: str) -> str:
    """A full task id from a unique prefix; open tasks first, so a completed twin never makes it ambiguous."""
    prefix = prefix.strip()
    if not prefix:
        raise CliError("a task id (or a unique prefix of one) is required")
    try:
        return eng.get_task(prefix).id
    except EngineError:
        pass
    for state in ("open", "all"):
        matches = [t for t in eng.list_tasks(state=state, limit=None) if t.id.startswith(prefix)]  # type: ignore[arg-type]
        if len(matches) == 1:
            return matches[0].id
        if len(matches) > 1:
            shown = ", ".join(t.id for t in matches[:5]) + (", ..." if len(matches) > 5 else "")
            raise CliError(f"task id prefix {prefix!r} is ambiguous: it matches {len(matches)} tasks ({shown})")
    raise CliError(f"no task id starts with {prefix!r} (crmflow tasks lists open tasks)")


# -- column sets ----------------------------------------------------------------------------
VERSION_COLUMNS: list[render.Column] = [
    ("PROCESS", lambda v: v.process_id),
    ("NAME", lambda v: v.name),
    ("VERSION", lambda v: v.version),
    ("DEPLOYED", lambda v: v.deployed_at),
    ("HASH", lambda v: v.content_hash[:12]),
    ("FILE", lambda v: v.file),
]
INSTANCE_COLUMNS: list[render.Column] = [
    ("ID", lambda i: i.id),
    ("PROCESS", lambda i: i.process_id),
    ("VERSION", lambda i: i.version),
    ("KEY", lambda i: i.business_key),
    ("STATUS", lambda i: i.status),
    ("CREATED", lambda i: i.created_at),
    ("UPDATED", lambda i: i.updated_at),
    ("ENDED", lambda i: i.ended_at),
]
TASK_COLUMNS: list[render.Column] = [
    ("ID", lambda t: t.id),
    ("INSTANCE", lambda t: t.instance_id),
    ("KEY", lambda t: t.business_key),
    ("TASK", lambda t: render.element(t.name, t.element_id)),
    ("LANE", lambda t: t.lane),
    ("ASSIGNEE", lambda t: t.assignee),
    ("GROUPS", lambda t: ", ".join(t.candidate_groups or [])),
    ("PRIO", lambda t: t.priority),
    ("DUE", lambda t: t.due_at),
    ("CREATED", lambda t: t.created_at),
]
DONE_TASK_COLUMNS: list[render.Column] = [
    *TASK_COLUMNS,
    ("STATE", lambda t: t.state),
    ("COMPLETED", lambda t: t.completed_at),
    ("BY", lambda t: t.completed_by),
]
TIMER_COLUMNS: list[render.Column] = [
    ("ID", lambda t: t.id),
    ("INSTANCE", lambda t: t.instance_id),
    ("TIMER", lambda t: render.element(t.name, t.element_id)),
    ("KIND", lambda t: t.kind),
    ("DUE", lambda t: t.due_at),
    ("STATE", lambda t: t.state),
    ("FIRED", lambda t: t.fired_at),
]
SUBSCRIPTION_COLUMNS: list[render.Column] = [
    ("MESSAGE", lambda s: s.message_name),
    ("KEY", lambda s: s.correlation_key),
    ("ELEMENT", lambda s: s.element_id),
]
INCIDENT_COLUMNS: list[render.Column] = [
    ("ID", lambda i: i.id),
    ("INSTANCE", lambda i: i.instance_id),
    ("ELEMENT", lambda i: render.element(i.element_name, i.element_id)),
    ("ERROR", lambda i: i.error_type),
    ("MESSAGE", lambda i: i.message),
    ("ATTEMPTS", lambda i: i.attempts),
    ("RETRIES LEFT", lambda i: i.retries_left),
    ("NEXT RETRY", lambda i: i.next_retry_at),
    ("STATE", lambda i: i.state),
]
HISTORY_COLUMNS: list[render.Column] = [
    ("TIME", lambda h: h.at),
    ("EVENT", lambda h: h.event),
    ("ELEMENT", lambda h: render.element(h.element_name, h.element_id)),
    ("TYPE", lambda h: h.element_type),
    ("USER", lambda h: h.user),
    ("DATA", lambda h: render.delta(h.data_delta)),
]


def instance_head(inst: Any) -> str:
    """An instance's identity and state, as the first lines of `show` and of every summary."""
    return render.fields(
        [
            ("instance", inst.id),
            ("process", f"{inst.process_id} v{inst.version}"),
            ("business key", inst.business_key),
            ("status", inst.status),
            ("created", inst.created_at),
            ("updated", inst.updated_at),
            ("ended", inst.ended_at),
        ]
    )


def instance_summary(inst: Any) -> str:
    """What an instance waits for now: the answer to 'what happened after my command?'."""
    head = instance_head(inst)
    parts = [head]
    if inst.open_tasks:
        parts.append(section_of("Open tasks", inst.open_tasks, TASK_COLUMNS))
    if inst.timers:
        parts.append(section_of("Pending timers", inst.timers, TIMER_COLUMNS))
    if inst.subscriptions:
        parts.append(section_of("Waiting for messages", inst.subscriptions, SUBSCRIPTION_COLUMNS))
    if inst.incidents:
        parts.append(section_of("Open incidents", inst.incidents, INCIDENT_COLUMNS))
    return "\n\n".join(parts)


def emit_instance(ctx: typer.Context, as_json: bool, inst: Any, headline: str) -> None:
    """After a command that moved an instance: what it did, then what the instance waits for now."""
    emit(ctx, as_json, inst, f"{headline}\n\n{instance_summary(inst)}")


def section_of(title: str, rows: list[Any], columns: list[render.Column]) -> str:
    return render.section(title, render.table(rows, columns))


def variables_text(data: dict[str, Any]) -> str:
    if not data:
        return "(none)"
    width = max(len(k) for k in data)
    return "\n".join(f"{k.ljust(width)} = {render.compact_json(v)}" for k, v in sorted(data.items()))


def change_summary(changes: dict[str, Any] | None) -> str:
    """`+confirm -review ~check` for a version's elements added, removed and changed."""
    if not changes:
        return ""
    parts = [f"+{e}" for e in changes.get("added", [])] + [f"-{e}" for e in changes.get("removed", [])]
    parts += [f"~{e}" for e in changes.get("changed", {})]
    return " ".join(parts) or "(flows or settings)"


