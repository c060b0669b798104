"""The operator console on the command line (issue 16): `crmflow instance search`, `crmflow
instance cancel|suspend|resume|vars|modify ID`, `crmflow timer fire ID`, `crmflow incidents --grouped`,
`crmflow retry-group PROCESS ELEMENT` and `crmflow history cleanup [--dry-run]`.

Instance actions act as `--user` (or CRMFLOW_USER) and ask the permission layer for `operate` on
`instances:PROCESS`, like the API and the pages; the user and the reason go to the history.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from crmflow import render
from crmflow.commands.common import (
    INSTANCE_COLUMNS,
    DbOpt,
    JsonOpt,
    UserOpt,
    emit,
    emit_instance,
    need_user,
    open_worklist,
    parse_json_object,
    parse_time,
)
from engine import Retention
from worklists.incident_groups import incident_groups, retry_group
from worklists.instance_search import SORTS, STATUSES, InstanceQuery, search
from worklists.permissions import OPERATE

commands = typer.Typer()

instance_app = typer.Typer(help="Repair one instance: cancel, suspend, resume, edit variables, move a token.",
                           no_args_is_help=True)
commands.add_typer(instance_app, name="instance")
timer_app = typer.Typer(help="Timers: fire one now.", no_args_is_help=True)
commands.add_typer(timer_app, name="timer")
history_app = typer.Typer(help="Instance history: remove finished instances past their retention.",
                          no_args_is_help=True)
commands.add_typer(history_app, name="history")

IdArg = Annotated[int, typer.Argument(help="Instance id.")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (kept in the instance's history).")]


def _operate(wl: Any, user: str | None, instance_id: int, doing: str) -> str:
    name = need_user(user)
    wl.instances.require(name, OPERATE, instance_id, doing=f"{doing} instance {instance_id}")
    return name


@instance_app.command("search")
def search_instances(
    ctx: typer.Context,
    process: Annotated[str | None, typer.Option("--process", help="Process id.")] = None,
    version: Annotated[str | None, typer.Option("--version", help="Process version number.")] = None,
    status: Annotated[str | None, typer.Option("--status", help=", ".join(STATUSES) + ".")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Business key.")] = None,
    variable: Annotated[str | None, typer.Option("--var", help="NAME=VALUE, e.g. customer=Northwind.")] = None,
    started_from: Annotated[str | None, typer.Option("--started-from", help="ISO date/time (UTC).")] = None,
    started_to: Annotated[str | None, typer.Option("--started-to", help="ISO date/time (UTC).")] = None,
    ended_from: Annotated[str | None, typer.Option("--ended-from", help="ISO date/time (UTC).")] = None,
    ended_to: Annotated[str | None, typer.Option("--ended-to", help="ISO date/time (UTC).")] = None,
    element: Annotated[str | None, typer.Option("--element", help="Waiting at this element id.")] = None,
    sort: Annotated[str, typer.Option("--sort", help=", ".join(SORTS) + ".")] = "newest",
    page: Annotated[str | None, typer.Option("--page", help="Page number (25 a page).")] = None,
    user: UserOpt = None, db: DbOpt = None, as_json: JsonOpt = False,
) -> None:
    """Find instances you may read (the console's search page, same query): counts per status, then a page."""
    given = {"process": process, "version": version, "status": status, "key": key, "variable": variable,
             "started_from": started_from, "started_to": started_to, "ended_from": ended_from,
             "ended_to": ended_to, "element": element, "sort": sort, "page": page}
    query = InstanceQuery.from_params({k: v for k, v in given.items() if v is not None})
    with open_worklist(ctx, db) as (eng, wl):
        result = search(eng, wl, need_user(user), query)
    counts = ", ".join(f"{s}: {result.counts[s]}" for s in STATUSES if result.counts.get(s))
    more = f", more: --page {query.page + 1}" if result.more else ""
    text = [render.table(result.items, INSTANCE_COLUMNS, empty="(no instances)"),
            f"total: {result.total} ({counts or 'none'}); page {query.page}{more}"]
    emit(ctx, as_json, {"items": result.items, "counts": result.counts, "total": result.total, "page": query.page,
                        "more": result.more}, "\n".join(text))


@instance_app.command("cancel")
def cancel(ctx: typer.Context, instance_id: IdArg, reason: ReasonOpt = None, user: UserOpt = None,
           db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """End an instance for good: its tasks leave every worklist; timers, subscriptions and jobs go."""
    with open_worklist(ctx, db) as (eng, wl):
        inst = eng.cancel_instance(instance_id, user=_operate(wl, user, instance_id, "cancel"), reason=reason)
    emit_instance(ctx, as_json, inst, f"cancelled instance {instance_id}")


@instance_app.command("suspend")
def suspend(ctx: typer.Context, instance_id: IdArg, reason: ReasonOpt = None, user: UserOpt = None,
            db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Hold an instance: no timers fire, no jobs run, completions and messages are refused
    (messages thrown by other instances wait for the resume)."""
    with open_worklist(ctx, db) as (eng, wl):
        inst = eng.suspend_instance(instance_id, user=_operate(wl, user, instance_id, "suspend"), reason=reason)
    emit_instance(ctx, as_json, inst, f"suspended instance {instance_id}")


@instance_app.command("resume")
def resume(ctx: typer.Context, instance_id: IdArg, reason: ReasonOpt = None, user: UserOpt = None,
           db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Let a suspended instance go on: held messages arrive now, timers that fell due at the next pass."""
    with open_worklist(ctx, db) as (eng, wl):
        inst = eng.resume_instance(instance_id, user=_operate(wl, user, instance_id, "resume"), reason=reason)
    emit_instance(ctx, as_json, inst, f"resumed instance {instance_id}")


@instance_app.command("vars")
def edit_vars(
    ctx: typer.Context, instance_id: IdArg,
    set_: Annotated[str | None, typer.Option("--set", help="JSON object of variables to set.")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="A variable to remove (repeatable).")] = None,
    reason: ReasonOpt = None, user: UserOpt = None, db: DbOpt = None, as_json: JsonOpt = False,
) -> None:
    """Set and/or remove process variables (old and new values go to the history); then retry."""
    values = parse_json_object(set_, "--set")
    with open_worklist(ctx, db) as (eng, wl):
        who = _operate(wl, user, instance_id, "edit the variables of")
        inst = eng.edit_variables(instance_id, values, remove or [], user=who, reason=reason)
    emit_instance(ctx, as_json, inst, f"edited the variables of instance {instance_id}")


@instance_app.command("modify")
def modify(
    ctx: typer.Context, instance_id: IdArg,
    cancel_at: Annotated[str | None, typer.Option("--cancel-at", help="Element whose token goes.")] = None,
    start_at: Annotated[str | None, typer.Option("--start-at", help="Element that becomes active.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would happen.")] = False,
    reason: ReasonOpt = None, user: UserOpt = None, db: DbOpt = None, as_json: JsonOpt = False,
) -> None:
    """Move a token: back to a step that ran (it runs again) or forward. Exit 1 when refused."""
    with open_worklist(ctx, db) as (eng, wl):
        who = _operate(wl, user, instance_id, "modify")
        plan = eng.modify_instance(instance_id, cancel_at, start_at, dry_run=dry_run, user=who, reason=reason)
    lines = [("would " if plan.dry_run else "") + ("move" if plan.allowed else "not move") + f" instance {instance_id}",
             f"active now:   {', '.join(plan.active_before) or '-'}",
             f"active after: {', '.join(plan.active_after) or '-'}"]
    lines += [f"refused: {r}" for r in plan.reasons]
    emit(ctx, as_json, plan, "\n".join(lines))
    if not plan.allowed:
        raise typer.Exit(1)


@timer_app.command("fire")
def fire(ctx: typer.Context, timer_id: Annotated[int, typer.Argument(help="Timer id (crmflow timers).")],
         user: UserOpt = None, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Fire a pending timer now, whatever its due time."""
    with open_worklist(ctx, db) as (eng, wl):
        timer = next((t for t in eng.list_timers() if t.id == timer_id), None)
        if timer is not None:
            _operate(wl, user, timer.instance_id, f"fire timer {timer_id} of")
        inst = eng.fire_timer_now(timer_id, user=user)
    emit_instance(ctx, as_json, inst, f"fired timer {timer_id}")


@commands.command("incident-groups")
def groups(ctx: typer.Context, user: UserOpt = None, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Open incidents grouped by process and element, with counts and the latest error."""
    with open_worklist(ctx, db) as (eng, wl):
        rows = incident_groups(eng, wl, need_user(user))
    columns: list[render.Column] = [("PROCESS", lambda g: g.process_id),
                                    ("ELEMENT", lambda g: render.element(g.element_name, g.element_id)),
                                    ("COUNT", lambda g: g.count), ("ERROR", lambda g: g.message)]
    emit(ctx, as_json, [g.model_dump(mode="json") for g in rows],
         render.table(rows, columns, empty="(no incidents)"))


@commands.command("retry-group")
def retry_all(ctx: typer.Context, process_id: Annotated[str, typer.Argument(help="Process id.")],
              element_id: Annotated[str, typer.Argument(help="Element id of the failed step.")],
              user: UserOpt = None, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Retry every open incident of a process at one element."""
    with open_worklist(ctx, db) as (eng, wl):
        wl.authz.require(need_user(user), OPERATE, f"instances:{process_id}",
                         doing=f"retry the incidents of {process_id} at {element_id}")
        retried, failing, errors = retry_group(eng, process_id, element_id)
    result = {"retried": retried, "still_failing": failing, "errors": errors}
    emit(ctx, as_json, result, f"{len(retried)} went on, {len(failing)} still failing, {len(errors)} refused")


@history_app.command("cleanup")
def cleanup(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be removed.")] = False,
    days: Annotated[int | None, typer.Option("--days", help="Default retention in days "
                                             "(else CRMFLOW_RETENTION_DAYS, else 180).")] = None,
    per_process: Annotated[str | None, typer.Option("--retention", help="PROCESS=DAYS,... "
                                                    "(else CRMFLOW_RETENTION).")] = None,
    now: Annotated[str | None, typer.Option("--now", help="Count ages from this ISO time (default: now).")] = None,
    db: DbOpt = None, as_json: JsonOpt = False,
) -> None:
    """Remove completed, terminated and cancelled instances older than their retention (in small batches)."""
    env = Retention.from_env()
    retention = Retention.parse(days if days is not None else env.default_days,
                                per_process) if (days is not None or per_process) else env
    if per_process is None and days is not None:
        retention = Retention(retention.default_days, env.per_process)
    with open_worklist(ctx, db) as (eng, _):
        result = eng.cleanup_history(retention, now=parse_time(now, "--now") if now else None, dry_run=dry_run)
    verb = "would remove" if dry_run else "removed"
    detail = ", ".join(f"{p}: {n}" for p, n in sorted(result.by_process.items()))
    emit(ctx, as_json, result.to_dict(), f"{verb} {len(result.instances)} finished instance(s)"
         + (f" ({detail})" if detail else ""))
