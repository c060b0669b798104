"""`crmflow records list ENTITY [--search TEXT]` / `crmflow records show ENTITY ID`: the CRM workspace's
records from a terminal, by the same records service the pages and API use (`handlers.records_service`).

ENTITY is a record type as in the workspace's addresses (accounts, price-lists …) or its permission
name (account, price_list). Searching accounts, contacts, leads, opportunities and cases uses the
global full-text index, best match first; other types match their text columns, newest first.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import inspect

from crmflow import render
from crmflow.commands.common import CliError, DbOpt, JsonOpt, emit, open_engine
from engine import Engine
from handlers import records_service as rs
from handlers.errors import DomainError

commands = typer.Typer()

records_app = typer.Typer(help="CRM records: list, search and show (the workspace's records).", no_args_is_help=True)
commands.add_typer(records_app, name="records")

EntityArg = Annotated[str, typer.Argument(help="Record type, e.g. accounts, contacts, cases, price-lists.")]


def _entity(name: str) -> rs.Entity:
    try:
        return rs.entity(name.strip().lower())
    except DomainError as err:
        raise CliError(str(err)) from None


def _records_here(eng: Engine) -> None:
    if not inspect(eng.db.read_engine).has_table("crm_activity"):
        raise CliError("the CRM records are not in this database: run crmflow db upgrade with the CRM handlers")


@records_app.command("list")
def list_(
    ctx: typer.Context,
    entity: EntityArg,
    search: Annotated[str | None, typer.Option("--search", "-s", help="Words to look for.")] = None,
    state: Annotated[str | None, typer.Option("--state", help="Only records in this state.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=rs.MAX_PAGE, help="At most this many.")] = 50,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Records of ENTITY, newest first, or the best matches of --search."""
    ent = _entity(entity)
    with open_engine(ctx, db, with_handlers=False) as eng:
        _records_here(eng)
        with eng.db.read() as session:
            if search and search.strip() and ent.name in rs.SEARCH_CODES and not state:
                records = [r for _, r in rs.search_records(session, [ent.name], search, limit)]
            else:
                records, _total = rs.list_records(session, ent, q=search or "", state=state or "", limit=limit)
            rows: list[dict[str, Any]] = [rs.as_dict(ent, r) for r in records]
    columns: list[render.Column] = [("ID", lambda r: r["id"]), (ent.singular.upper(), lambda r: r["label"])]
    columns += [(c.upper(), lambda r, c=c: r.get(c)) for c in ent.columns]
    emit(ctx, as_json, rows, render.table(rows, columns, empty=f"(no {ent.title.lower()})"))


@records_app.command("show")
def show(
    ctx: typer.Context,
    entity: EntityArg,
    record_id: Annotated[int, typer.Argument(help="The record's id.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One record of ENTITY: every field."""
    ent = _entity(entity)
    with open_engine(ctx, db, with_handlers=False) as eng:
        _records_here(eng)
        try:
            with eng.db.read() as session:
                value = rs.as_dict(ent, rs.get_record(session, ent, record_id))
        except DomainError as err:
            raise CliError(str(err)) from None
    emit(ctx, as_json, value, f"{ent.singular} {value['label']}\n" + render.fields(list(value.items())))
