"""The worklist over HTTP: task views, queue counts, pick/release/route/complete/comment, bulk actions."""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query
from pydantic import BeforeValidator

from crmflow.web.problems import without_server_paths
from engine import InvalidInput, NotFound
from engine.views import (
    HistoryView,
    InstanceView,
)
from worklists.forms import RenderedForm
from worklists.priority import parse_priority
from worklists.service import MAX_LIMIT, Counts, ItemResult, Page, TaskFilter
from worklists.views import TaskView

from .common import (
    TASK_RULE,
    Api,
    BulkRequest,
    BulkResult,
    BulkRouteRequest,
    CommentRequest,
    CompleteRequest,
    RouteRequest,
    TaskDetail,
    TaskIdPath,
    cursor_errors,
    errors,
    iso_time,
)


def add_task_routes(api: Api) -> None:
    router, _engine, worklist, guard = api.router, api.engine, api.worklist, api.guard
    User = api.user
    task_rule = TASK_RULE

    # -- tasks --------------------------------------------------------------------------
    @router.get("/tasks", response_model=Page, tags=["tasks"], responses=errors(403),
                dependencies=[guard.login("views show only tasks of queues the caller may read, or their own")])
    def list_tasks(
        user: User,
        view: Annotated[
            Literal["mine", "available", "queue", "closed"] | None,
            Query(description="mine (default), available, queue (needs `queue`), closed (by me)."),
        ] = None,
        queue: Annotated[str | None, Query(min_length=1, max_length=255, description="For view=queue.")] = None,
        process: Annotated[str | None, Query(min_length=1, max_length=255, description="Process id.")] = None,
        key: Annotated[str | None, Query(min_length=1, max_length=255, description="Business key.")] = None,
        due_before: Annotated[
            datetime | None, BeforeValidator(iso_time), Query(description="Due at or before (ISO 8601).")
        ] = None,
        priority: Annotated[
            str | None,
            Query(min_length=1, max_length=12, description="At least this urgent: high (1), normal (1–2) or a "
                  "number N (priority ≤ N). Priority 1 is the most urgent; sort=priority lists it first."),
        ] = None,
        sla: Annotated[str | None, Query(min_length=1, max_length=32, description="SLA status, e.g. breached.")]
        = None,
        q: Annotated[str | None, Query(max_length=200, description="Text in task name, business key, process.")]
        = None,
        sort: Annotated[Literal["due", "priority", "sla", "age"], Query()] = "due",
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        cursor: Annotated[str | None, Query(min_length=1, max_length=2000, description="`next_cursor` of the "
                                            "previous page.")] = None,
        total: Annotated[bool, Query(description="Also count the matches (capped).")] = False,
    ) -> Page:
        """A worklist view, one page at a time (pass `next_cursor` back as `cursor`)."""
        chosen = view or ("queue" if queue else "mine")
        if chosen == "queue" and not queue:
            raise InvalidInput("queue: view=queue needs a queue name (GET /api/v1/queues lists yours)")
        if queue and chosen != "queue":
            raise InvalidInput(f"queue: only used with view=queue, not view={chosen}")
        try:
            priority_up_to = parse_priority(priority)
        except ValueError as err:
            raise InvalidInput(str(err)) from None
        filters = TaskFilter(process=process, business_key=key, due_before=due_before, priority_up_to=priority_up_to,
                             sla_status=sla, text=q)
        page_args: dict[str, Any] = {"limit": limit, "cursor": cursor, "with_total": total}
        with cursor_errors(cursor):
            if chosen == "mine":
                return worklist.my_work(user.name, filters, sort=sort, **page_args)
            if chosen == "available":
                return worklist.available(user.name, filters, sort=sort, **page_args)
            if chosen == "closed":
                return worklist.closed_by(user.name, filters, **page_args)
            return worklist.queue(queue or "", filters, user=user.name, sort=sort, **page_args)

    @router.get("/queues", response_model=Counts, tags=["tasks"], responses=errors(),
                dependencies=[guard.login("counts of the caller's own queues")])
    def queues(user: User) -> Counts:
        """My open work and, per queue I work or supervise, open/unpicked/available counts."""
        return worklist.counts(user.name)

    def bulk(results: list[ItemResult]) -> BulkResult:
        done = sum(r.ok for r in results)
        return BulkResult(results=results, succeeded=done, failed=len(results) - done)

    @router.post("/tasks/bulk/pick", response_model=BulkResult, tags=["tasks"], responses=errors(),
                 dependencies=[guard.inside("work", "queue:{queue of each task}", "refusals per task in results")])
    def bulk_pick(user: User, body: BulkRequest) -> BulkResult:
        """Pick several tasks; `results` says per task whether it worked and why not."""
        return bulk(worklist.pick_many(body.task_ids, user.name))

    @router.post("/tasks/bulk/release", response_model=BulkResult, tags=["tasks"], responses=errors(),
                 dependencies=[guard.inside("supervise", "queue:{queue of each task}", "or its assignee; per task")])
    def bulk_release(user: User, body: BulkRequest) -> BulkResult:
        return bulk(worklist.release_many(body.task_ids, user.name))

    @router.post("/tasks/bulk/route", response_model=BulkResult, tags=["tasks"], responses=errors(),
                 dependencies=[guard.inside("supervise", "queue:{queue of each task}", "or its assignee; per task")])
    def bulk_route(user: User, body: BulkRouteRequest) -> BulkResult:
        if not body.queue and not body.to:
            raise InvalidInput("queue: routing needs a queue or a person (to)")
        return bulk(worklist.route_many(body.task_ids, user.name, queue=body.queue, to=body.to))

    @router.get("/tasks/{task_id}", response_model=TaskDetail, tags=["tasks"], responses=errors(403, 404),
                dependencies=[guard.inside("read", "queue:{task_id}", task_rule)])
    def get_task(user: User, task_id: TaskIdPath) -> TaskDetail:
        """One task with its SLA, what I may do with it, and its form prefilled from the case's data."""
        item = worklist.get(task_id, user.name)
        permissions = worklist.permissions(task_id, user.name)
        form: RenderedForm | None = None
        form_error = None
        try:
            form = worklist.form(task_id, user.name)
        except (NotFound, InvalidInput) as err:
            form_error = without_server_paths(str(err))
        return TaskDetail(task=item, permissions=permissions, form=form, form_error=form_error)

    @router.post("/tasks/{task_id}/pick", response_model=TaskView, tags=["tasks"],
                 responses=errors(403, 404, 409), dependencies=[guard.inside("work", "queue:{task_id}", task_rule)])
    def pick(user: User, task_id: TaskIdPath) -> TaskView:
        """Claim the task. Two agents at once: one gets it, the other 409 "already picked by X"."""
        return worklist.pick(task_id, user.name)

    @router.post("/tasks/{task_id}/release", response_model=TaskView, tags=["tasks"],
                 responses=errors(403, 404, 409),
                 dependencies=[guard.inside("supervise", "queue:{task_id}", "or its assignee; " + task_rule)])
    def release(user: User, task_id: TaskIdPath) -> TaskView:
        """Put a picked task back in its queue (its assignee or a supervisor)."""
        return worklist.release(task_id, user.name)

    @router.post("/tasks/{task_id}/route", response_model=TaskView, tags=["tasks"],
                 responses=errors(403, 404, 409),
                 dependencies=[guard.inside("supervise", "queue:{task_id}", "or its assignee; " + task_rule)])
    def route(user: User, task_id: TaskIdPath, body: RouteRequest) -> TaskView:
        """Send the task to another queue and/or person."""
        if not body.queue and not body.to:
            raise InvalidInput("queue: routing needs a queue or a person (to)")
        return worklist.route(task_id, user.name, queue=body.queue, to=body.to)

    @router.post("/tasks/{task_id}/complete", response_model=InstanceView, tags=["tasks"],
                 responses=errors(403, 404, 409),
                 dependencies=[guard.inside("work", "queue:{task_id}", "only the task's assignee completes it")])
    def complete(user: User, task_id: TaskIdPath, body: CompleteRequest) -> InstanceView:
        """Complete a task I picked; the data must pass its form (failing fields are named in `errors`)."""
        return worklist.complete(task_id, user.name, body.data)

    @router.post("/tasks/{task_id}/comments", response_model=HistoryView, status_code=201, tags=["tasks"],
                 responses=errors(403, 404), dependencies=[guard.inside("read", "queue:{task_id}", task_rule)])
    def comment(user: User, task_id: TaskIdPath, body: CommentRequest) -> HistoryView:
        """Add a note to the task's history."""
        return worklist.comment(task_id, user.name, body.text)
