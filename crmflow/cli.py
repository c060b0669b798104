"""The `crmflow` command line: every command is a thin call into the engine facade.

Errors a user can act on (`EngineError`, bad `--data`/`--now`) print one `error:` line and exit 1;
usage errors exit 2 (Typer/Click); anything unexpected prints one line and exits 3, with the
traceback only when `CRMFLOW_DEBUG=1`.
"""

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from engine import Engine, EngineError, ManualClock
from engine.input_checks import BYTES_ENV, DEPTH_ENV, InputLimits, check_data, check_text
from worklists.routing import LaneMap

from . import render
from .settings import build_engine, build_registry

DEBUG_ENV = "CRMFLOW_DEBUG"


class CliError(ValueError):
    """A user mistake the CLI itself detects (ambiguous task prefix, bad timestamp)."""


class CrmflowGroup(TyperGroup):
    """The single place that turns exceptions into one line on stderr and an exit code."""

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except (EngineError, ValueError) as err:
            if os.environ.get(DEBUG_ENV) == "1":
                raise
            typer.echo(f"error: {one_line(str(err)) or type(err).__name__}", err=True)
            raise typer.Exit(1) from None
        except Exception as err:
            if os.environ.get(DEBUG_ENV) == "1":
                raise
            typer.echo(
                f"error: internal error: {type(err).__name__}: {one_line(str(err))} "
                f"(set {DEBUG_ENV}=1 for the traceback)",
                err=True,
            )
            raise typer.Exit(3) from None


def one_line(message: str) -> str:
    return "; ".join(line.strip() for line in message.splitlines() if line.strip())


app = typer.Typer(
    cls=CrmflowGroup,
    name="crmflow",
    help="crmflow: run BPMN processes for CRM work.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="Database URL or SQLite file path (same as the global --db, which reads CRMFLOW_DB)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a JSON document instead of a table.")]
DataOpt = Annotated[str | None, typer.Option("--data", help="JSON object, e.g. '{\"amount\": 10}'.")]
UserOpt = Annotated[
    str | None, typer.Option("--user", envvar="CRMFLOW_USER", help="Who acts (recorded in the history).")
]


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db", envvar="CRMFLOW_DB", help="Database URL or SQLite file path (default sqlite:///crmflow.db)."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Options given here apply to every command; the same options after the command win."""
    ctx.obj = {"db": db, "json": as_json}


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


def emit(ctx: typer.Context, as_json: bool, value: Any, text: str) -> None:
    """Print `value` as JSON or `text` for people."""
    typer.echo(render.to_json(value) if wants_json(ctx, as_json) else text)


def parse_json_object(raw: str | None, option: str = "--data") -> dict[str, Any]:
    """`--data` as a dict, within the same limits as the API's (`engine.input_checks`: valid
    Unicode, size, depth); the engine checks the field names."""
    if raw is None or not raw.strip():
        return {}
    limits = InputLimits.configured()
    check_text(raw, option)  # bytes that are not UTF-8 arrive as lone surrogates
    if len(raw.encode("utf-8")) > limits.max_bytes:
        raise CliError(f"{option} is {len(raw.encode('utf-8'))} bytes; the limit is {limits.max_bytes} "
                       f"({BYTES_ENV})")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as err:
        raise CliError(f"{option} is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        raise CliError(f"{option} is nested deeper than {limits.max_depth} levels ({DEPTH_ENV})") from None
    if not isinstance(value, dict):
        raise CliError(f'{option} must be a JSON object like {{"amount": 10}}, not {type(value).__name__}')
    return check_data(value, option, limits)


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


def instance_summary(inst: Any) -> str:
    """What an instance waits for now: the answer to 'what happened after my command?'."""
    head = render.fields(
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


def section_of(title: str, rows: list[Any], columns: list[render.Column]) -> str:
    return render.section(title, render.table(rows, columns))


def variables_text(data: dict[str, Any]) -> str:
    if not data:
        return "(none)"
    width = max(len(k) for k in data)
    return "\n".join(f"{k.ljust(width)} = {render.compact_json(v)}" for k, v in sorted(data.items()))


# -- commands -------------------------------------------------------------------------------
@app.command()
def deploy(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Diagram files or directories (default: processes/).")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deploy diagrams: each changed process becomes a new version."""
    with open_engine(ctx, db) as eng:
        result = eng.deploy(paths or [Path("processes")])
    columns: list[render.Column] = [
        ("PROCESS", lambda v: v.process_id),
        ("VERSION", lambda v: v.version),
        ("CHANGED", lambda v: "new version" if v.changed else "unchanged"),
        ("FILE", lambda v: v.file),
        ("CHANGES", lambda v: change_summary(v.changes)),
    ]
    emit(ctx, as_json, result, render.table(result.versions, columns, empty="(no processes found)"))


def change_summary(changes: dict[str, Any] | None) -> str:
    """`+confirm -review ~check` for a version's elements added, removed and changed."""
    if not changes:
        return ""
    parts = [f"+{e}" for e in changes.get("added", [])] + [f"-{e}" for e in changes.get("removed", [])]
    parts += [f"~{e}" for e in changes.get("changed", {})]
    return " ".join(parts) or "(flows or settings)"


@app.command()
def definitions(
    ctx: typer.Context,
    process: Annotated[str | None, typer.Option("--process", help="Only this process id.")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List deployed process versions."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        versions = eng.list_definitions(process)
    emit(ctx, as_json, versions, render.table(versions, VERSION_COLUMNS, empty="(nothing deployed; crmflow deploy)"))


@app.command()
def start(
    ctx: typer.Context,
    process_id: Annotated[str, typer.Argument(help="Process id (as deployed).")],
    data: DataOpt = None,
    key: Annotated[str | None, typer.Option("--key", help="Business key, e.g. the lead or case number.")] = None,
    user: UserOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start the latest version of a process and run it until it waits."""
    payload = parse_json_object(data)
    with open_engine(ctx, db) as eng:
        inst = eng.start(process_id, payload, business_key=key, user=user)
    emit(ctx, as_json, inst, f"started instance {inst.id}\n\n{instance_summary(inst)}")


@app.command()
def instances(
    ctx: typer.Context,
    process: Annotated[str | None, typer.Option("--process", help="Only this process id.")] = None,
    status: Annotated[str | None, typer.Option(
        "--status", help="waiting, incident, suspended, completed, terminated or cancelled.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Only this business key.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many, newest first.")] = 100,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List process instances, newest first."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        rows = eng.list_instances(process_id=process, status=status, business_key=key, limit=limit)
    emit(ctx, as_json, rows, render.table(rows, INSTANCE_COLUMNS, empty="(no instances)"))


@app.command()
def show(
    ctx: typer.Context,
    instance_id: Annotated[int, typer.Argument(help="Instance id.")],
    svg: Annotated[Path | None, typer.Option("--svg", help="Also draw the instance to this SVG file.")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The whole story of one instance: state, variables, what it waits for, and its history."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        inst = eng.get_instance(instance_id, with_history=True)
        if svg is not None:
            from .commands.draw import write_instance_picture

            write_instance_picture(eng, inst, svg)
    parts = [
        render.fields(
            [
                ("instance", inst.id),
                ("process", f"{inst.process_id} v{inst.version}"),
                ("business key", inst.business_key),
                ("status", inst.status),
                ("created", inst.created_at),
                ("updated", inst.updated_at),
                ("ended", inst.ended_at),
            ]
        ),
        render.section("Variables", variables_text(inst.data)),
        section_of("Open tasks", inst.open_tasks, TASK_COLUMNS),
        section_of("Pending timers", inst.timers, TIMER_COLUMNS),
        section_of("Message subscriptions", inst.subscriptions, SUBSCRIPTION_COLUMNS),
        section_of("Open incidents", inst.incidents, INCIDENT_COLUMNS),
        section_of("History", inst.history, HISTORY_COLUMNS),
    ]
    emit(ctx, as_json, inst, "\n\n".join(parts))


@app.command()
def tasks(
    ctx: typer.Context,
    instance: Annotated[int | None, typer.Option("--instance", help="Only this instance.")] = None,
    assignee: Annotated[str | None, typer.Option("--assignee", help="Only tasks assigned to this user.")] = None,
    lane: Annotated[str | None, typer.Option("--lane", help="Only tasks in this lane.")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Completed and cancelled tasks too.")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List human tasks (open ones, most urgent first)."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        rows = eng.list_tasks(state="all" if show_all else "open", instance_id=instance, assignee=assignee, lane=lane)
    columns = DONE_TASK_COLUMNS if show_all else TASK_COLUMNS
    emit(ctx, as_json, rows, render.table(rows, columns, empty="(no tasks)"))


@app.command()
def complete(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(help="Task id, or a unique prefix of it.")],
    user: UserOpt = None,
    data: DataOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Complete a user or manual task with form data; the instance runs on until it waits."""
    payload = parse_json_object(data)
    with open_engine(ctx, db) as eng:
        full_id = resolve_task_id(eng, task_id)
        inst = eng.complete_task(full_id, user=user, data=payload)
    emit(ctx, as_json, inst, f"completed task {full_id}\n\n{instance_summary(inst)}")


@app.command()
def message(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Message name, as in the diagram.")],
    key: Annotated[str | None, typer.Option("--key", help="Correlation (business) key.")] = None,
    data: DataOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deliver a message to the instance waiting for it, or start a process with that message start."""
    payload = parse_json_object(data)
    with open_engine(ctx, db) as eng:
        inst = eng.correlate(name, key=key, data=payload)
    emit(ctx, as_json, inst, f"message {name!r} delivered to instance {inst.id}\n\n{instance_summary(inst)}")


@app.command()
def signal(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Signal name, as in the diagram.")],
    data: DataOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Broadcast a signal to every instance waiting on it, and start processes with that signal start."""
    payload = parse_json_object(data)
    with open_engine(ctx, db) as eng:
        sent = eng.signal(name, data=payload)
    reached = ", ".join(map(str, sent.delivered)) or "none"
    started = ", ".join(map(str, sent.started)) or "none"
    emit(ctx, as_json, sent, f"signal {name!r}: caught by instances {reached}; started instances {started}")


@app.command()
def incidents(
    ctx: typer.Context,
    show_all: Annotated[bool, typer.Option("--all", help="Resolved incidents too.")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List incidents: failed steps waiting for a retry or an operator."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        rows = eng.list_incidents(state="all" if show_all else "open")
    emit(ctx, as_json, rows, render.table(rows, INCIDENT_COLUMNS, empty="(no incidents)"))


@app.command()
def retry(
    ctx: typer.Context,
    incident_id: Annotated[int, typer.Argument(help="Incident id.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run a failed step again now."""
    with open_engine(ctx, db) as eng:
        inst = eng.retry_incident(incident_id)
    emit(ctx, as_json, inst, f"retried incident {incident_id}\n\n{instance_summary(inst)}")


@app.command()
def timers(
    ctx: typer.Context,
    due_before: Annotated[str | None, typer.Option("--due-before", help="Only timers due by this ISO time.")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List pending timers, soonest first."""
    before = parse_time(due_before, "--due-before") if due_before else None
    with open_engine(ctx, db, with_handlers=False) as eng:
        rows = eng.list_timers(due_before=before)
        starts = [
            t for t in eng.list_start_timers()
            if before is None or (t["next_due_at"] and datetime.fromisoformat(t["next_due_at"]) <= before)
        ]
    if wants_json(ctx, as_json) and not starts:
        emit(ctx, as_json, rows, "")
        return
    text = render.table(rows, TIMER_COLUMNS, empty="(no pending timers)")
    if starts:
        start_columns: list[render.Column] = [
            ("PROCESS", lambda t: t["process_id"]),
            ("START EVENT", lambda t: t["element_id"]),
            ("KIND", lambda t: t["kind"]),
            ("NEXT", lambda t: t["next_due_at"]),
            ("EXPRESSION", lambda t: t["expression"]),
        ]
        text += "\n\nTimer start events:\n" + render.table(starts, start_columns)
    emit(ctx, as_json, {"timers": rows, "start_timers": starts} if starts else rows, text)


@app.command()
def tick(
    ctx: typer.Context,
    now: Annotated[str | None, typer.Option("--now", help="Pretend it is this ISO time (default: now).")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One scheduler pass: fire due timers and retry due incidents, once."""
    at = parse_time(now, "--now") if now else None
    clock = ManualClock(at) if at else None
    with open_engine(ctx, db, clock=clock) as eng:
        result = eng.tick(at)
    lines = [f"tick at {render.when(result.now)}"]
    lines.append(
        render.section(
            f"timers fired: {len(result.timers_fired)}",
            render.table(
                result.timers_fired,
                [
                    ("INSTANCE", lambda f: f.instance_id),
                    ("ELEMENT", lambda f: f.element_id),
                    ("DUE", lambda f: f.due_at),
                    ("FIRED", lambda f: f.fired_at),
                ],
                empty="",
            ),
        ).rstrip()
    )
    retried = ", ".join(str(i) for i in result.incidents_retried)
    lines.append(f"incidents retried: {len(result.incidents_retried)}" + (f" ({retried})" if retried else ""))
    lines += [f"error: {one_line(e)}" for e in result.errors]
    emit(ctx, as_json, result, "\n".join(lines))


@app.command()
def demo(ctx: typer.Context, db: DbOpt = None) -> None:
    """Tell the lead-to-invoice story step by step (seeds reference data once; each run gets a new key)."""
    from .demo import run

    run(db or _settings(ctx)["db"], echo=typer.echo)


@app.command()
def handlers(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the registered service-task operations and the functions behind them."""
    registry = build_registry()
    rows = [{"operation": name, "function": qualified(registry.get(name))} for name in registry.names()]
    text = render.table(
        rows,
        [("OPERATION", lambda r: r["operation"]), ("FUNCTION", lambda r: r["function"])],
        empty="(no handlers registered)",
    )
    emit(ctx, as_json, rows, text)


def qualified(func: Any) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Bring the database schema to the newest migration (safe to run again)."""
    with open_engine(ctx, db, with_handlers=False, auto_migrate=False) as eng:
        eng.db.upgrade()
        url = safe_url(eng.db.url)
    emit(ctx, as_json, {"db": url, "schema": "current"}, f"database {url} is at the newest schema")


def safe_url(url: str) -> str:
    """The URL without its password, fit to print."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL would have failed earlier; never leak it while reporting
        return url.split("@")[-1]


def _load_command_modules() -> None:
    """Import every module of `crmflow.commands`; each registers its commands on `app`."""
    import importlib
    import pkgutil

    from . import commands

    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        importlib.import_module(f"{commands.__name__}.{module.name}")


_load_command_modules()


def main() -> None:
    """Console-script entry point."""
    app(prog_name="crmflow")
