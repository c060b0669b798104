"""`crmflow test`: run analysts' YAML scenarios against throwaway databases (see crmflow.scenarios)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from crmflow import render
from crmflow.commands.common import JsonOpt, wants_json
from crmflow.scenarios import DEFAULT_DIR, format_text, run_paths

commands = typer.Typer()


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


@commands.command("test")
def test_scenarios(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Scenario files or folders (default: processes/scenarios/).", show_default=False),
    ] = None,
    keyword: Annotated[
        str | None, typer.Option("-k", help="Only scenarios whose name contains this text (any case).")
    ] = None,
    output: Annotated[OutputFormat, typer.Option("--format", help="text or json.", case_sensitive=False)] = (
        OutputFormat.text
    ),
    as_json: JsonOpt = False,
) -> None:
    """Run scenario files: exit 0 when all pass, 1 when one fails, 2 when a file cannot be used."""
    report = run_paths(paths or [DEFAULT_DIR], keyword)
    if output is OutputFormat.json or wants_json(ctx, as_json):
        typer.echo(render.to_json(report.to_dict()))
    else:
        typer.echo(format_text(report))
    if report.exit_code:
        raise typer.Exit(report.exit_code)
