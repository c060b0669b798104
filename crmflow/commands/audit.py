"""`crmflow audit`: the audit log — permission changes and refused attempts on admin functions."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from crmflow import render
from crmflow.commands.common import DbOpt, JsonOpt, emit, open_engine, parse_time
from worklists.permissions.audit import AuditLog

commands = typer.Typer()


@commands.command()
def audit(
    ctx: typer.Context,
    actor: Annotated[str | None, typer.Option("--actor", help="Only entries by this user.")] = None,
    action: Annotated[str | None, typer.Option(
        "--action", help="Only this action, e.g. user.groups, user.deactivate, refused, permissions.loaded.")] = None,
    refused: Annotated[bool, typer.Option("--refused", help="Only refused attempts.")] = False,
    since: Annotated[str | None, typer.Option("--since", help="Only entries at or after this ISO time.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000, help="At most this many, newest first.")] = 50,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List audit entries, newest first: who changed which permission, who was refused what."""
    when = parse_time(since, "--since") if since else None
    with open_engine(ctx, db, with_handlers=False) as eng:
        rows = AuditLog(eng).entries(actor=actor, action=action, outcome="refused" if refused else None,
                                     since=when, limit=limit)
    emit(ctx, as_json, rows, render.table(rows, [
        ("TIME", lambda e: e.at), ("ACTOR", lambda e: e.actor), ("ACTION", lambda e: e.action),
        ("TARGET", lambda e: e.target), ("OUTCOME", lambda e: e.outcome),
        ("DETAIL", lambda e: json.dumps(e.detail, sort_keys=True) if e.detail else ""),
    ], empty="(no audit entries)"))
