"""The operator console in the HTTP API: instance actions, timers and incident groups (issue 16).

Every route needs `operate` on `instances:<process>` (operators and admins by default), declared
through the router's Guard like every other route; each calls one engine facade method, which
records who acted and why in the instance's history. A suspended instance refuses completions
and messages sent to it with a 409 (type conflict) naming it and saying to resume it first; a
message another instance throws to it is held and delivered when it is resumed.
"""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import select

from engine import Engine, InvalidInput
from engine.read_model import Instance, Timer
from engine.views import InstanceDetail, InstanceView, ModificationPlan, TimerView
from worklists.auth import UserView
from worklists.incident_groups import IncidentGroup, incident_groups, retry_group
from worklists.instance_search import InstanceQuery, search
from worklists.permissions import OPERATE
from worklists.permissions.routes import Guard
from worklists.service import Worklist

MAX_ID = 2**31 - 1
IntId = Annotated[int, Path(ge=1, le=MAX_ID)]
Reason = Annotated[str, StringConstraints(max_length=2000)]
Element = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class ReasonRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "customer asked to wait until March"}]})

    reason: Reason | None = Field(default=None, description="Why (kept in the history).")


class CancelRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "duplicate lead"}]})

    reason: Reason = Field(description="Why the instance is cancelled (required; kept in the history).")


class VariablesRequest(BaseModel):
    """Variables to set (any JSON values) and names to remove."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"set": {"quote_lines": [{"product_number": "CRM-PRO", "quantity": 2}]}, "reason": "mistyped product"}]})

    set: dict[str, Any] = Field(default_factory=dict)
    remove: list[Element] = Field(default_factory=list, max_length=200)
    reason: Reason | None = None


class ModifyRequest(BaseModel):
    """Cancel the token at one element and/or start at another; `dry_run` says what would happen."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"start_at": "qualify_task", "dry_run": True}, {"cancel_at": "work_opportunity", "start_at": "build_quote"}]})

    cancel_at: Element | None = None
    start_at: Element | None = None
    dry_run: bool = False
    reason: Reason | None = None


class GroupRetryRequest(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"process_id": "lead_to_invoice",
                                                               "element_id": "build_quote"}]})

    process_id: Element
    element_id: Element


class GroupRetryResult(BaseModel):
    retried: list[int]
    still_failing: list[int]
    errors: dict[int, str]


class InstanceSearchPage(BaseModel):
    """One page of the instance search and the count per status of every match (any page)."""

    items: list[InstanceView]
    counts: dict[str, int] = Field(description="Matches per status, whatever `status` asks for.")
    total: int = Field(description="Matches of the asked status (all statuses when none is asked).")
    page: int
    more: bool = Field(description="True when a next page exists.")


SearchText = Annotated[str | None, Query(min_length=1, max_length=255)]
SearchTime = Annotated[str | None, Query(min_length=1, max_length=64, description="ISO date or time, UTC.")]


def add_search_route(router: APIRouter, engine: Engine, worklist: Worklist, guard: Guard,
                     current_user: Any, errors: Any) -> None:
    """`GET /instances/search`: the search page's query (same parser, same SQL) as JSON. Added
    before `/instances/{instance_id}` so that path does not swallow it."""
    User = Annotated[UserView, Depends(current_user)]

    @router.get("/instances/search", response_model=InstanceSearchPage, tags=["instances"], responses=errors(),
                dependencies=[guard.login("only instances of processes the caller may read, or that they are in")])
    def search_instances(
        user: User,
        process: SearchText = None,
        version: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
        status: Annotated[Literal["running", "waiting", "incident", "suspended", "completed", "terminated",
                                  "cancelled"] | None, Query()] = None,
        key: SearchText = None,
        variable: Annotated[str | None, Query(min_length=1, max_length=255,
                                              description="NAME=VALUE, e.g. customer=Northwind.")] = None,
        started_from: SearchTime = None, started_to: SearchTime = None,
        ended_from: SearchTime = None, ended_to: SearchTime = None,
        element: Annotated[str | None, Query(min_length=1, max_length=255,
                                             description="Waiting at this element (task, timer, message, "
                                                         "incident).")] = None,
        sort: Annotated[Literal["newest", "oldest", "updated", "ended"], Query()] = "newest",
        page: Annotated[int, Query(ge=1, le=10**6)] = 1,
    ) -> InstanceSearchPage:
        """Instances the caller may read by process, version, status, business key, a variable's
        value, start/end time and current element; 25 a page, with counts per status."""
        given = {"process": process, "version": version, "status": status, "key": key, "variable": variable,
                 "started_from": started_from, "started_to": started_to, "ended_from": ended_from,
                 "ended_to": ended_to, "element": element, "sort": sort, "page": page}
        query = InstanceQuery.from_params({k: str(v) for k, v in given.items() if v is not None})
        result = search(engine, worklist, user, query)
        return InstanceSearchPage(items=result.items, counts=result.counts, total=result.total, page=query.page,
                                  more=result.more)


def timer_process(engine: Engine) -> Any:
    """timer id → its instance's process (None: no such timer; the route says 404)."""

    def resolve(raw: str) -> str | None:
        if not raw.isdigit() or not 0 < int(raw) <= MAX_ID:
            return None
        with engine.db.read() as session:
            return session.scalar(select(Instance.process_id).join(Timer, Timer.instance_id == Instance.id)
                                  .where(Timer.id == int(raw)))

    return resolve


def add_console_routes(router: APIRouter, engine: Engine, worklist: Worklist, guard: Guard,
                       current_user: Any, errors: Any) -> None:
    """The console's routes on the API router (same prefix, Guard and problem responses)."""
    User = Annotated[UserView, Depends(current_user)]
    operate = guard.need_instance(OPERATE)

    @router.post("/instances/{instance_id}/cancel", response_model=InstanceDetail, tags=["operations"],
                 responses=errors(403, 404, 409), dependencies=[operate])
    def cancel(user: User, instance_id: IntId, body: CancelRequest) -> InstanceDetail:
        """End the instance: its open tasks leave every worklist, timers, subscriptions and jobs go."""
        return engine.cancel_instance(instance_id, user=user.name, reason=body.reason)

    @router.post("/instances/{instance_id}/suspend", response_model=InstanceDetail, tags=["operations"],
                 responses=errors(403, 404, 409), dependencies=[operate])
    def suspend(user: User, instance_id: IntId, body: ReasonRequest) -> InstanceDetail:
        """Hold the instance: no timers fire, no jobs run, completions and messages get a 409
        (messages thrown by other instances are held until it is resumed)."""
        return engine.suspend_instance(instance_id, user=user.name, reason=body.reason)

    @router.post("/instances/{instance_id}/resume", response_model=InstanceDetail, tags=["operations"],
                 responses=errors(403, 404, 409), dependencies=[operate])
    def resume(user: User, instance_id: IntId, body: ReasonRequest) -> InstanceDetail:
        """Let a suspended instance go on: messages held for it are delivered now; timers that fell
        due meanwhile fire at the next pass."""
        return engine.resume_instance(instance_id, user=user.name, reason=body.reason)

    @router.post("/instances/{instance_id}/variables", response_model=InstanceDetail, tags=["operations"],
                 responses=errors(403, 404, 409), dependencies=[operate])
    def variables(user: User, instance_id: IntId, body: VariablesRequest) -> InstanceDetail:
        """Set and/or remove process variables (the history keeps old and new values); runs nothing:
        retry the incident afterwards."""
        return engine.edit_variables(instance_id, body.set, body.remove, user=user.name, reason=body.reason)

    @router.post("/instances/{instance_id}/modify", response_model=ModificationPlan, tags=["operations"],
                 responses=errors(403, 404, 409), dependencies=[operate])
    def modify(user: User, instance_id: IntId, body: ModifyRequest) -> ModificationPlan:
        """Move a token: back to a step that ran (it runs again) or forward; `allowed` false with
        `reasons` when it cannot be done. Try `dry_run` first."""
        return engine.modify_instance(instance_id, body.cancel_at, body.start_at, dry_run=body.dry_run,
                                      user=user.name, reason=body.reason)

    @router.get("/timers", response_model=list[TimerView], tags=["operations"], responses=errors(),
                dependencies=[guard.login("only timers of instances the caller may read")])
    def timers(
        user: User, overdue: Annotated[bool, Query(description="Only timers already due.")] = False,
    ) -> list[TimerView]:
        """Pending timers, soonest first."""
        rows = engine.list_timers(due_before=engine.now() if overdue else None)
        shown = worklist.instances.visible_ids(user, {t.instance_id for t in rows})
        return [t for t in rows if t.instance_id in shown]

    @router.post("/timers/{timer_id}/fire", response_model=InstanceView, tags=["operations"],
                 responses=errors(403, 404, 409),
                 dependencies=[guard.need(OPERATE, "instances:{timer_id}", doing="fire timer {timer_id}",
                                          timer_id=timer_process(engine))])
    def fire(user: User, timer_id: IntId) -> InstanceView:
        """Fire a pending timer now, whatever its due time."""
        return engine.fire_timer_now(timer_id, user=user.name)

    @router.get("/incidents/groups", response_model=list[IncidentGroup], tags=["incidents"], responses=errors(),
                dependencies=[guard.login("only incidents of instances the caller may read")])
    def groups(user: User) -> list[IncidentGroup]:
        """Open incidents grouped by process and element, with counts and the latest error."""
        return incident_groups(engine, worklist, user)

    @router.post("/incidents/retry-group", response_model=GroupRetryResult, tags=["incidents"],
                 responses=errors(403, 409),
                 dependencies=[guard.inside(OPERATE, "instances:{process_id}", "the body names the process")])
    def retry_all(user: User, body: GroupRetryRequest) -> GroupRetryResult:
        """Retry every open incident of one process at one element; each succeeds or fails on its own."""
        worklist.authz.require(user, OPERATE, f"instances:{body.process_id}",
                               doing=f"retry the incidents of {body.process_id} at {body.element_id}")
        retried, failing, errs = retry_group(engine, body.process_id, body.element_id)
        if not retried and not failing and not errs:
            raise InvalidInput(f"no open incident of {body.process_id} at {body.element_id}")
        return GroupRetryResult(retried=retried, still_failing=failing, errors=errs)



