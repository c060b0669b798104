"""`crmflow report`: the managers' figures as a table, JSON or CSV (`handlers.reports`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer

from crmflow import render
from crmflow.commands.common import CliError, DbOpt, JsonOpt, emit, open_engine, parse_time, wants_json
from handlers import reports

commands = typer.Typer()


def _params(since: str | None, until: str | None, extra: list[str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in extra or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--param {item!r} must look like KEY=VALUE (e.g. quarters=6)")
        params[key.strip()] = value.strip()
    if since:
        params["since"] = parse_time(since, "--since")
    if until:
        params["until"] = parse_time(until, "--until")
    return params


def _listing(ctx: typer.Context, as_json: bool) -> None:
    rows = list(reports.REPORTS.values())
    columns: list[render.Column] = [
        ("NAME", lambda r: r.name),
        ("AREA", lambda r: r.area),
        ("TITLE", lambda r: r.title),
        ("PARAMS", lambda r: ", ".join(r.params) or "(snapshot)"),
    ]
    emit(ctx, as_json, [r.to_dict() for r in rows], render.table(rows, columns))


def text_table(report: reports.Report, rows: list[dict[str, Any]]) -> str:
    columns: list[render.Column] = [(c.title.upper(), lambda r, key=c.key: r.get(key)) for c in report.columns]
    return render.table(rows, columns)


@commands.command()
def report(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Report name; leave out to list the reports.")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Write RFC 4180 CSV to stdout.")] = False,
    since: Annotated[str | None, typer.Option("--since", help="Window start (ISO time, inclusive).")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Window end (ISO time, exclusive).")] = None,
    now: Annotated[str | None, typer.Option("--now", help="Compute as of this time (default: now).")] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Extra report parameter KEY=VALUE (repeatable).")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Sales, marketing, service and process figures; no NAME lists the reports."""
    if name is None:
        _listing(ctx, as_json)
        return
    chosen = reports.get(name)
    params = _params(since, until, param)
    with open_engine(ctx, db, with_handlers=False) as eng:
        at: datetime = parse_time(now, "--now") if now else eng.now()
        with eng.db.read() as session:
            document = reports.run(session, chosen.name, at, params)
    rows = document["rows"]
    if as_csv:
        typer.echo(reports.to_csv(chosen, rows), nl=False)
    elif wants_json(ctx, as_json):
        emit(ctx, True, rows, "")
    else:
        typer.echo(f"{chosen.title} — as of {render.when(at)}\n{text_table(chosen, rows)}")
