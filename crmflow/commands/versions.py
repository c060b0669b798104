"""`crmflow versions` and `crmflow migrate`: deployed versions and moving instances between them."""

from __future__ import annotations

from typing import Annotated

import typer

from crmflow import render
from crmflow.commands.common import CliError, DbOpt, JsonOpt, UserOpt, change_summary, emit, open_engine

commands = typer.Typer()


@commands.command()
def versions(
    ctx: typer.Context,
    process: Annotated[str, typer.Argument(help="Process id.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every deployed version of a process, with what each changed."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        rows = eng.list_definitions(process)
        if not rows:
            raise CliError(f"process '{process}' is not deployed")
        changes = {1: None}
        for older, newer in zip(rows, rows[1:], strict=False):
            changes[newer.version] = eng.diff_versions(process, older.version, newer.version).to_dict()
        for row in rows:
            row.changes = changes.get(row.version)
    columns: list[render.Column] = [
        ("VERSION", lambda v: v.version),
        ("DEPLOYED", lambda v: v.deployed_at),
        ("FILE", lambda v: v.file),
        ("HASH", lambda v: v.content_hash[:12]),
        ("CHANGES", lambda v: change_summary(v.changes)),
    ]
    emit(ctx, as_json, rows, render.table(rows, columns))


@commands.command()
def migrate(
    ctx: typer.Context,
    instance: Annotated[int | None, typer.Argument(help="Instance id (or use --all PROCESS).")] = None,
    all_of: Annotated[str | None, typer.Option("--all", help="Every running instance of this process.")] = None,
    to: Annotated[int | None, typer.Option("--to", help="Target version (default: the latest).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would happen.")] = False,
    user: UserOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move running instances to another version when their active elements still exist there."""
    if (instance is None) == (all_of is None):
        raise CliError("give an INSTANCE id or --all PROCESS (one of them)")
    with open_engine(ctx, db) as eng:
        if instance is not None:
            plans = [eng.migrate(instance, to, dry_run=dry_run, user=user)]
        else:
            plans = eng.migrate_all(all_of, to, dry_run=dry_run, user=user)
    verb = "would move" if dry_run else "moved"
    lines = [
        f"instance {p.instance_id}: {verb} v{p.from_version} → v{p.to_version}" if p.allowed
        else f"instance {p.instance_id}: refused v{p.from_version} → v{p.to_version}: {'; '.join(p.reasons)}"
        for p in plans
    ]
    emit(ctx, as_json, plans, "\n".join(lines) or "(no running instances)")
    if any(not p.allowed for p in plans):
        raise typer.Exit(1)
