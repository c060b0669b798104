"""The agents' pages: login and logout, the worklists (my work, available, a queue, closed), the task
page and its actions, the instance page and the user's settings. The operator console's pages
(`console.py`) are installed on the same router, as they share its session and templates.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from crmflow.web.pages.console import ConsolePages, operates_anywhere
from crmflow.web.problems import without_server_paths
from engine import Conflict, Engine, EngineError, Forbidden, InvalidInput, NotFound
from engine.clock import ensure_utc
from engine.drawing import instance_marks, render_svg
from engine.input_checks import InputRefused
from engine.views import InstanceDetail
from worklists.forms import FormInvalid, RenderedForm
from worklists.lockout import LoginThrottleStore
from worklists.lookups import MAX_OPTIONS
from worklists.permissions import READ, READ_DATA
from worklists.permissions.routes import Guard, public
from worklists.priority import parse_priority, priority_label
from worklists.service import SORTS, Page, TaskFilter, Worklist
from worklists.sessions import SessionStore

from .base import (
    DEFAULT_PAGE_SIZE,
    DIAGRAM_SCALE,
    EVENT_LABELS,
    PAGE_SIZES,
    PRIORITY_FILTERS,
    SLA_STATUSES,
    SORT_LABELS,
    STATIC_PATH,
    TEMPLATES,
    compact,
    countdown,
    csrf_token,
    delta_text,
    fmt_money,
    fmt_span,
    install_time_filters,
    local_path,
    logged_in_user,
    readable,
    scaled_svg,
    session_limits,
    setting,
    show_value,
    time_zones,
    with_query,
    zone_of,
)
from .fields import MISSING, ROWS_ACTION, build_fields, change_rows, field_labels, parse_submission

log = logging.getLogger(__name__)
_STATUS = {NotFound: 404, Forbidden: 403, Conflict: 409, InvalidInput: 422}


# -- list views ------------------------------------------------------------------------------

@dataclass
class ListQuery:
    """A list view's query string, read forgivingly: a bad value becomes a message, not a 422."""

    filters: TaskFilter
    sort: str
    cursor: str | None
    page: int
    limit: int
    picked: bool | None
    raw: dict[str, str]
    problems: list[str]


MAX_PAGE = 10**6  # a page number beyond any list; larger ones are not worth a database round trip


def _whole(text: str) -> int | None:
    """A small positive whole number typed in the address bar, or None ("²" is a digit to
    `str.isdigit`, not to `int`; 10**20 is no page)."""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 and int(text) > 0 else None


def read_list_query(params: Mapping[str, str]) -> ListQuery:
    raw = {k: str(params.get(k, "")).strip() for k in
           ("process", "key", "due", "priority", "sla", "q", "sort", "cursor", "page", "limit", "picked")}
    problems = []
    due = None
    if raw["due"]:
        try:
            due = _parse_due(raw["due"])
        except ValueError:
            problems.append(f"“Due on or before” must be a date like 2026-01-31, not {raw['due']!r}.")
            raw["due"] = ""
    prio = None
    if raw["priority"]:
        try:
            prio = parse_priority(raw["priority"])
        except ValueError:
            problems.append(f"“Priority” must be High or Normal or higher, not {raw['priority']!r}.")
            raw["priority"] = ""
    if raw["sla"] and raw["sla"] not in SLA_STATUSES:
        problems.append(f"SLA status must be one of {', '.join(SLA_STATUSES)}.")
        raw["sla"] = ""
    sort = raw["sort"] if raw["sort"] in SORTS else "due"
    raw["sort"] = sort
    limit = _whole(raw["limit"]) if _whole(raw["limit"]) in PAGE_SIZES else DEFAULT_PAGE_SIZE
    page = min(_whole(raw["page"]) or 1, MAX_PAGE)
    picked = {"yes": True, "no": False}.get(raw["picked"])
    filters = TaskFilter(
        process=raw["process"] or None, business_key=raw["key"] or None, due_before=due, priority_up_to=prio,
        sla_status=raw["sla"] or None, text=raw["q"] or None,
    )
    return ListQuery(filters, sort, raw["cursor"] or None, page if raw["cursor"] else 1, limit, picked, raw, problems)


def _parse_due(text: str) -> datetime:
    """A date means the end of that day (UTC); a datetime-local value is taken as UTC."""
    if len(text) == 10:
        day = datetime.strptime(text, "%Y-%m-%d").date()
        return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class ViewSpec:
    """One of the list pages."""

    key: str  # mine, available, queue, closed
    title: str
    path: str
    fetch: Callable[[str, ListQuery], Page]
    bulk: tuple[str, ...] = ("pick", "release", "route")
    sortable: bool = True
    queue: str | None = None


# -- the router ----------------------------------------------------------------------------

def build_router(engine: Engine, worklist: Worklist, settings: Any = None) -> APIRouter:
    """The pages; `install(app, settings)` must have added the session middleware."""
    return _Pages(engine, worklist, settings).router


class _Pages:
    def __init__(self, engine: Engine, worklist: Worklist, settings: Any) -> None:
        self.engine = engine
        self.wl = worklist
        self.title = setting(settings, "title", "crmflow") or "crmflow"
        self.templates = Jinja2Templates(directory=str(TEMPLATES))
        env = self.templates.env
        env.filters.update(span=fmt_span, compact=compact, delta=delta_text, ago=self._ago, until=self._until,
                           priority=priority_label, readable=readable, money=fmt_money, show=show_value)
        install_time_filters(env)
        env.globals.update(event_labels=EVENT_LABELS, sort_labels=SORT_LABELS, sla_statuses=SLA_STATUSES,
                           priority_filters=PRIORITY_FILTERS, max_options=MAX_OPTIONS,
                           page_sizes=PAGE_SIZES, static=STATIC_PATH)
        self.router = APIRouter()
        r = self.router
        guard = Guard(worklist.authz, self._user, instances=worklist.instances)
        task_rule = "the worklist service checks the task: its queue's work/supervise, candidates, assignee"
        html = HTMLResponse
        r.add_api_route("/login", self.login_form, methods=["GET"], response_class=html, dependencies=[public()])
        r.add_api_route("/login", self.login, methods=["POST"], response_class=html, dependencies=[public()])
        r.add_api_route("/logout", self.logout, methods=["POST"], dependencies=[public("ends the caller's session")])
        mine = guard.login("the caller's own tasks and queues")
        r.add_api_route("/", self.my_work, methods=["GET"], response_class=html, dependencies=[mine])
        r.add_api_route("/available", self.available, methods=["GET"], response_class=html, dependencies=[mine])
        r.add_api_route("/queues/{name}", self.queue, methods=["GET"], response_class=html,
                        dependencies=[guard.inside("read", "queue:{name}", "the worklist service refuses")])
        r.add_api_route("/closed", self.closed, methods=["GET"], response_class=html, dependencies=[mine])
        r.add_api_route("/bulk", self.bulk, methods=["POST"],
                        dependencies=[guard.inside("work", "queue:{queue of each task}", "per task; " + task_rule)])
        r.add_api_route("/tasks/{task_id}", self.task, methods=["GET"], response_class=html,
                        dependencies=[guard.inside("read", "queue:{task_id}", task_rule)])
        r.add_api_route("/tasks/{task_id}/{action}", self.task_action, methods=["POST"],
                        dependencies=[guard.inside("work", "queue:{task_id}", "per action; " + task_rule)])
        r.add_api_route("/instances/{instance_id}", self.instance, methods=["GET"], response_class=html,
                        dependencies=[guard.inside("read", "instances:{instance_id}", "or involvement; the page "
                                                   "shows the refusal, and hides variables without read-data")])
        self.console = ConsolePages(self)
        self.console.install(guard)
        r.add_api_route("/settings", self.settings_form, methods=["GET"], response_class=html,
                        dependencies=[guard.login("the caller's own settings")])
        r.add_api_route("/settings", self.save_settings, methods=["POST"],
                        dependencies=[guard.login("the caller's own settings")])

    def _ago(self, value: datetime | None) -> str:
        """'5 h ago', '2 d ago': the largest unit only, for table cells."""
        if value is None:
            return "—"
        span = fmt_span((self.engine.now() - ensure_utc(value)).total_seconds())
        return "just now" if span == "under a minute" else " ".join(span.split(" ")[:2]) + " ago"

    def _until(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        left = (ensure_utc(value) - self.engine.now()).total_seconds()
        return f"in {fmt_span(left)}" if left >= 0 else f"{fmt_span(left)} overdue"

    # -- session --------------------------------------------------------------------------
    def _user(self, request: Request) -> str:
        return logged_in_user(request, self.wl.accounts)

    @staticmethod
    def _csrf(request: Request) -> str:
        return csrf_token(request)

    @staticmethod
    def _csrf_ok(request: Request, form: FormData) -> bool:
        expected = request.session.get("csrf")
        return bool(expected) and secrets.compare_digest(str(form.get("csrf", "")), str(expected))

    @staticmethod
    def _flash(request: Request, text: str, kind: str = "ok") -> None:
        request.session["flash"] = [*request.session.get("flash", []), {"kind": kind, "text": text}]

    def _render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        user = request.session.get("user")
        context.setdefault("counts", None)
        base = {
            "title": self.title, "user": user, "csrf": self._csrf(request),
            "flashes": request.session.pop("flash", []), "path": request.url.path, "now": self.engine.now(),
            "tz": zone_of(self.wl.accounts.time_zone_of(user)) if user else zone_of(None),
            "console": bool(user) and operates_anywhere(self, user),
        }
        return self.templates.TemplateResponse(request, template, {**base, **context}, status_code=status)

    def _refusal(self, request: Request, user: str | None, err: EngineError, heading: str = "Not possible") -> Any:
        counts = self._counts(user) if user else None
        return self._render(request, "message.html", _status_of(err), heading=heading,
                            message=without_server_paths(str(err)), counts=counts)

    def _counts(self, user: str) -> Any:
        """The sidebar: counts per queue, and which queue pages this user may open."""
        try:
            counts = self.wl.counts(user)
            actor = self.wl.actor(user)
        except EngineError:
            return None
        openable = {q.queue for q in counts.queues} if actor.admin else {
            *self.wl.member_queues(actor), *self.wl.supervised_queues(actor)}
        counts.openable = openable  # type: ignore[attr-defined]
        return counts

    # -- login ----------------------------------------------------------------------------
    def login_form(self, request: Request) -> HTMLResponse:
        nxt = local_path(request.query_params.get("next"))
        return self._render(request, "login.html", next=nxt, username="", error=None)

    async def login(self, request: Request) -> Response:
        form = await request.form()
        name = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        nxt = local_path(str(form.get("next", "")))
        if not self._csrf_ok(request, form):
            return self._render(request, "login.html", 400, next=nxt, username=name,
                                error="Your session expired. Please log in again.")
        address = request.client.host if request.client else None
        throttle = LoginThrottleStore(self.engine)
        locked = await run_in_threadpool(throttle.locked, name, address)
        if locked is not None:
            return self._render(request, "login.html", 429, next=nxt, username=name, error=locked.message())
        user = await run_in_threadpool(self.wl.accounts.verify_password, name, password) if name else None
        if user is None:
            await run_in_threadpool(throttle.failed, name, address)
            return self._render(request, "login.html", 401, next=nxt, username=name,
                                error="Wrong user name or password (or the account is deactivated).")
        await run_in_threadpool(throttle.succeeded, name)
        sid = await run_in_threadpool(SessionStore(self.engine, session_limits(request)).start, user.name)
        request.session.clear()
        request.session["sid"] = sid
        request.session["user"] = user.name
        self._flash(request, f"Welcome, {user.display_name or user.name}.")
        return RedirectResponse(nxt, status_code=303)

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        if request.session.get("user") and not self._csrf_ok(request, form):
            return RedirectResponse("/", status_code=303)
        await run_in_threadpool(SessionStore(self.engine, session_limits(request)).end, request.session.get("sid"))
        request.session.clear()
        self._flash(request, "You are logged out.")
        return RedirectResponse("/login", status_code=303)

    # -- list views -----------------------------------------------------------------------
    def my_work(self, request: Request) -> HTMLResponse:
        spec = ViewSpec("mine", "My work", "/", lambda u, q: self.wl.my_work(
            u, q.filters, sort=q.sort, limit=q.limit, cursor=q.cursor, with_total=True), bulk=("release", "route"))
        return self._list(request, spec)

    def available(self, request: Request) -> HTMLResponse:
        spec = ViewSpec("available", "Available to me", "/available", lambda u, q: self.wl.available(
            u, q.filters, sort=q.sort, limit=q.limit, cursor=q.cursor, with_total=True), bulk=("pick", "route"))
        return self._list(request, spec)

    def queue(self, request: Request, name: str) -> HTMLResponse:
        spec = ViewSpec("queue", f"Queue {name}", f"/queues/{name}", lambda u, q: self.wl.queue(
            name, q.filters, user=u, picked=q.picked, sort=q.sort, limit=q.limit, cursor=q.cursor, with_total=True,
        ), queue=name)
        return self._list(request, spec)

    def closed(self, request: Request) -> HTMLResponse:
        spec = ViewSpec("closed", "Closed by me", "/closed", lambda u, q: self.wl.closed_by(
            u, q.filters, limit=q.limit, cursor=q.cursor, with_total=True), bulk=(), sortable=False)
        return self._list(request, spec)

    def _list(self, request: Request, spec: ViewSpec) -> HTMLResponse:
        user = self._user(request)
        query = read_list_query(request.query_params)
        counts = self._counts(user)
        try:
            page = spec.fetch(user, query)
        except EngineError as err:
            if isinstance(err, InvalidInput) and query.cursor:  # a stale or edited cursor: show page one
                query.problems.append(f"{err} — showing the first page.")
                query.cursor, query.page = None, 1
                page = spec.fetch(user, query)
            else:
                return self._refusal(request, user, err, heading=spec.title)
        rows = [(item, countdown(item)) for item in page.items]
        first = (query.page - 1) * query.limit + 1
        links = self._page_links(spec, query, page)
        return self._render(
            request, "list.html", spec=spec, page=page, rows=rows, query=query, counts=counts,
            first=first, last=first + len(page.items) - 1, filtered=_filtered(query.filters), links=links,
            queues=self.wl.known_queues(),
            processes=self._process_ids(), back=str(request.url.path) + (
                f"?{request.url.query}" if request.url.query else ""),
        )

    def _page_links(self, spec: ViewSpec, query: ListQuery, page: Page) -> dict[str, str | None]:
        keep = {k: v for k, v in query.raw.items() if k not in ("cursor", "page")}
        if keep.get("sort") == "due":
            keep.pop("sort")
        sort_links = {s: with_query(spec.path, **{**keep, "sort": s}) for s in SORTS}
        return {
            "first": with_query(spec.path, **keep) if query.page > 1 else None,
            "next": with_query(spec.path, **keep, cursor=page.next_cursor, page=query.page + 1)
            if page.next_cursor else None,
            **{f"sort_{s}": link for s, link in sort_links.items()},
        }

    def _process_ids(self) -> list[str]:
        try:
            return sorted({v.process_id for v in self.engine.list_definitions()})
        except EngineError:
            return []

    async def bulk(self, request: Request) -> Response:
        user = self._user(request)
        form = await request.form()
        back = local_path(str(form.get("back", "")))
        if not self._csrf_ok(request, form):
            self._flash(request, "Your session expired; nothing was changed. Please try again.", "error")
            return RedirectResponse(back, status_code=303)
        ids = [str(i) for i in form.getlist("task_id") if str(i).strip()]
        action = str(form.get("action", ""))
        if not ids:
            self._flash(request, "Select at least one task first.", "error")
            return RedirectResponse(back, status_code=303)
        queue = str(form.get("route_queue", "")).strip() or None
        to = str(form.get("route_to", "")).strip() or None
        ops: dict[str, Callable[[], Any]] = {
            "pick": lambda: self.wl.pick_many(ids, user),
            "release": lambda: self.wl.release_many(ids, user),
            "route": lambda: self.wl.route_many(ids, user, queue=queue, to=to),
        }
        if action not in ops:
            self._flash(request, "Choose Pick, Release or Route.", "error")
            return RedirectResponse(back, status_code=303)
        if action == "route" and not (queue or to):
            self._flash(request, "To route, choose a queue or name a person.", "error")
            return RedirectResponse(back, status_code=303)
        results = await run_in_threadpool(ops[action])
        done = [r for r in results if r.ok]
        verb = {"pick": "Picked", "release": "Released", "route": "Routed"}[action]
        if done:
            self._flash(request, f"{verb} {len(done)} task{'s' if len(done) != 1 else ''}.")
        for r in results:
            if not r.ok:
                self._flash(request, r.message or f"task {r.task_id}: refused", "error")
        return RedirectResponse(back, status_code=303)

    # -- the task page --------------------------------------------------------------------
    def task(self, request: Request, task_id: str) -> HTMLResponse:
        user = self._user(request)
        return self._task_page(request, user, task_id)

    def _task_page(
        self, request: Request, user: str, task_id: str, *, status: int = 200, error: str | None = None,
        field_errors: Mapping[str, str] | None = None, raw: FormData | None = None,
    ) -> HTMLResponse:
        try:
            item = self.wl.get(task_id, user)
            perms = self.wl.permissions(task_id, user)
            rendered = self.wl.form(task_id, user)
        except EngineError as err:
            return self._refusal(request, user, err, heading="Task")
        instance = self.engine.get_instance(item.instance_id, with_history=True)
        fields = build_fields(rendered.schema, rendered.values, rendered.ui_schema, field_errors, raw,
                              choices=rendered.lookups)
        labels = field_labels(fields)
        summary = [(name, labels.get(name, name), msg) for name, msg in (field_errors or {}).items()]
        return self._render(
            request, "task.html", status, item=item, perms=perms, form=rendered, fields=fields, error=error,
            summary=summary, instance=instance, diagram=self._diagram(instance),
            records=self.wl.record_summaries(instance.data),
            countdown=countdown(item), counts=self._counts(user),
            queues=self.wl.known_queues(), comments=[h for h in instance.history if h.event == "comment"],
        )

    async def task_action(self, request: Request, task_id: str, action: str) -> Response:
        user = self._user(request)
        form = await request.form()
        if not self._csrf_ok(request, form):
            return await run_in_threadpool(
                lambda: self._task_page(request, user, task_id, status=400,
                                        error="Your session expired; nothing was changed. Please try again."))
        handlers: dict[str, Callable[[], str]] = {
            "pick": lambda: self._do_pick(task_id, user),
            "release": lambda: self._do_release(task_id, user),
            "route": lambda: self._do_route(task_id, user, form),
            "comment": lambda: self._do_comment(task_id, user, form),
        }
        if action == "complete":
            return await run_in_threadpool(self._complete, request, user, task_id, form)
        if action not in handlers:
            return self._render(request, "message.html", 404, heading="Not found",
                                message=f"There is no action {action!r} for tasks.", counts=None)
        try:
            message = await run_in_threadpool(handlers[action])
        except EngineError as err:
            status, text = _status_of(err), without_server_paths(str(err))
            return await run_in_threadpool(
                lambda: self._task_page(request, user, task_id, status=status, error=text))
        self._flash(request, message)
        after = "/" if action == "route" and not self._can_view(task_id, user) else f"/tasks/{task_id}"
        return RedirectResponse(after, status_code=303)

    def _can_view(self, task_id: str, user: str) -> bool:
        try:
            return self.wl.permissions(task_id, user).view
        except EngineError:
            return False

    def _do_pick(self, task_id: str, user: str) -> str:
        task = self.wl.pick(task_id, user)
        return f"You picked “{task.name or task.element_id}”."

    def _do_release(self, task_id: str, user: str) -> str:
        task = self.wl.release(task_id, user)
        return f"Released “{task.name or task.element_id}” back to queue {task.queue}."

    def _do_route(self, task_id: str, user: str, form: FormData) -> str:
        queue = str(form.get("route_queue", "")).strip() or None
        to = str(form.get("route_to", "")).strip() or None
        task = self.wl.route(task_id, user, queue=queue, to=to)
        where = f"queue {task.queue}" + (f", assigned to {task.assignee}" if task.assignee else "")
        return f"Routed “{task.name or task.element_id}” to {where}."

    def _do_comment(self, task_id: str, user: str, form: FormData) -> str:
        self.wl.comment(task_id, user, str(form.get("text", "")))
        return "Comment added."

    def _complete(self, request: Request, user: str, task_id: str, form: FormData) -> Response:
        rows_action = str(form.get(ROWS_ACTION, "")).strip()
        if rows_action:  # "Add a row" / "Remove row N" without script: show the form again, changed
            return self._task_page(request, user, task_id, raw=change_rows(form, rows_action))
        try:
            rendered = self.wl.form(task_id, user)
        except EngineError as err:
            return self._refusal(request, user, err, heading="Task")
        data = self._submitted(rendered, form)
        try:
            task = self.wl.get(task_id, user)
            after = self.wl.complete(task_id, user, data)
        except FormInvalid as err:
            errors = _errors_by_field(err, data)
            return self._task_page(request, user, task_id, status=422, field_errors=errors, raw=form)
        except InputRefused as err:  # e.g. text that is not valid Unicode: shown at its field
            field = err.field.removeprefix("data.")
            return self._task_page(request, user, task_id, status=422, field_errors={field: err.message}, raw=form)
        except EngineError as err:
            return self._task_page(request, user, task_id, status=_status_of(err),
                                   error=without_server_paths(str(err)), raw=form)
        key = f" ({task.business_key})" if task.business_key else ""
        failed = [i for i in after.incidents if i.state == "open"]
        if failed:  # the form was fine, but a step after it failed: say so, and show where
            steps = "; ".join(f"“{i.element_name or i.element_id}” failed: {i.message}" for i in failed)
            self._flash(request, f"Completed “{task.name or task.element_id}”{key}, but the next step did not run: "
                                 f"{steps}. The process waits until this is fixed and retried.", "error")
            return RedirectResponse(f"/instances/{after.id}", status_code=303)
        self._flash(request, f"Completed “{task.name or task.element_id}”{key}.")
        return RedirectResponse("/", status_code=303)

    @staticmethod
    def _submitted(rendered: RenderedForm, form: FormData) -> dict[str, Any]:
        if not rendered.schema:
            return {}
        fields = build_fields(rendered.schema, {}, rendered.ui_schema, None, form, choices=rendered.lookups)
        return parse_submission(fields, form, rendered.schema)

    # -- the user's own settings -----------------------------------------------------------
    def settings_form(self, request: Request, error: str | None = None, status: int = 200) -> HTMLResponse:
        user = self._user(request)
        return self._render(request, "settings.html", status, heading="Your settings", counts=self._counts(user),
                            current=self.wl.accounts.time_zone_of(user) or "", zones=time_zones(), error=error)

    async def save_settings(self, request: Request) -> Response:
        user = self._user(request)
        form = await request.form()
        if not self._csrf_ok(request, form):
            return self.settings_form(request, "Your session expired; nothing was changed. Please try again.", 400)
        try:
            zone = str(form.get("time_zone", "")).strip() or None
            await run_in_threadpool(self.wl.accounts.set_time_zone, user, zone)
        except EngineError as err:
            return self.settings_form(request, str(err), _status_of(err))
        self._flash(request, f"Times are now shown in {zone or 'UTC'} (UTC when you point at them).")
        return RedirectResponse("/settings", status_code=303)

    # -- the instance page ----------------------------------------------------------------
    def instance(self, request: Request, instance_id: str) -> HTMLResponse:
        user = self._user(request)
        if not (instance_id.isascii() and instance_id.isdigit() and 0 < int(instance_id) <= 2**31 - 1):
            return self._refusal(request, user, NotFound(f"instance {instance_id!r} does not exist"), "Instance")
        try:
            detail = self.engine.get_instance(int(instance_id), with_history=True)
            self.wl.instances.require(user, READ, detail.id)
            hidden = not self.wl.instances.may(user, READ_DATA, detail.id)
            detail = self.wl.instances.shown(user, detail)
        except EngineError as err:
            return self._refusal(request, user, err, heading="Instance")
        return self._render(request, "instance.html", instance=detail, diagram=self._diagram(detail),
                            counts=self._counts(user), data_hidden=hidden,
                            **self.console.instance_context(request, user, detail),
                            records=[] if hidden else self.wl.record_summaries(detail.data))

    def _diagram(self, detail: InstanceDetail) -> dict[str, Any]:
        """The instance's diagram as inline SVG with its marks, or a sentence saying why not."""
        try:
            xml = self.engine.diagram_source(detail.process_id, detail.version)
            marks = instance_marks(detail)
            svg = scaled_svg(render_svg(xml, marks, process_id=detail.process_id), DIAGRAM_SCALE)
            return {"svg": svg, "marks": marks, "error": None}
        except (EngineError, ValueError) as err:
            log.warning("diagram of instance %s: %s", detail.id, err)
            return {"svg": None, "marks": {}, "error": without_server_paths(str(err))}


def _filtered(f: TaskFilter) -> bool:
    return any(v not in (None, "") for v in vars(f).values())


def _status_of(err: EngineError) -> int:
    return next((s for cls, s in _STATUS.items() if isinstance(err, cls)), 400)


def _errors_by_field(err: FormInvalid, data: Mapping[str, Any]) -> dict[str, str]:
    """field → message; a field left empty (sent as null) that the form needs anyway 'is required'."""
    out: dict[str, str] = {}
    for e in err.errors:
        message = "is required" if _value_at(data, e.field) is None else e.message
        if message not in out.get(e.field, "").split("; "):
            out[e.field] = f"{out[e.field]}; {message}" if e.field in out else message
    return out


def _value_at(data: Any, path: str) -> Any:
    """The submitted value at `a.0.b`, or a marker when the path is absent (absent is not null)."""
    node = data
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return MISSING
    return node

