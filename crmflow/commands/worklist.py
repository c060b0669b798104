"""Worklist commands: views, pick/release/route/comment and checked completion (users: users.py).

Every command is a thin call into `worklists.service.Worklist` (or `Accounts`), the same
API the HTTP API and the web pages use, so the checks and messages are the same everywhere.
"""

from __future__ import annotations

from typing import Annotated

import typer

from crmflow import render
from crmflow.commands.common import (
    DataOpt,
    DbOpt,
    JsonOpt,
    LanesOpt,
    UserOpt,
    emit,
    emit_instance,
    need_user,
    open_worklist,
    parse_json_object,
    parse_time,
    resolve_task_id,
)
from engine import InvalidInput
from worklists.priority import parse_priority, priority_label
from worklists.service import SORTS, ItemResult, Page, TaskFilter

commands = typer.Typer()
work_app = typer.Typer(help="Work on tasks through the worklist checks.", no_args_is_help=True)
commands.add_typer(work_app, name="work")

TasksArg = Annotated[list[str], typer.Argument(help="Task id(s) or unique prefixes; several make a bulk operation.")]
ITEM_COLUMNS: list[render.Column] = [
    ("ID", lambda t: t.id),
    ("KEY", lambda t: t.business_key),
    ("TASK", lambda t: render.element(t.name, t.element_id)),
    ("PROCESS", lambda t: t.process_id),
    ("QUEUE", lambda t: t.queue),
    ("WORKED BY", lambda t: t.assignee),
    ("PRIORITY", lambda t: priority_label(t.priority) if t.priority is not None else None),
    ("DUE", lambda t: t.due_at),
    ("SLA", lambda t: t.sla_status),
    ("CREATED", lambda t: t.created_at),
]
CLOSED_COLUMNS: list[render.Column] = [*ITEM_COLUMNS[:5], ("COMPLETED", lambda t: t.completed_at)]


def page_text(page: Page, columns: list[render.Column]) -> str:
    lines = [render.table(page.items, columns, empty="(no tasks)")]
    if page.total is not None:
        lines.append(f"total: {page.total}{'+' if page.total_is_lower_bound else ''}")
    if page.next_cursor:
        lines.append(f"more: --cursor {page.next_cursor}")
    return "\n".join(lines)


def results_text(results: list[ItemResult], verb: str) -> str:
    rows = render.table(
        results,
        [("TASK", lambda r: r.task_id), ("RESULT", lambda r: verb if r.ok else "refused"),
         ("MESSAGE", lambda r: r.message or (r.task.assignee and f"worked by {r.task.assignee}") or "")],
    )
    done = sum(r.ok for r in results)
    return f"{rows}\n{done} of {len(results)} {verb}"


def finish_bulk(ctx: typer.Context, as_json: bool, results: list[ItemResult], verb: str) -> None:
    emit(ctx, as_json, results, results_text(results, verb))
    if not all(r.ok for r in results):
        raise typer.Exit(1)


# -- views -----------------------------------------------------------------------------------
@commands.command()
def worklist(
    ctx: typer.Context,
    queue: Annotated[str | None, typer.Option("--queue", help="One queue's open tasks.")] = None,
    mine: Annotated[bool, typer.Option("--mine", help="My work: open tasks I picked (the default).")] = False,
    available: Annotated[bool, typer.Option("--available", help="Unpicked tasks I may pick.")] = False,
    closed: Annotated[bool, typer.Option("--closed", help="Tasks I completed, newest first.")] = False,
    user: UserOpt = None,
    process: Annotated[str | None, typer.Option("--process", help="Only this process id.")] = None,
    key: Annotated[str | None, typer.Option("--key", help="Only this business key.")] = None,
    due_before: Annotated[str | None, typer.Option("--due-before", help="Due by this ISO time.")] = None,
    priority: Annotated[
        str | None, typer.Option("--priority", help="At least this urgent: high, normal or N (1 is the most urgent).")
    ] = None,
    sla: Annotated[str | None, typer.Option("--sla", help="Only this SLA status.")] = None,
    text: Annotated[str | None, typer.Option("--text", help="Text in task name, key or process.")] = None,
    sort: Annotated[str, typer.Option("--sort", help=f"One of {', '.join(SORTS)}.")] = "due",
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="Page size.")] = 50,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many (prefer --cursor).")] = 0,
    cursor: Annotated[str | None, typer.Option("--cursor", help="Continue after a previous page.")] = None,
    total: Annotated[bool, typer.Option("--total", help="Also count the matches (capped).")] = False,
    lanes: LanesOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a worklist: my work, available to me, a queue, or closed by me."""
    if sum([mine, available, closed, queue is not None]) > 1:
        raise InvalidInput("choose one of --mine, --available, --closed or --queue")
    filters = TaskFilter(
        process=process, business_key=key, due_before=parse_time(due_before, "--due-before") if due_before else None,
        priority_up_to=parse_priority(priority), sla_status=sla, text=text,
    )
    paging = {"limit": limit, "offset": offset, "cursor": cursor, "with_total": total}
    with open_worklist(ctx, db, lanes) as (_, wl):
        if queue is not None:
            page = wl.queue(queue, filters, user=user, sort=sort, **paging)
        elif available:
            page = wl.available(need_user(user), filters, sort=sort, **paging)
        elif closed:
            page = wl.closed_by(need_user(user), filters, **paging)
        else:
            page = wl.my_work(need_user(user), filters, sort=sort, **paging)
    emit(ctx, as_json, page, page_text(page, CLOSED_COLUMNS if closed else ITEM_COLUMNS))


@commands.command()
def queues(
    ctx: typer.Context, user: UserOpt = None, lanes: LanesOpt = None, db: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """Counts per queue for a user: open, unpicked, and available to them."""
    with open_worklist(ctx, db, lanes) as (_, wl):
        counts = wl.counts(need_user(user))
    table = render.table(
        counts.queues,
        [("QUEUE", lambda q: q.queue), ("OPEN", lambda q: q.open), ("UNPICKED", lambda q: q.unpicked),
         ("AVAILABLE TO ME", lambda q: q.available_to_me), ("GROUPS", lambda q: ", ".join(q.groups))],
    )
    emit(ctx, as_json, counts, f"my work: {counts.mine}\n\n{table}")


# -- operations --------------------------------------------------------------------------------
@commands.command()
def pick(
    ctx: typer.Context, tasks: TasksArg, user: UserOpt = None, lanes: LanesOpt = None, db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Pick (claim) tasks so you can work them; nobody else can complete them meanwhile."""
    with open_worklist(ctx, db, lanes) as (eng, wl):
        ids = [resolve_task_id(eng, t) for t in tasks]
        if len(ids) == 1:
            task = wl.pick(ids[0], need_user(user))
            emit(ctx, as_json, task, f"picked task {task.id} ({render.element(task.name, task.element_id)})")
            return
        results = wl.pick_many(ids, need_user(user))
    finish_bulk(ctx, as_json, results, "picked")


@commands.command()
def release(
    ctx: typer.Context, tasks: TasksArg, user: UserOpt = None, lanes: LanesOpt = None, db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Put picked tasks back in their queue."""
    with open_worklist(ctx, db, lanes) as (eng, wl):
        ids = [resolve_task_id(eng, t) for t in tasks]
        if len(ids) == 1:
            task = wl.release(ids[0], need_user(user))
            emit(ctx, as_json, task, f"released task {task.id} back to queue {task.queue}")
            return
        results = wl.release_many(ids, need_user(user))
    finish_bulk(ctx, as_json, results, "released")


@commands.command()
def route(
    ctx: typer.Context,
    tasks: TasksArg,
    user: UserOpt = None,
    queue: Annotated[str | None, typer.Option("--queue", help="Send to this queue (arrives unpicked).")] = None,
    to: Annotated[str | None, typer.Option("--to", help="Send to this person.")] = None,
    lanes: LanesOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Route tasks to another queue or person."""
    with open_worklist(ctx, db, lanes) as (eng, wl):
        ids = [resolve_task_id(eng, t) for t in tasks]
        if len(ids) == 1:
            task = wl.route(ids[0], need_user(user), queue=queue, to=to)
            emit(ctx, as_json, task, f"routed task {task.id}: queue {task.queue}, worked by {task.assignee or '-'}")
            return
        results = wl.route_many(ids, need_user(user), queue=queue, to=to)
    finish_bulk(ctx, as_json, results, "routed")


@commands.command()
def comment(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Task id or a unique prefix.")],
    text: Annotated[str, typer.Argument(help="The comment.")],
    user: UserOpt = None,
    lanes: LanesOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a comment to a task (kept in the instance's history)."""
    with open_worklist(ctx, db, lanes) as (eng, wl):
        entry = wl.comment(resolve_task_id(eng, task), need_user(user), text)
    emit(ctx, as_json, entry, f"comment added at {render.when(entry.at)}")


@work_app.command("complete")
def complete(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Task id or a unique prefix.")],
    user: UserOpt = None,
    data: DataOpt = None,
    lanes: LanesOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Complete a task you picked (crmflow pick); the data is checked against the task's form first
    and the instance runs on until it waits."""
    payload = parse_json_object(data)
    with open_worklist(ctx, db, lanes) as (eng, wl):
        full_id = resolve_task_id(eng, task)
        inst = wl.complete(full_id, need_user(user), payload)
    emit_instance(ctx, as_json, inst, f"completed task {full_id}")


# `crmflow complete` and `crmflow work complete` are one command: one completion path (Worklist.complete)
commands.command("complete")(complete)


@work_app.command("form")
def work_form(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(help="Task id or a unique prefix.")],
    lanes: LanesOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a task's form: its fields, prefilled values and rendered instructions."""
    with open_worklist(ctx, db, lanes) as (eng, wl):
        form = wl.form(resolve_task_id(eng, task))
    props = (form.schema or {}).get("properties", {})
    rows = [
        {"field": name, "title": p.get("title"), "type": p.get("type"), "value": form.values.get(name)}
        for name, p in props.items()
    ]
    table = render.table(
        rows, [("FIELD", lambda r: r["field"]), ("TITLE", lambda r: r["title"]), ("TYPE", lambda r: r["type"]),
               ("VALUE", lambda r: r["value"])], empty="(no form)",
    )
    head = render.fields([("form", form.form), ("title", form.title), ("instructions", form.instructions)])
    emit(ctx, as_json, form, f"{head}\n\n{table}")
