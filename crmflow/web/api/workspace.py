"""The CRM records over HTTP, under /api/v1: one table-driven set of routes for every entity.

    GET   /api/v1/records/{entity}                 list (q, state, limit, offset)
    POST  /api/v1/records/{entity}                 create (reference data, accounts, contacts)
    GET   /api/v1/records/{entity}/{record_id}     one record
    PATCH /api/v1/records/{entity}/{record_id}     change its settable fields
    POST  /api/v1/records/{entity}/{record_id}/state   a lifecycle move nobody's process owns
    GET   /api/v1/customers/{entity}/{record_id}   the customer 360 of an account or contact
    GET   /api/v1/activities/mine                  the caller's open activities, overdue counted
    POST  /api/v1/records/{entity}/{record_id}/activities   log a call/email/appointment on a record
    GET   /api/v1/search?q=                        customers, records and business keys

`read`/`edit` on `records:ENTITY` (the URL's entity slug, e.g. `price-lists` → `price_list`).
A broken rule is a 422 problem naming the field; an unknown record a 404.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel

from crmflow.web.api.common import PREFIX, token_user
from crmflow.web.pages.workspace import entity_permission
from crmflow.web.problems import ProblemError, openapi_problem_responses
from crmflow.workspace import Workspace, customer, domain_to_engine
from engine import Engine, NotFound
from handlers import activities as acts
from handlers import records_service as rs
from handlers.errors import DomainError
from worklists.auth import UserView
from worklists.permissions import EDIT, READ
from worklists.permissions.routes import Guard
from worklists.service import Worklist


class RecordPage(BaseModel):
    entity: str
    total: int
    items: list[dict[str, Any]]


class StateMove(BaseModel):
    state: str
    status: str | None = None


class ActivityIn(BaseModel):
    activity_type: str
    subject: str
    description: str | None = None
    due_at: datetime | None = None
    completed: bool = False


def build_router(engine: Engine, worklist: Worklist) -> APIRouter:
    router = APIRouter(prefix=PREFIX, tags=["records"])
    ws = Workspace(engine, worklist.authz, worklist.forms)
    current_user = token_user(worklist)

    def records_here(user: Annotated[UserView, Depends(current_user)]) -> UserView:
        ws.require_records()
        return user

    User = Annotated[UserView, Depends(records_here)]
    guard = Guard(worklist.authz, current_user, resolvers={"entity": entity_permission})
    read, edit = guard.need(READ, "records:{entity}"), guard.need(EDIT, "records:{entity}")
    problems = openapi_problem_responses(401, 403, 404, 422)

    def ent_of(slug: str) -> rs.Entity:
        ent = rs.BY_SLUG.get(slug)
        if ent is None:
            raise NotFound(f"there are no records called {slug!r}; "
                           f"the record types are {', '.join(sorted(rs.BY_SLUG))}")
        return ent

    def run(work: Any) -> Any:
        try:
            return work()
        except DomainError as err:
            raise domain_to_engine(err) from None

    @router.get("/records/{entity}", response_model=RecordPage, responses=problems, dependencies=[read])
    def list_records(user: User, entity: str, q: str = "", state: str = "",
                     limit: Annotated[int, Query(ge=1, le=rs.MAX_PAGE)] = 50,
                     offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
        """A page of records, newest first; `q` searches the entity's text columns, `state` filters."""
        ent = ent_of(entity)
        with engine.db.read() as session:
            rows, total = rs.list_records(session, ent, q=q, state=state, limit=limit, offset=offset)
            return {"entity": ent.name, "total": total, "items": [rs.as_dict(ent, r) for r in rows]}

    @router.post("/records/{entity}", status_code=201, responses=problems, dependencies=[edit])
    def create_record(user: User, entity: str, values: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        """A new record from its settable fields; a product may carry `price` and `price_list_id`."""
        ent = ent_of(entity)

        def work() -> dict[str, Any]:
            with engine.db.write() as session:
                fields = {k: v for k, v in values.items() if k not in ("price", "price_list_id")}
                record = rs.create_record(session, ent, fields, engine.now())
                if ent.name == "product" and values.get("price") is not None:
                    if values.get("price_list_id") is None:
                        raise DomainError("a price needs price_list_id")
                    rs.set_price(session, int(values["price_list_id"]), record.id, values["price"])
                return rs.as_dict(ent, record)
        return run(work)

    @router.get("/records/{entity}/{record_id}", responses=problems, dependencies=[read])
    def get_record(user: User, entity: str, record_id: int) -> dict[str, Any]:
        ent = ent_of(entity)
        with engine.db.read() as session:
            out = run(lambda: rs.as_dict(ent, rs.get_record(session, ent, record_id)))
            record = rs.get_record(session, ent, record_id)
            out["allowed_moves"] = [{"state": s, "status": t} for s, t in rs.allowed_moves(ent, record)]
        owner = ws.owner_of(ent.name, record_id) if ent.lifecycle else None
        out["kept_by"] = None if owner is None else {
            "instance_id": owner.instance.id, "process_id": owner.instance.process_id,
            "open_tasks": [{"task_id": t.id, "name": t.name, "element_id": t.element_id} for t in owner.tasks]}
        return out

    @router.patch("/records/{entity}/{record_id}", responses=problems, dependencies=[edit])
    def update_record(user: User, entity: str, record_id: int,
                      values: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        ent = ent_of(entity)

        def work() -> dict[str, Any]:
            with engine.db.write() as session:
                return rs.as_dict(ent, rs.update_record(session, ent, record_id, values, engine.now()))
        return run(work)

    @router.post("/records/{entity}/{record_id}/state", responses=problems, dependencies=[edit])
    def move_record(user: User, entity: str, record_id: int, move: StateMove) -> dict[str, Any]:
        """A lifecycle move by the handlers' transition table; a record a running process keeps is
        refused with the task to complete instead (409)."""
        ent = ent_of(entity)
        owner = ws.owner_of(ent.name, record_id)
        if owner is not None:
            tasks = ", ".join(f"{t.name or t.element_id} (task {t.id})" for t in owner.tasks) or "its next task"
            raise ProblemError("conflict", f"{ent.singular} {record_id} is kept by {owner.instance.process_id} "
                                           f"instance {owner.instance.id}: complete {tasks}")

        def work() -> dict[str, Any]:
            with engine.db.write() as session:
                return rs.as_dict(ent, rs.move_record(session, ent, record_id, move.state, move.status, engine.now()))
        return run(work)

    @router.get("/customers/{entity}/{record_id}", responses=problems, dependencies=[read])
    def customer_360(user: User, entity: str, record_id: int) -> dict[str, Any]:
        """Open opportunities, quotes, orders, invoices and balance, cases with SLA, campaign responses,
        the activity timeline and the processes running for the customer (those the caller may read)."""
        if entity not in ("accounts", "contacts"):
            raise NotFound("a customer is an account or a contact (/customers/accounts/ID, /customers/contacts/ID)")
        with engine.db.read() as session:
            c = run(lambda: customer(session, rs.BY_SLUG[entity].name, record_id))
            E = rs.ENTITIES

            def rows(name: str, items: list[Any]) -> list[dict[str, Any]]:
                return [rs.as_dict(E[name], x) for x in items]
            out = {
                "opportunities": rows("opportunity", c.opportunities), "quotes": rows("quote", c.quotes),
                "orders": rows("order", c.orders), "invoices": rows("invoice", c.invoices),
                "balance": str(c.balance),
                "cases": [{**rs.as_dict(E["case"], s.case), "sla_kpi": s.kpi, "sla_status": s.sla_status,
                           "sla_failure_at": rs.json_value(s.failure_at)} for s in c.cases],
                "campaign_responses": [{"id": r.id, "campaign_id": r.campaign_id, "response_code": r.response_code,
                                        "received_at": rs.json_value(r.received_at)} for r in c.responses],
                "timeline": rows("activity", c.timeline),
            }
            refs = c.refs
        out["processes"] = [
            {"instance_id": p.instance.id, "process_id": p.instance.process_id, "business_key": p.instance.business_key,
             "open_tasks": [{"task_id": t.id, "name": t.name, "queue": t.queue, "assignee": t.assignee}
                            for t in p.tasks]}
            for p in ws.running_on(refs) if worklist.instances.may(user, READ, p.instance.id)]
        return out

    @router.get("/activities/mine", responses=openapi_problem_responses(401, 404, 422),
                dependencies=[guard.login("the caller's own activities")])
    def my_activities(user: User) -> dict[str, Any]:
        rows, overdue = ws.my_activities(user.name)
        return {"overdue": overdue, "items": [rs.as_dict(rs.ENTITIES["activity"], a) for a in rows]}

    @router.post("/records/{entity}/{record_id}/activities", status_code=201, responses=problems,
                 dependencies=[guard.inside(EDIT, "records:activity", "and read on records:{entity}")])
    def log_activity(user: User, entity: str, record_id: int, body: ActivityIn) -> dict[str, Any]:
        """Log a call, email or appointment on a record; the caller owns it (My activities)."""
        ent = ent_of(entity)
        worklist.authz.require(user, EDIT, "records:activity", doing=f"log an activity on {ent.singular} {record_id}")
        worklist.authz.require(user, READ, f"records:{ent.name}",
                               doing=f"log an activity on {ent.singular} {record_id}")

        def work() -> dict[str, Any]:
            with engine.db.write() as session:
                a = acts.log_by_hand(session, engine.now(), user.name, body.activity_type, body.subject, ent.name,
                                     record_id, body.description, due_at=body.due_at, completed=body.completed)
                return rs.as_dict(rs.ENTITIES["activity"], a)
        return run(work)

    @router.get("/search", responses=openapi_problem_responses(401, 404, 422),
                dependencies=[guard.login("only records the caller may read; instances by read on instances")])
    def search(user: User, q: str = "") -> list[dict[str, Any]]:
        return [{"label": h.label, "url": h.url, "detail": h.detail, "entity": h.entity.name if h.entity else None}
                for h in ws.search(user, q)]

    return router
