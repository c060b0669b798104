"""The CRM workspace pages: record lists and details (one table-driven pair for every entity), the
customer 360 on accounts and contacts, My activities, start forms and the top bar's search.

Every route declares its permission with the pages' Guard: `read`/`edit` on `records:ENTITY`
(the URL's entity slug resolved to its permission name), `start` on `process:ID`. Refusals and
broken rules are shown on the page with a 4xx, never a 500.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from crmflow.web.pages.base import (
    STATIC_PATH,
    TEMPLATES,
    compact,
    csrf_token,
    delta_text,
    fmt_money,
    fmt_span,
    install_time_filters,
    logged_in_user,
    readable,
    setting,
    show_value,
    zone_of,
)
from crmflow.web.pages.console import operates_anywhere
from crmflow.web.pages.fields import build_fields, parse_submission
from crmflow.workspace import Workspace, customer, domain_to_engine
from engine import Conflict, Engine, EngineError, NotFound
from engine.clock import ensure_utc
from handlers import activities as acts
from handlers import record_parts as rp
from handlers import records_service as rs
from handlers.errors import DomainError
from worklists.forms import FormInvalid
from worklists.permissions import EDIT, READ
from worklists.permissions.routes import Guard
from worklists.priority import priority_label
from worklists.service import Worklist

IN_360 = {"case", "opportunity", "quote", "order", "invoice", "contact"}
_STATUS = {"NotFound": 404, "Forbidden": 403, "Conflict": 409, "InvalidInput": 422, "FormInvalid": 422}


def detail_kind(value: Any) -> str:
    """The `show` filter's kind for a Details value: datetimes and dates get theirs, the rest is text."""
    if isinstance(value, datetime):
        return "datetime"
    return "date" if isinstance(value, date) else "text"


def entity_permission(slug: str) -> str | None:
    ent = rs.BY_SLUG.get(slug)
    return ent.name if ent else None


def build_router(engine: Engine, worklist: Worklist, settings: Any = None) -> APIRouter:
    return _WorkspacePages(engine, worklist, settings).router


class _WorkspacePages:
    def __init__(self, engine: Engine, worklist: Worklist, settings: Any) -> None:
        self.engine = engine
        self.wl = worklist
        self.ws = Workspace(engine, worklist.authz, worklist.forms)
        self.title = setting(settings, "title", "crmflow") or "crmflow"
        self.templates = Jinja2Templates(directory=str(TEMPLATES))
        env = self.templates.env
        install_time_filters(env)
        env.filters.update(money=fmt_money, show=show_value, until=self._until, span=fmt_span, compact=compact,
                           delta=delta_text, readable=readable, priority=priority_label)
        env.globals.update(static=STATIC_PATH, entities=rs.ENTITIES)
        self.router = r = APIRouter()
        guard = Guard(worklist.authz, self._user, resolvers={"entity": entity_permission})
        html = HTMLResponse
        read, edit = guard.need(READ, "records:{entity}"), guard.need(EDIT, "records:{entity}")
        r.add_api_route("/records", self.index, methods=["GET"], response_class=html,
                        dependencies=[guard.login("only the record types the user may read (records:ENTITY)")])
        r.add_api_route("/records/{entity}", self.listing, methods=["GET"], response_class=html, dependencies=[read])
        r.add_api_route("/records/{entity}/new", self.new_form, methods=["GET"], response_class=html,
                        dependencies=[edit])
        r.add_api_route("/records/{entity}", self.create, methods=["POST"], dependencies=[edit])
        r.add_api_route("/records/{entity}/{record_id}", self.detail, methods=["GET"], response_class=html,
                        dependencies=[read])
        r.add_api_route("/records/{entity}/{record_id}", self.update, methods=["POST"], dependencies=[edit])
        r.add_api_route("/records/{entity}/{record_id}/state", self.move, methods=["POST"], dependencies=[edit])
        r.add_api_route("/records/{entity}/{record_id}/parts", self.save_part, methods=["POST"], dependencies=[edit])
        r.add_api_route("/records/{entity}/{record_id}/criteria", self.set_criteria, methods=["POST"],
                        dependencies=[edit])
        r.add_api_route("/records/{entity}/{record_id}/activities", self.log_activity, methods=["POST"],
                        dependencies=[guard.inside(EDIT, "records:activity", "and read on records:{entity}")])
        r.add_api_route("/activities", self.my_activities, methods=["GET"], response_class=html,
                        dependencies=[guard.login("the caller's own activities")])
        r.add_api_route("/activities/{activity_id}/{action}", self.close_activity, methods=["POST"],
                        dependencies=[guard.need(EDIT, "records:activity")])
        r.add_api_route("/search", self.search, methods=["GET"], response_class=html,
                        dependencies=[guard.login("only records the user may read, instances by read on instances")])
        r.add_api_route("/start/{process_id}", self.start_form, methods=["GET"], response_class=html,
                        dependencies=[guard.need("start", "process:{process_id}")])
        r.add_api_route("/start/{process_id}", self.start, methods=["POST"],
                        dependencies=[guard.need("start", "process:{process_id}")])

    # -- plumbing -------------------------------------------------------------------------------
    def _user(self, request: Request) -> str:
        user = logged_in_user(request, self.wl.accounts)
        self.ws.require_records()
        return user

    def _until(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        left = (ensure_utc(value) - self.engine.now()).total_seconds()
        return f"{fmt_span(left)} left" if left >= 0 else f"{fmt_span(left)} overdue"

    def _render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        user = request.session.get("user")
        base = {"title": self.title, "user": user, "csrf": csrf_token(request),
                "flashes": request.session.pop("flash", []), "path": request.url.path, "now": self.engine.now(),
                "counts": None, "tz": zone_of(self.wl.accounts.time_zone_of(user) if user else None),
                "can": lambda verb, res: bool(user) and self.wl.authz.allows(user, verb, res),
                "console": bool(user) and operates_anywhere(self, user)}  # the top bar as on the other pages
        return self.templates.TemplateResponse(request, template, {**base, **context}, status_code=status)

    def _problem(self, request: Request, err: Exception, heading: str = "Not possible") -> HTMLResponse:
        if isinstance(err, DomainError):
            err = domain_to_engine(err)
        status = _STATUS.get(type(err).__name__, 422)
        return self._render(request, "message.html", status, heading=heading, message=str(err))

    @staticmethod
    def _flash(request: Request, text: str, kind: str = "ok") -> None:
        request.session["flash"] = [*request.session.get("flash", []), {"kind": kind, "text": text}]

    @staticmethod
    def _csrf_ok(request: Request, form: FormData) -> bool:
        expected = request.session.get("csrf")
        return bool(expected) and secrets.compare_digest(str(form.get("csrf", "")), str(expected))

    def _entity(self, slug: str) -> rs.Entity:
        ent = rs.BY_SLUG.get(slug)
        if ent is None:
            raise NotFound(f"there are no records called {slug!r}; "
                           f"the record types are {', '.join(sorted(rs.BY_SLUG))}")
        return ent

    @staticmethod
    def _record_id(raw: str) -> int:
        if not raw.isdigit() or not 0 < int(raw) < 2**31:
            raise NotFound(f"{raw!r} is not a record id")
        return int(raw)

    # -- lists and details ----------------------------------------------------------------------
    def index(self, request: Request) -> HTMLResponse:
        user = self._user(request)
        names = set(self.wl.authz.filter_names(user, READ, "records", rs.ENTITIES))
        return self._render(request, "records_index.html", heading="Records",
                            shown=[e for e in rs.ENTITIES.values() if e.name in names],
                            startable=self.ws.startable(user))

    def listing(self, request: Request, entity: str) -> HTMLResponse:
        self._user(request)
        try:
            ent = self._entity(entity)
        except EngineError as err:
            return self._problem(request, err)
        q = request.query_params.get("q", "")
        state = request.query_params.get("state", "")
        page = max(1, int(request.query_params.get("page", "1") or 1)) if request.query_params.get(
            "page", "1").isdigit() else 1
        with self.engine.db.read() as session:
            rows, total = rs.list_records(session, ent, q=q, state=state, limit=50, offset=(page - 1) * 50)
            accounts = rs.labels_for(session, "account", [r.account_id for r in rows if getattr(r, "account_id", None)])
            cells = [(r.id, ent.label(r), [self._cell(ent, c, getattr(r, c, None), accounts) for c in ent.columns])
                     for r in rows]
        states = list(ent.lifecycle.statuses) if ent.lifecycle else []
        return self._render(request, "records_list.html", heading=ent.title, ent=ent, cells=cells, total=total,
                            q=q, state=state, states=states, page=page, pages=max(1, (total + 49) // 50))

    @staticmethod
    def _cell(ent: rs.Entity, column: str, value: Any, accounts: dict[int, str]) -> Any:
        if column == "account_id" and value:
            return {"link": f"/records/accounts/{value}", "text": accounts.get(value, f"#{value}")}
        return rs.json_value(value) if value is not None else "—"

    def detail(self, request: Request, entity: str, record_id: str) -> HTMLResponse:
        user = self._user(request)
        try:
            ent = self._entity(entity)
            rid = self._record_id(record_id)
            with self.engine.db.read() as session:
                record = rs.get_record(session, ent, rid)
                values = rs.as_dict(ent, record)
                times = {k: v for k in rs.fields_of(ent) if isinstance(v := getattr(record, k), (datetime, date))}
                related = [(o, [(x.id, o.label(x), getattr(x, "status", "")) for x in rows])
                           for o, rows in rs.related(session, ent, record)
                           if self.wl.authz.allows(user, READ, f"records:{o.name}")]
                moves = rs.allowed_moves(ent, record)
                prices = rs.prices_of(session, rid) if ent.name == "product" else []
                price_lists = [(p.id, p.name) for p in rs.list_records(session, rs.ENTITIES["price_list"],
                                                                     limit=200)[0]] if ent.name == "product" else []
                c360 = customer(session, ent.name, rid) if ent.name in ("account", "contact") else None
                part_rows = self._part_rows(session, ent, record) if ent.name in rp.PARTS else []
                timeline = self._timeline(session, ent, rid) if c360 is None else c360.timeline
                session.expunge_all()
        except (EngineError, DomainError) as err:
            return self._problem(request, err, heading=ent.title if "ent" in locals() else "Records")
        owner = self.ws.owner_of(ent.name, rid) if ent.lifecycle is not None else None
        running = self.ws.running_on(c360.refs) if c360 is not None else ([owner] if owner else [])
        running = [p for p in running if self.wl.instances.may(user, READ, p.instance.id)]
        if c360 is not None:  # the 360's panels show these already
            related = [(o, rows) for o, rows in related if o.name not in IN_360]
        # (name, value, kind): times as the rest of the pages show them (the user's zone, UTC on hover)
        fields = [(k, times.get(k, v), detail_kind(times.get(k))) for k, v in values.items()
                  if k not in ("label", "id")]
        return self._render(request, "record.html", heading=f"{ent.singular.capitalize()} {values['label']}", ent=ent,
                            rid=rid, values=values, fields=fields, related=related, moves=moves, owner=owner,
                            c360=c360, running=running, timeline=timeline, prices=prices, price_lists=price_lists,
                            part=rp.PARTS.get(ent.name), part_rows=part_rows, choices=rp.CHOICES,
                            criteria_fields=rp.criteria_fields(record.member_type) if ent.name == "marketing_list"
                            else [],
                            loggable=acts.LOGGABLE, may_edit=self.wl.authz.allows(user, EDIT, f"records:{ent.name}"),
                            may_log=self.wl.authz.allows(user, EDIT, "records:activity"))

    @staticmethod
    def _timeline(session: Any, ent: rs.Entity, rid: int) -> list[Any]:
        from sqlalchemy import select

        from handlers.models import Activity
        if ent.name not in ("lead", "opportunity", "case"):
            return []
        return list(session.scalars(select(Activity).where(Activity.regarding_type == ent.name,
                                                           Activity.regarding_id == rid)
                                    .order_by(Activity.created_at.desc(), Activity.id.desc())))

    # -- create / update / move -------------------------------------------------------------------
    def new_form(self, request: Request, entity: str) -> HTMLResponse:
        self._user(request)
        try:
            ent = self._entity(entity)
        except EngineError as err:
            return self._problem(request, err)
        if not ent.creatable:
            return self._problem(request, DomainError(f"{ent.title.lower()} are created by the processes, "
                                                      "not by hand"))
        return self._render(request, "record_form.html", heading=f"New {ent.singular}", ent=ent, values={},
                            error=None, price_lists=self._price_lists() if ent.name == "product" else [])

    def _price_lists(self) -> list[tuple[int, str]]:
        with self.engine.db.read() as session:
            return [(p.id, p.name) for p in rs.list_records(session, rs.ENTITIES["price_list"], limit=200)[0]]

    async def create(self, request: Request, entity: str) -> Response:
        self._user(request)
        form = await request.form()
        try:
            ent = self._entity(entity)
        except EngineError as err:
            return self._problem(request, err)
        if not self._csrf_ok(request, form):
            return self._problem(request, DomainError("your session expired; nothing was saved, please try again"))
        values = {k: str(v) for k, v in form.items() if k in ent.editable}
        if ent.name == "marketing_list":
            values["dynamic"] = "true" if form.get("dynamic") else "false"

        def work() -> int:
            with self.engine.db.write() as session:
                record = rs.create_record(session, ent, values, self.engine.now())
                price, price_list = str(form.get("price", "")).strip(), str(form.get("price_list_id", "")).strip()
                if ent.name == "product" and price:
                    if not price_list.isdigit():
                        raise DomainError("a price needs a price list: choose one")
                    rs.set_price(session, int(price_list), record.id, price)
                return record.id
        try:
            rid = await run_in_threadpool(work)
        except DomainError as err:
            return self._render(request, "record_form.html", 422, heading=f"New {ent.singular}", ent=ent,
                                values=dict(form), error=str(err),
                                price_lists=self._price_lists() if ent.name == "product" else [])
        self._flash(request, f"Created {ent.singular} #{rid}.")
        return RedirectResponse(f"/records/{ent.slug}/{rid}", status_code=303)

    async def _record_post(self, request: Request, entity: str, record_id: str,
                           nothing: str) -> tuple[Any, Any, int] | Response:
        """What every change to one record checks first: a logged-in user, the record type and id,
        and the form's CSRF token. The form, the type and the id; or the page saying what is wrong
        (`nothing` is what was not done: "saved", "changed")."""
        self._user(request)
        form = await request.form()
        try:
            ent, rid = self._entity(entity), self._record_id(record_id)
        except EngineError as err:
            return self._problem(request, err)
        if not self._csrf_ok(request, form):
            return self._problem(request, DomainError(f"your session expired; nothing was {nothing}, please try again"))
        return form, ent, rid

    async def update(self, request: Request, entity: str, record_id: str) -> Response:
        checked = await self._record_post(request, entity, record_id, "saved")
        if isinstance(checked, Response):
            return checked
        form, ent, rid = checked
        values = {k: str(v) for k, v in form.items() if k in ent.editable}

        def work() -> None:
            with self.engine.db.write() as session:
                rs.update_record(session, ent, rid, values, self.engine.now())
                price, price_list = str(form.get("price", "")).strip(), str(form.get("price_list_id", "")).strip()
                if ent.name == "product" and price and price_list.isdigit():
                    rs.set_price(session, int(price_list), rid, price)
        try:
            await run_in_threadpool(work)
        except DomainError as err:
            return self._problem(request, err)
        self._flash(request, f"Saved {ent.singular} #{rid}.")
        return RedirectResponse(f"/records/{ent.slug}/{rid}", status_code=303)

    async def move(self, request: Request, entity: str, record_id: str) -> Response:
        checked = await self._record_post(request, entity, record_id, "changed")
        if isinstance(checked, Response):
            return checked
        form, ent, rid = checked
        owner = await run_in_threadpool(self.ws.owner_of, ent.name, rid)
        if owner is not None:
            tasks = ", ".join(f"“{t.name or t.element_id}” (/tasks/{t.id})" for t in owner.tasks) or "its next task"
            return self._problem(request, Conflict(
                f"{ent.singular} #{rid} is kept by {owner.instance.process_id} instance {owner.instance.id}: "
                f"change it by completing {tasks}"), heading="Kept by a process")
        state, _, status = str(form.get("move", "")).partition("|")

        def work() -> None:
            with self.engine.db.write() as session:
                rs.move_record(session, ent, rid, state, status or None, self.engine.now())
        try:
            await run_in_threadpool(work)
        except DomainError as err:
            return self._problem(request, err)
        self._flash(request, f"{ent.singular.capitalize()} #{rid} is now {state} ({status or state}).")
        return RedirectResponse(f"/records/{ent.slug}/{rid}", status_code=303)

    # -- parts of a record (list members, price-list items, entitlements) -------------------------
    @staticmethod
    def _part_rows(session: Any, ent: rs.Entity, record: Any) -> list[tuple[Any, str, str]]:
        """(part, label, link) for the record's parts: members and products by their labels."""
        rows = rp.parts(session, ent, record.id)
        if ent.name == "marketing_list":
            target = rs.ENTITIES[record.member_type]
            labels = rs.labels_for(session, target.name, [m.member_id for m in rows])
            return [(m, labels.get(m.member_id, f"#{m.member_id}"), f"/records/{target.slug}/{m.member_id}")
                    for m in rows]
        if ent.name == "price_list":
            labels = rs.labels_for(session, "product", [i.product_id for i in rows])
            return [(i, labels.get(i.product_id, f"#{i.product_id}"), f"/records/products/{i.product_id}")
                    for i in rows]
        return [(e, e.name, "") for e in rows]

    async def save_part(self, request: Request, entity: str, record_id: str) -> Response:
        """Add a part to the record, change one (`part_id`), or take a list member off (`remove`)."""
        checked = await self._record_post(request, entity, record_id, "saved")
        if isinstance(checked, Response):
            return checked
        form, ent, rid = checked
        raw_id = str(form.get("part_id", "")).strip()
        values = {k: str(v) for k, v in form.items() if k not in ("csrf", "part_id", "remove")}

        def work() -> str:
            with self.engine.db.write() as session:
                part = rp.part_of(ent)
                if raw_id and not raw_id.isdigit():
                    raise DomainError(f"{part.entity.singular} {raw_id!r} is not a number")
                if form.get("remove") and ent.name == "marketing_list" and raw_id:
                    rp.remove_member(session, rid, int(raw_id))
                    return f"Took the member off {ent.singular} #{rid}."
                rp.save_part(session, ent, rid, values, self.engine.now(), int(raw_id) if raw_id else None)
                return f"{'Saved' if raw_id else 'Added'} the {part.entity.singular} on {ent.singular} #{rid}."
        try:
            message = await run_in_threadpool(work)
        except DomainError as err:
            return self._problem(request, err, heading=ent.title)
        self._flash(request, message)
        return RedirectResponse(f"/records/{ent.slug}/{rid}", status_code=303)

    async def set_criteria(self, request: Request, entity: str, record_id: str) -> Response:
        """A marketing list's dynamic criteria from the form (none: a static list again)."""
        self._user(request)
        form = await request.form()
        try:
            ent, rid = self._entity(entity), self._record_id(record_id)
        except EngineError as err:
            return self._problem(request, err)
        if ent.name != "marketing_list":
            return self._problem(request, DomainError(f"{ent.title.lower()} have no criteria; marketing lists do"))
        if not self._csrf_ok(request, form):
            return self._problem(request, DomainError("your session expired; nothing was saved, please try again"))

        def work() -> bool:
            with self.engine.db.write() as session:
                return bool(rp.set_criteria(session, rid, form, self.engine.now()).dynamic)
        try:
            dynamic = await run_in_threadpool(work)
        except DomainError as err:
            return self._problem(request, err, heading=ent.title)
        self._flash(request, f"List #{rid} is {'dynamic: members come from its criteria' if dynamic else 'static'}.")
        return RedirectResponse(f"/records/{ent.slug}/{rid}", status_code=303)

    # -- activities -----------------------------------------------------------------------------
    async def log_activity(self, request: Request, entity: str, record_id: str) -> Response:
        user = self._user(request)
        form = await request.form()
        try:
            ent, rid = self._entity(entity), self._record_id(record_id)
        except EngineError as err:
            return self._problem(request, err)
        self.wl.authz.require(user, EDIT, "records:activity", doing=f"log an activity on {ent.singular} {rid}")
        self.wl.authz.require(user, READ, f"records:{ent.name}", doing=f"log an activity on {ent.singular} {rid}")
        if not self._csrf_ok(request, form):
            return self._problem(request, DomainError("your session expired; nothing was logged, please try again"))
        due_text = str(form.get("due_at", "")).strip()

        def work() -> None:
            due = datetime.fromisoformat(due_text).replace(tzinfo=zone_of(self.wl.accounts.time_zone_of(user))) \
                if due_text else None
            with self.engine.db.write() as session:
                acts.log_by_hand(session, self.engine.now(), user, str(form.get("activity_type", "")),
                                 str(form.get("subject", "")), ent.name, rid, str(form.get("description", "")) or None,
                                 due_at=due, completed=bool(form.get("completed")))
        try:
            await run_in_threadpool(work)
        except (DomainError, ValueError) as err:
            return self._problem(request, DomainError(str(err)))
        self._flash(request, f"Logged “{form.get('subject')}” on {ent.singular} #{rid}.")
        return RedirectResponse(f"/records/{ent.slug}/{rid}", status_code=303)

    def my_activities(self, request: Request) -> HTMLResponse:
        user = self._user(request)
        rows, overdue = self.ws.my_activities(user)
        return self._render(request, "activities.html", heading="My activities", rows=rows, overdue=overdue,
                            slugs={e.name: e.slug for e in rs.ENTITIES.values()})

    async def close_activity(self, request: Request, activity_id: str, action: str) -> Response:
        self._user(request)
        form = await request.form()
        if action not in ("complete", "cancel"):
            return self._problem(request, NotFound(f"there is no action {action!r} for activities (complete, cancel)"))
        if not self._csrf_ok(request, form):
            return self._problem(request, DomainError("your session expired; nothing was changed, please try again"))

        def work() -> None:
            with self.engine.db.write() as session:
                acts.close_by_hand(session, self.engine.now(), self._record_id(activity_id), cancel=action == "cancel")
        try:
            await run_in_threadpool(work)
        except (DomainError, EngineError) as err:
            return self._problem(request, err)
        self._flash(request, "Activity " + ("canceled." if action == "cancel" else "completed."))
        return RedirectResponse(str(form.get("back") or "/activities"), status_code=303)

    # -- search and start forms -------------------------------------------------------------------
    def search(self, request: Request) -> HTMLResponse:
        user = self._user(request)
        q = request.query_params.get("q", "")
        hits = self.ws.search(user, q)
        return self._render(request, "search.html", heading="Search", q=q, hits=hits)

    def start_form(self, request: Request, process_id: str) -> HTMLResponse:
        self._user(request)
        try:
            form = self.ws.start_form(process_id)
        except EngineError as err:
            return self._problem(request, err, heading="Start")
        return self._render(request, "start.html", heading=form.title, form=form,
                            fields=build_fields(form.schema, {}, None))

    async def start(self, request: Request, process_id: str) -> Response:
        user = self._user(request)
        raw = await request.form()
        try:
            form = self.ws.start_form(process_id)
        except EngineError as err:
            return self._problem(request, err, heading="Start")
        if not self._csrf_ok(request, raw):
            return self._problem(request, DomainError("your session expired; nothing was started, please try again"))
        fields = build_fields(form.schema, {}, None, None, raw)
        data = parse_submission(fields, raw, form.schema)
        try:
            inst = await run_in_threadpool(self.ws.start, user, form, data)
        except FormInvalid as err:
            errors = {e.field: e.message for e in err.errors}
            return self._render(request, "start.html", 422, heading=form.title, form=form, error=str(err),
                                fields=build_fields(form.schema, {}, None, errors, raw))
        except EngineError as err:
            return self._render(request, "start.html", 422, heading=form.title, form=form, error=str(err),
                                fields=build_fields(form.schema, {}, None, None, raw))
        self._flash(request, f"Started {form.title.lower()}: {process_id} instance {inst.id}"
                             + (f" ({inst.business_key})" if inst.business_key else "") + ".")
        return RedirectResponse(f"/instances/{inst.id}", status_code=303)
