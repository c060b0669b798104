"""`crmflow validate`: every problem in the diagrams, with file, line, element, rule and hint.

The engine's validator knows nothing of CRM; this command gives it what only the composition
root knows: the registered handler operations, the lane → worklist map in `processes/`, and
(when a database is named or the default one exists) what is already deployed, read-only.
"""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from crmflow.commands.common import DbOpt, JsonOpt, one_line, open_engine, wants_json
from crmflow.settings import DB_ENV, build_registry, lanes_file, processes_folder
from engine import validation
from engine.validation import WARNING, Diagnostic, ValidationContext, format_json, format_text, load_lane_map
from engine.validation.deployed import read_deployed

commands = typer.Typer()

DEFAULT_DB_FILE = Path("crmflow.db")
LANES_FILE = "lanes.json"


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


@commands.command()
def validate(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Diagram files or directories (default: the processes folder).")
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="text or json.", case_sensitive=False)] = (
        OutputFormat.text
    ),
    lanes: Annotated[
        Path | None, typer.Option("--lanes", help="Lane → worklist map (default: the processes folder's lanes.json).")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check diagrams before deploying: BPMN lint rules plus what the engine needs. Exit 1 on errors."""
    targets = paths or [processes_folder()]
    context = build_context(ctx, targets, lanes, db)
    report = validation.validate(targets, context)
    if output is OutputFormat.json or wants_json(ctx, as_json):
        typer.echo(format_json(report.diagnostics, report.files))
    else:
        typer.echo(format_text(report.diagnostics, report.files))
    if report.has_errors:
        raise typer.Exit(1)


def build_context(ctx: typer.Context, targets: list[Path], lanes: Path | None, db: str | None,
                  *, with_deployed: bool = True) -> ValidationContext:
    """What only the composition root knows (handlers, lane map) and, for validate, what is deployed.

    `crmflow deploy` passes the same context to `Engine.deploy`, which adds what it has deployed."""
    context = ValidationContext(processes_root=processes_folder())
    try:
        context.operations = frozenset(build_registry().names())
    except Exception as err:  # a broken handler module must not stop validation of diagrams
        context.problems.append(Diagnostic(
            "(handlers)", 0, 0, WARNING, "crmflow/context",
            f"could not load the handler registry ({type(err).__name__}: {err}); the handler check was skipped",
        ))
    lanes_file = lanes or find_lane_map(targets)
    if lanes_file is not None:
        lane_map, problem = load_lane_map(lanes_file)
        context.lanes = lane_map
        if problem is not None:
            context.problems.append(problem)
    db_url = db or (ctx.obj or {}).get("db") or os.environ.get(DB_ENV)
    if with_deployed and (db_url or DEFAULT_DB_FILE.is_file()):
        add_deployed(ctx, context, db_url)
    return context


def find_lane_map(targets: list[Path]) -> Path | None:
    """`lanes.json` in a directory being validated, else the configured one (`crmflow.settings.lanes_file`)."""
    for candidate in [t / LANES_FILE for t in targets if t.is_dir()]:
        if candidate.is_file():
            return candidate
    return lanes_file()


def add_deployed(ctx: typer.Context, context: ValidationContext, db_url: str | None) -> None:
    """Deployed process ids, the messages their latest versions catch and deployed decisions, read-only
    (the reader deploy uses; a fresh database simply has nothing deployed)."""
    try:
        with open_engine(ctx, db_url, with_handlers=False, auto_migrate=False) as eng, eng.db.read() as session:
            deployed = read_deployed(session)
    except Exception as err:
        context.problems.append(Diagnostic(
            "(database)", 0, 0, WARNING, "crmflow/context",
            f"could not read deployed definitions ({type(err).__name__}: {one_line(str(err))[:200]}); "
            "only the given files were considered",
        ))
        return
    context.add_deployed(deployed)
