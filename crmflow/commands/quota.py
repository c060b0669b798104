"""`crmflow quota set` / `crmflow quota list`: salespeople's revenue targets per period (`handlers.quotas`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from crmflow import render
from crmflow.commands.common import CliError, DbOpt, JsonOpt, emit, open_engine
from handlers import quotas
from handlers.errors import DomainError

commands = typer.Typer()

quota_app = typer.Typer(help="Sales quotas: a revenue target per owner and period.", no_args_is_help=True)
commands.add_typer(quota_app, name="quota")

COLUMNS: list[render.Column] = [
    ("OWNER", lambda q: q["owner"]),
    ("TEAM", lambda q: q["team"]),
    ("PERIOD", lambda q: q["period"]),
    ("FROM", lambda q: q["period_start"]),
    ("TO", lambda q: q["period_end"]),
    ("TARGET", lambda q: q["target"]),
]


def _date(raw: str, option: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise CliError(f"{option} {raw!r} is not a date (YYYY-MM-DD)") from None


def _period(period: str | None, start: str | None, end: str | None) -> tuple[date, date]:
    """--period, or --from and --to (both inclusive days)."""
    if period is not None:
        if start is not None or end is not None:
            raise CliError("give --period or --from/--to, not both")
        try:
            chosen = quotas.parse_period(period)
        except DomainError as err:
            raise CliError(f"--period: {err}") from None
        return chosen.start, chosen.end
    if start is None or end is None:
        raise CliError("give --period (e.g. 2026-Q1, 2026-03, 2026) or both --from and --to (YYYY-MM-DD)")
    return _date(start, "--from"), _date(end, "--to")


@quota_app.command("set")
def set_(
    ctx: typer.Context,
    owner: Annotated[str, typer.Argument(help="The salesperson's user name.")],
    target: Annotated[str, typer.Option("--target", help="Revenue target for the period, e.g. 50000.")],
    period: Annotated[
        str | None, typer.Option("--period", help="2026-Q1 (quarter), 2026-03 (month) or 2026 (year).")
    ] = None,
    start: Annotated[str | None, typer.Option("--from", help="First day of the period (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Last day of the period, inclusive (YYYY-MM-DD).")] = None,
    team: Annotated[str | None, typer.Option("--team", help="The owner's team (team rows sum its members).")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set OWNER's quota for a period; the same owner and first day again changes it."""
    first, last = _period(period, start, end)
    with open_engine(ctx, db, with_handlers=False) as eng:
        try:
            with eng.db.write() as session:
                view = quotas.quota_view(quotas.set_quota(session, owner, first, last, target, eng.now(), team=team))
        except DomainError as err:
            raise CliError(str(err)) from None
    verb = "changed" if view["updated_at"] else "set"
    emit(ctx, as_json, view,
         f"quota {verb}: {view['owner']} {view['period']} ({view['period_start']} to {view['period_end']}) "
         f"target {view['target']}" + (f", team {view['team']}" if view["team"] else ""))


@quota_app.command("list")
def list_(
    ctx: typer.Context,
    owner: Annotated[str | None, typer.Option("--owner", help="Only this owner's quotas.")] = None,
    team: Annotated[str | None, typer.Option("--team", help="Only this team's quotas.")] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every quota, by period, team and owner."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        with eng.db.read() as session:
            rows: list[dict[str, Any]] = [quotas.quota_view(q) for q in quotas.list_quotas(session, owner, team)]
    emit(ctx, as_json, rows, render.table(rows, COLUMNS))
