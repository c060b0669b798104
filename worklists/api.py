"""The HTTP API under `/api/v1`: worklists, process definitions, instances, messages, incidents.

Every route is a thin call into `worklists.service.Worklist` (tasks) or the engine facade
(the rest), so the checks and messages are the same as in the CLI and the pages. Callers
authenticate with an API token (`Authorization: Bearer cft_...`, see `crmflow users token`);
refusals are RFC 7807 problem documents (see `worklists.problems`).

Who may do what is declared per route with `worklists.permissions.routes.Guard` (one of
`guard.need(...)`, `guard.need_instance(...)`, `guard.login(...)`, `guard.inside(...)`,
`public()` in its `dependencies`) and decided by the permission model (docs/permissions.md);
lists are filtered to what the caller may read. A refusal is a 403 problem naming the missing
permission. Routes are plain `def`s: FastAPI runs them in its thread pool, as the engine is synchronous.
"""

import math
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints
from sqlalchemy.exc import StatementError

from engine import Engine, EngineError, InvalidInput, NotFound
from engine.drawing import instance_marks, render_svg
from engine.views import (
    HistoryView,
    HumanTaskView,
    IncidentView,
    InstanceDetail,
    InstanceView,
    ProcessVersionView,
    SignalView,
)

from .auth import UserView
from .console_api import add_console_routes, add_search_route
from .forms import RenderedForm
from .permissions import OPERATE, READ, SEND, START
from .permissions.routes import Guard, public
from .priority import parse_priority
from .problems import Problem, ProblemError, explain, openapi_problem_responses, without_server_paths
from .service import MAX_LIMIT, Counts, ItemResult, Page, Permissions, TaskFilter, WorkItem, Worklist

PREFIX = "/api/v1"
MAX_ID = 2**31 - 1  # ids are INTEGER columns (int4 on PostgreSQL)
SVG_MEDIA_TYPE = "image/svg+xml"
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


# -- request values ------------------------------------------------------------------------

def _no_nul(value: str | None) -> str | None:
    """NUL cannot be stored in PostgreSQL text; refuse it here rather than fail there."""
    if value is not None and "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _finite(value: Any, path: str = "") -> Any:
    """JSON data must stay JSON: NaN and infinities (which Python's parser accepts) are refused."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path or 'value'} must be a finite number")
    if isinstance(value, dict):
        for k, v in value.items():
            _finite(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _finite(v, f"{path}.{i}" if path else str(i))
    return value


def _iso_time(value: Any) -> Any:
    """Times are ISO 8601 text; pydantic would also take a bare number as a Unix time."""
    if isinstance(value, str) and not _ISO_DATE.match(value.strip()):
        raise ValueError("must be an ISO 8601 time, e.g. 2026-01-05T09:00:00Z")
    return value


Name = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_no_nul)]
TaskId = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_no_nul)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_finite)]
TaskIdPath = Annotated[str, Path(min_length=1, max_length=64, description="A task id (a UUID).")]
IntId = Annotated[int, Path(ge=1, le=MAX_ID)]
ProcessIdPath = Annotated[str, Path(min_length=1, max_length=255, description="A process id, e.g. lead_to_invoice.")]
OptName = Annotated[str | None, Query(min_length=1, max_length=255)]


class RouteRequest(BaseModel):
    """Where a task goes: another queue (it arrives unpicked) and/or a person."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"queue": "sales-managers"}, {"to": "bob"}]})

    queue: Name | None = Field(default=None, description="Destination queue.")
    to: Name | None = Field(default=None, description="User who gets the task.")


class CompleteRequest(BaseModel):
    """Form data for the task; validated against its form (JSON Schema) before completing."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"data": {"decision": "qualify", "price_list_id": 1}}]}
    )

    data: JsonObject = Field(default_factory=dict)


class CommentRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"text": "Called the customer, waiting for a PO."}]})

    text: Annotated[str, StringConstraints(min_length=1, max_length=4000), AfterValidator(_no_nul)]


class BulkRequest(BaseModel):
    """Several tasks at once; each succeeds or fails on its own."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"task_ids": ["0b6e…", "4f1d…"]}]})

    task_ids: list[TaskId] = Field(min_length=1, max_length=MAX_LIMIT)


class BulkRouteRequest(BulkRequest, RouteRequest):
    model_config = ConfigDict(json_schema_extra={"examples": [{"task_ids": ["0b6e…"], "queue": "sales"}]})


class StartRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"process_id": "lead_to_invoice", "business_key": "LEAD-0042",
                 "data": {"inquiry": {"email": "ana@example.com", "company_name": "Acme", "budget": 20000}}}
            ]
        }
    )

    process_id: Name
    data: JsonObject = Field(default_factory=dict, description="Process variables to start with.")
    business_key: Name | None = Field(default=None, description="The CRM record this instance is about.")


class SignalRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "price_list_changed", "data": {"list_name": "2027"}}]}
    )

    name: Name = Field(description="The BPMN signal name.")
    data: JsonObject = Field(default_factory=dict, description="Fields given to every catching event.")


class MessageRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"name": "quote_accepted", "key": "LEAD-0042", "data": {"accepted_by": "Ana Ruiz"}}]
        }
    )

    name: Name = Field(description="The BPMN message name.")
    key: Name | None = Field(default=None, description="Business or correlation key choosing the instance.")
    data: JsonObject = Field(default_factory=dict, description="The message payload.")


# -- responses -----------------------------------------------------------------------------

class TaskDetail(BaseModel):
    """A task with what the caller may do and its form, ready to show."""

    task: WorkItem
    permissions: Permissions
    form: RenderedForm | None = None
    form_error: str | None = Field(default=None, description="Why the form could not be shown, if it could not.")


class BulkResult(BaseModel):
    results: list[ItemResult]
    succeeded: int
    failed: int


class ProcessSummary(BaseModel):
    process_id: str
    name: str | None
    latest_version: int
    versions: int
    deployed_at: datetime
    file: str


class Health(BaseModel):
    status: Literal["ok"]
    database: str


class ProblemType(BaseModel):
    type: str
    title: str
    status: int
    description: str


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Problem responses of an authenticated route (401 and 422 always apply)."""
    return openapi_problem_responses(*sorted({401, 422, *statuses}))


SVG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {SVG_MEDIA_TYPE: {"schema": {"type": "string"}}}, "description": "An SVG picture."}
}


class SvgResponse(Response):
    media_type = SVG_MEDIA_TYPE


# -- the router ----------------------------------------------------------------------------

def plain_query(request: Request) -> None:
    """Every query parameter of this API is a single, known value: an unknown one is most likely
    a typo that would silently widen a view, a repeated one is ambiguous and NUL cannot be
    stored, so all three are refused with the parameter named."""
    known = _query_names(request.scope.get("route"))
    seen: set[str] = set()
    for name, value in request.query_params.multi_items():
        if known is not None and name not in known:
            listed = ", ".join(sorted(known)) or "none"
            raise InvalidInput(f"{name[:60]}: unknown query parameter here (known: {listed})")
        if name in seen:
            raise InvalidInput(f"{name}: given more than once; give it once")
        seen.add(name)
        if "\x00" in value or "\x00" in name:
            raise InvalidInput(f"{name}: must not contain NUL characters")


def _query_names(route: Any) -> frozenset[str] | None:
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return None
    names: set[str] = set()
    stack = [dependant]
    while stack:  # the route's own parameters and its dependencies'
        current = stack.pop()
        names.update(p.alias for p in current.query_params)
        stack.extend(current.dependencies)
    return frozenset(names)


def build_router(engine: Engine, worklist: Worklist) -> APIRouter:
    """All `/api/v1` routes, bound to one engine and worklist."""
    router = APIRouter(prefix=PREFIX, dependencies=[Depends(plain_query)])
    bearer = HTTPBearer(auto_error=False, description="An API token: `Authorization: Bearer cft_...`.")

    def current_user(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> UserView:
        challenge = 'Bearer realm="crmflow"'
        if credentials is None:
            raise ProblemError(
                "unauthorized", "this needs an API token: send 'Authorization: Bearer cft_...' "
                "(crmflow users token NAME issues one)", headers={"WWW-Authenticate": challenge},
            )
        user = worklist.accounts.authenticate_token(credentials.credentials)
        if user is None:
            raise ProblemError(
                "unauthorized", "the API token is not valid (unknown, revoked, or its user is deactivated)",
                headers={"WWW-Authenticate": f'{challenge}, error="invalid_token"'},
            )
        return user

    User = Annotated[UserView, Depends(current_user)]
    guard = Guard(worklist.authz, current_user, instances=worklist.instances,
                  resolvers={"incident_id": _incident_process(worklist)})
    task_rule = "the worklist service checks the task: its queue's work/supervise, candidates, assignee"

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
            datetime | None, BeforeValidator(_iso_time), Query(description="Due at or before (ISO 8601).")
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
        with _cursor_errors(cursor):
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

    @router.post("/tasks/{task_id}/pick", response_model=HumanTaskView, tags=["tasks"],
                 responses=errors(403, 404, 409), dependencies=[guard.inside("work", "queue:{task_id}", task_rule)])
    def pick(user: User, task_id: TaskIdPath) -> HumanTaskView:
        """Claim the task. Two agents at once: one gets it, the other 409 "already picked by X"."""
        return worklist.pick(task_id, user.name)

    @router.post("/tasks/{task_id}/release", response_model=HumanTaskView, tags=["tasks"],
                 responses=errors(403, 404, 409),
                 dependencies=[guard.inside("supervise", "queue:{task_id}", "or its assignee; " + task_rule)])
    def release(user: User, task_id: TaskIdPath) -> HumanTaskView:
        """Put a picked task back in its queue (its assignee or a supervisor)."""
        return worklist.release(task_id, user.name)

    @router.post("/tasks/{task_id}/route", response_model=HumanTaskView, tags=["tasks"],
                 responses=errors(403, 404, 409),
                 dependencies=[guard.inside("supervise", "queue:{task_id}", "or its assignee; " + task_rule)])
    def route(user: User, task_id: TaskIdPath, body: RouteRequest) -> HumanTaskView:
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

    # -- process definitions -----------------------------------------------------------
    @router.get("/processes", response_model=list[ProcessSummary], tags=["processes"], responses=errors(),
                dependencies=[guard.login("only processes the caller may read (process:ID)")])
    def processes(user: User) -> list[ProcessSummary]:
        """Deployed processes the caller may read, each with its latest version."""
        latest: dict[str, tuple[ProcessVersionView, int]] = {}
        definitions = engine.list_definitions()
        readable = set(worklist.authz.filter_names(user, READ, "process", {v.process_id for v in definitions}))
        for v in (d for d in definitions if d.process_id in readable):
            prev = latest.get(v.process_id)
            count = (prev[1] if prev else 0) + 1
            latest[v.process_id] = (v if prev is None or v.version > prev[0].version else prev[0], count)
        return [
            ProcessSummary(process_id=pid, name=v.name, latest_version=v.version, versions=n,
                           deployed_at=v.deployed_at, file=v.file)
            for pid, (v, n) in sorted(latest.items())
        ]

    @router.get("/processes/{process_id}/versions", response_model=list[ProcessVersionView], tags=["processes"],
                responses=errors(403, 404), dependencies=[guard.need("read", "process:{process_id}")])
    def versions(user: User, process_id: ProcessIdPath) -> list[ProcessVersionView]:
        found = engine.list_definitions(process_id)
        if not found:
            raise NotFound(f"process '{process_id}' is not deployed (GET /api/v1/processes lists them)")
        return found

    @router.get("/processes/{process_id}/diagram.svg", response_class=SvgResponse, tags=["processes"],
                responses={**SVG_RESPONSE, **errors(403, 404)},
                dependencies=[guard.need("read", "process:{process_id}")])
    def process_diagram(
        user: User, process_id: ProcessIdPath,
        version: Annotated[int | None, Query(ge=1, le=MAX_ID, description="Default: the latest.")] = None,
    ) -> SvgResponse:
        """The diagram of a deployed version, drawn from its BPMNDI."""
        xml = engine.diagram_source(process_id, version)
        label = f"{process_id} v{version}" if version else f"{process_id} (latest)"
        return SvgResponse(render_svg(xml, process_id=process_id, filename=label))

    # -- instances ----------------------------------------------------------------------
    @router.post("/instances", response_model=InstanceView, status_code=201, tags=["instances"],
                 responses=errors(403, 404, 409),
                 dependencies=[guard.inside("start", "process:{process_id}", "the body names the process")])
    def start(user: User, body: StartRequest, response: Response) -> InstanceView:
        """Start the latest version of a process; it runs until it waits."""
        worklist.authz.require(user, START, f"process:{body.process_id}", doing=f"start process {body.process_id}")
        inst = engine.start(body.process_id, body.data, business_key=body.business_key, user=user.name)
        response.headers["Location"] = f"{PREFIX}/instances/{inst.id}"
        return inst

    @router.get("/instances", response_model=list[InstanceView], tags=["instances"], responses=errors(),
                dependencies=[guard.login("only instances of processes the caller may read, or that they are in")])
    def list_instances(
        user: User,
        process: OptName = None,
        status: Annotated[Literal["waiting", "running", "completed", "terminated", "incident", "suspended",
                                  "cancelled"] | None, Query()]
        = None,
        key: OptName = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
        offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
    ) -> list[InstanceView]:
        """Instances the caller may read, newest first."""
        return worklist.instances.list(user, process, status, key, limit=limit, offset=offset)

    add_search_route(router, engine, worklist, guard, current_user, errors)

    @router.get("/instances/{instance_id}", response_model=InstanceDetail, tags=["instances"],
                responses=errors(403, 404), dependencies=[guard.need_instance("read")])
    def get_instance(user: User, instance_id: IntId) -> InstanceDetail:
        """An instance with its variables and what it waits for (history: /history); `data` is
        empty for a caller without read-data on the process's instances."""
        return worklist.instances.shown(user, engine.get_instance(instance_id, with_history=False))

    @router.get("/instances/{instance_id}/history", response_model=list[HistoryView], tags=["instances"],
                responses=errors(403, 404), dependencies=[guard.need_instance("read")])
    def instance_history(user: User, instance_id: IntId) -> list[HistoryView]:
        """What happened, oldest first; `data_delta` is null for a caller without read-data."""
        return worklist.instances.history(user, instance_id, engine.history(instance_id))

    @router.get("/instances/{instance_id}/diagram.svg", response_class=SvgResponse, tags=["instances"],
                responses={**SVG_RESPONSE, **errors(403, 404)}, dependencies=[guard.need_instance("read")])
    def instance_diagram(user: User, instance_id: IntId) -> SvgResponse:
        """The instance on its version's diagram: done, active, waiting and failed elements marked."""
        inst = engine.get_instance(instance_id, with_history=True)
        xml = engine.diagram_source(inst.process_id, inst.version)
        title = f"{inst.process_id} v{inst.version}, instance {inst.id} ({inst.status})"
        svg = render_svg(xml, instance_marks(inst), process_id=inst.process_id, title=title,
                         filename=f"{inst.process_id} v{inst.version}")
        return SvgResponse(svg)

    # -- messages -----------------------------------------------------------------------
    @router.post("/messages", response_model=InstanceView, tags=["messages"], responses=errors(403, 404, 409),
                 dependencies=[guard.inside("send", "message:{name}", "the body names the message")])
    def send_message(user: User, body: MessageRequest) -> InstanceView:
        """Deliver a message to the instance waiting for it, or start the process it starts.
        Nobody waiting: 404 (type no-subscriber); several waiting: 409 (give a key)."""
        worklist.authz.require(user, SEND, f"message:{body.name}", doing=f"send message {body.name}")
        return engine.correlate(body.name, key=body.key, data=body.data)

    @router.post("/signals", response_model=SignalView, tags=["messages"], responses=errors(403),
                 dependencies=[guard.inside("send", "message:{name}", "the body names the signal")])
    def send_signal(user: User, body: SignalRequest) -> SignalView:
        """Broadcast a signal to every instance waiting on it and start the processes it starts.
        Sending a signal needs the same permission as sending a message of that name."""
        worklist.authz.require(user, SEND, f"message:{body.name}", doing=f"send signal {body.name}")
        return engine.signal(body.name, data=body.data)

    # -- incidents ----------------------------------------------------------------------
    @router.get("/incidents", response_model=list[IncidentView], tags=["incidents"], responses=errors(),
                dependencies=[guard.login("only incidents of instances the caller may read")])
    def incidents(
        user: User,
        state: Annotated[Literal["open", "resolved", "all"], Query()] = "open",
        instance: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    ) -> list[IncidentView]:
        return worklist.instances.incidents(user, engine.list_incidents(state, instance))

    @router.post("/incidents/{incident_id}/retry", response_model=InstanceView, tags=["incidents"],
                 responses=errors(403, 404, 409),
                 dependencies=[guard.need(OPERATE, "instances:{incident_id}", doing="retry incident {incident_id}")])
    def retry(user: User, incident_id: IntId) -> InstanceView:
        """Run the failed step again now (operate on the process's instances)."""
        return engine.retry_incident(incident_id)

    add_console_routes(router, engine, worklist, guard, current_user, errors)

    # -- documentation of problems ------------------------------------------------------
    @router.get("/problems/{kind}", response_model=ProblemType, tags=["meta"],
                responses=openapi_problem_responses(404, 422), dependencies=[public("problem type documentation")])
    def problem_type(kind: Annotated[str, Path(max_length=64)]) -> dict[str, Any]:
        """What a problem `type` means."""
        return explain(kind)

    return router


def build_ops_router(engine: Engine, metrics_token: str | None = None) -> APIRouter:
    """`/healthz` (no authentication, for probes) and `/metrics` (for Prometheus: open, or with
    `metrics_token` only for `Authorization: Bearer TOKEN`)."""
    router = APIRouter(tags=["operations"], dependencies=[Depends(plain_query)])

    def metrics_caller(request: Request) -> None:
        """Read from the request, not declared as a parameter: the header is needed only when a
        token is configured, which the OpenAPI document (401) cannot say per deployment."""
        if metrics_token is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), metrics_token.encode()):
            raise ProblemError("unauthorized", "/metrics needs the metrics token: send 'Authorization: Bearer "
                               "TOKEN' ($CRMFLOW_METRICS_TOKEN on the server)",
                               headers={"WWW-Authenticate": 'Bearer realm="crmflow-metrics"'})

    @router.get("/healthz", response_model=Health, responses={503: {"model": Problem}},
                dependencies=[public("probes")])
    def healthz() -> Health | Response:
        """The service is up and its database answers."""
        try:
            engine.next_due_at()
        except Exception as err:  # noqa: BLE001 - health is reported, never raised
            raise ProblemError("unavailable", f"database unreachable: {type(err).__name__}") from err
        return Health(status="ok", database=engine.db.url.split("@")[-1].split("://")[0])

    @router.get("/metrics", response_class=Response,
                dependencies=[public("Prometheus scrapes; counts only; the metrics token when configured"),
                              Depends(metrics_caller)],
                responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                                 "description": "Prometheus text exposition."},
                           **openapi_problem_responses(401)})
    def metrics() -> Response:
        return Response(engine.metrics_text(), media_type="text/plain; version=0.0.4")

    return router


def _incident_process(worklist: Worklist) -> Any:
    """incident id → the process id of its instance (None: no such incident; the route says 404)."""
    def resolve(raw: str) -> str | None:
        if not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
            return None
        try:
            return worklist.instances.process_of_incident(int(raw))
        except EngineError:
            return None

    return resolve


@contextmanager
def _cursor_errors(cursor: str | None) -> Iterator[None]:
    """A tampered cursor is the caller's mistake: the service may meet it as a bad value deep in
    a query; say so as 422 instead of failing."""
    try:
        yield
    except (ValueError, TypeError, StatementError) as err:
        if cursor is None:
            raise
        raise InvalidInput(f"cursor: {cursor[:40]!r} is not a cursor of this view") from err
