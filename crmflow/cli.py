"""The `crmflow` command line: every command is a thin call into the engine facade.

Errors a user can act on (`EngineError`, bad `--data`/`--now`) print one `error:` line and exit 1;
usage errors exit 2 (Typer/Click); anything unexpected prints one line and exits 3, with the
traceback only when `CRMFLOW_DEBUG=1`.
"""

import importlib
import os
import pkgutil
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from engine import Engine, EngineError, ManualClock  # noqa: F401 - Engine: tests patch cli.Engine

from . import commands, render
from .commands.common import (
    DEBUG_ENV,
    DONE_TASK_COLUMNS,
    HISTORY_COLUMNS,
    INCIDENT_COLUMNS,
    INSTANCE_COLUMNS,
    SUBSCRIPTION_COLUMNS,
    TASK_COLUMNS,
    TIMER_COLUMNS,
    VERSION_COLUMNS,
    CliError,  # noqa: F401 - re-exported: tests reach it as crmflow.cli.CliError
    DataOpt,
    DbOpt,
    JsonOpt,
    UserOpt,
    _settings,
    change_summary,
    emit,
    emit_instance,
    instance_head,
    one_line,
    open_engine,
    parse_json_object,
    parse_time,
    resolve_task_id,  # noqa: F401 - re-exported: tests reach it as crmflow.cli.resolve_task_id
    section_of,
    variables_text,
    wants_json,
)
from .settings import build_registry


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


# -- commands -------------------------------------------------------------------------------
@app.command()
def deploy(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Diagram files or directories (default: processes/).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Deploy although `crmflow validate` finds errors (they are printed).")
    ] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Deploy diagrams: each changed process becomes a new version.

    Runs the checks of `crmflow validate` first and refuses on errors unless --force; warnings are printed."""
    from engine.errors import DeployRefused

    from .commands.validate import build_context

    targets = paths or [Path("processes")]
    context = build_context(ctx, targets, None, db, with_deployed=False)  # the engine adds what it deployed
    try:
        with open_engine(ctx, db) as eng:
            result = eng.deploy(targets, force=force, context=context)
    except DeployRefused as err:
        errors = [d for d in err.diagnostics if d.is_error]
        for diagnostic in err.diagnostics:
            if not (len(errors) == 1 and diagnostic.is_error):
                typer.echo(diagnostic.text(), err=True)
        if len(errors) == 1:  # one problem, one line (the CLI's usual `error:` form)
            typer.echo(f"error: {errors[0].text()} — deploy refused: fix it, or deploy with --force", err=True)
        else:
            typer.echo(f"error: {str(err).splitlines()[0]}", err=True)
        raise typer.Exit(1) from None
    for diagnostic in result.warnings:
        typer.echo(diagnostic.text(), err=True)
    columns: list[render.Column] = [
        ("PROCESS", lambda v: v.process_id),
        ("VERSION", lambda v: v.version),
        ("CHANGED", lambda v: "new version" if v.changed else "unchanged"),
        ("FILE", lambda v: v.file),
        ("CHANGES", lambda v: change_summary(v.changes)),
    ]
    emit(ctx, as_json, result, render.table(result.versions, columns, empty="(no processes found)"))


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
    emit_instance(ctx, as_json, inst, f"started instance {inst.id}")


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
        instance_head(inst),
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
    emit_instance(ctx, as_json, inst, f"message {name!r} delivered to instance {inst.id}")


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
    emit_instance(ctx, as_json, inst, f"retried incident {incident_id}")


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


def register_commands(target: typer.Typer) -> None:
    """Add the commands of every module in `crmflow.commands` (each exposes a `commands` Typer;
    `common` holds what they share) to `target`, in module-name order."""
    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        found = getattr(importlib.import_module(f"{commands.__name__}.{module.name}"), "commands", None)
        if isinstance(found, typer.Typer):
            target.add_typer(found)


register_commands(app)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="crmflow")
