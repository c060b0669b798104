"""The operator console's web pages (issue 16): incidents grouped, the instance search, timers,
and the actions on the instance page (cancel, suspend, resume, edit variables, move a token with
a dry run first, retry). Operators and admins only: `operate` on `instances:PROCESS`.

Each page and action calls the engine facade (the same methods as the API and the CLI); a
refusal or a wrong state is shown on the page, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlencode

from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from crmflow.web.pages.base import scaled_svg
from engine import EngineError, InvalidInput, NotFound, heatmap
from engine.clock import ensure_utc
from engine.drawing import render_svg
from engine.views import ModificationPlan
from worklists.incident_groups import incident_groups, retry_group
from worklists.instance_search import SORTS, STATUSES, InstanceQuery, search
from worklists.permissions import OPERATE, READ


class _Pages(Protocol):
    """What the console uses of the worklist pages it is installed on (`worklist._Pages`); a
    protocol, so that this module does not import the one that installs it."""

    router: Any
    wl: Any
    engine: Any
    base: str

    def _user(self, request: Any) -> str: ...
    def _csrf_ok(self, request: Any, form: Any) -> bool: ...
    def _flash(self, request: Any, text: str, kind: str = "ok") -> None: ...
    def _render(self, request: Any, template: str, status: int = 200, **context: Any) -> Any: ...
    def _refusal(self, request: Any, user: str | None, err: Any, heading: str = "Not possible") -> Any: ...
    def _counts(self, user: str) -> Any: ...

FINISHED = ("completed", "terminated", "cancelled")
ACTIONS = ("cancel", "suspend", "resume", "variables", "modify", "retry")


def operates_anywhere(pages: _Pages, user: str) -> bool:
    """Show the console to users who may operate on some process's instances."""
    try:
        who = pages.wl.authz.principals(user)
    except EngineError:
        return False
    pids = {v.process_id for v in pages.engine.list_definitions()}
    return any(pages.wl.authz.decide(who, OPERATE, f"instances:{p}").allowed for p in pids)


class ConsolePages:
    """Routes under /console and the instance actions, rendered with the pages' templates."""

    def __init__(self, pages: _Pages) -> None:
        self.p = pages
        self.engine = pages.engine
        self.wl = pages.wl

    def install(self, guard: Any) -> None:
        r, html = self.p.router, HTMLResponse
        listed = guard.login("lists only instances the caller may read; actions need operate")
        r.add_api_route("/console/incidents", self.incidents, methods=["GET"], response_class=html,
                        dependencies=[listed])
        r.add_api_route("/console/incidents/retry-group", self.retry_group, methods=["POST"],
                        dependencies=[guard.inside(OPERATE, "instances:{process_id}", "the form names the process")])
        r.add_api_route("/console/instances", self.instances, methods=["GET"], response_class=html,
                        dependencies=[listed])
        r.add_api_route("/console/timers", self.timers, methods=["GET"], response_class=html, dependencies=[listed])
        r.add_api_route("/console/timers/{timer_id}/fire", self.fire, methods=["POST"],
                        dependencies=[guard.inside(OPERATE, "instances:{timer_id}", "the timer's instance's process")])
        r.add_api_route("/console/processes", self.processes, methods=["GET"], response_class=html,
                        dependencies=[guard.login("only processes the caller may read (process:ID)")])
        r.add_api_route("/console/processes/{process_id}", self.process, methods=["GET"], response_class=html,
                        dependencies=[guard.need(READ, "process:{process_id}")])
        r.add_api_route("/console/processes/{process_id}/migrate", self.migrate, methods=["POST"],
                        dependencies=[guard.need(OPERATE, "instances:{process_id}",
                                                 doing="migrate the instances of {process_id}")])
        r.add_api_route("/instances/{instance_id}/{action}", self.action, methods=["POST"],
                        dependencies=[guard.need_instance(OPERATE)])

    # -- helpers ------------------------------------------------------------------------------
    def _may_operate(self, user: str, instance_id: int) -> bool:
        try:
            return self.wl.instances.may(user, OPERATE, instance_id)
        except EngineError:
            return False

    async def _form(self, request: Request) -> tuple[dict[str, str], bool]:
        form = await request.form()
        return {k: str(v) for k, v in form.items()}, self.p._csrf_ok(request, form)

    def _expired(self, request: Request, back: str) -> Response:
        self.p._flash(request, "Your session expired; nothing was changed. Please try again.", "error")
        return RedirectResponse(back, status_code=303)

    # -- incidents --------------------------------------------------------------------------------
    def incidents(self, request: Request) -> HTMLResponse:
        user = self.p._user(request)
        groups = incident_groups(self.engine, self.wl, user)
        who = self.wl.authz.principals(user)
        operable = {g.process_id for g in groups
                    if self.wl.authz.decide(who, OPERATE, f"instances:{g.process_id}").allowed}
        return self.p._render(request, "console_incidents.html", heading="Incidents", groups=groups,
                              operable=operable, counts=self.p._counts(user))

    async def retry_group(self, request: Request) -> Response:
        user = self.p._user(request)
        form, ok = await self._form(request)
        if not ok:
            return self._expired(request, "/console/incidents")
        process_id, element_id = form.get("process_id", ""), form.get("element_id", "")

        def run() -> str:
            self.wl.authz.require(user, OPERATE, f"instances:{process_id}",
                                  doing=f"retry the incidents of {process_id} at {element_id}")
            retried, failing, errors = retry_group(self.engine, process_id, element_id)
            return (f"Retried {len(retried) + len(failing)} at {element_id}: {len(retried)} went on, "
                    f"{len(failing)} still failing" + (f", {len(errors)} refused" if errors else "") + ".")

        try:
            self.p._flash(request, await run_in_threadpool(run))
        except EngineError as err:
            return self.p._refusal(request, user, err, heading="Incidents")
        return RedirectResponse("/console/incidents", status_code=303)

    # -- instance search ----------------------------------------------------------------------------
    def instances(self, request: Request) -> HTMLResponse:
        user = self.p._user(request)
        try:
            query = InstanceQuery.from_params(dict(request.query_params))
            result = search(self.engine, self.wl, user, query)
        except EngineError as err:
            return self.p._refusal(request, user, err, heading="Instances")
        params = {k: v for k, v in request.query_params.items() if k != "page"}
        pages = {
            "prev": f"?{urlencode({**params, 'page': query.page - 1})}" if query.page > 1 else None,
            "next": f"?{urlencode({**params, 'page': query.page + 1})}" if result.more else None,
        }
        processes = sorted({v.process_id for v in self.engine.list_definitions()})
        base = {k: v for k, v in params.items() if k != "status"}
        status_links = {s: "?" + urlencode({**base, "status": s}) for s in STATUSES}
        return self.p._render(request, "console_instances.html", heading="Instances", q=query, result=result,
                              statuses=STATUSES, sorts=SORTS, processes=processes, pages=pages,
                              status_links=status_links, counts=self.p._counts(user))

    # -- timers -----------------------------------------------------------------------------------
    def timers(self, request: Request) -> HTMLResponse:
        user = self.p._user(request)
        rows = self.engine.list_timers()
        shown = self.wl.instances.visible_ids(user, {t.instance_id for t in rows})
        now = self.engine.now()
        timers = [{"timer": t, "overdue": ensure_utc(t.due_at) <= now,
                   "operable": self._may_operate(user, t.instance_id)} for t in rows if t.instance_id in shown]
        return self.p._render(request, "console_timers.html", heading="Timers", timers=timers,
                              overdue=sum(t["overdue"] for t in timers), counts=self.p._counts(user))

    async def fire(self, request: Request, timer_id: str) -> Response:
        user = self.p._user(request)
        form, ok = await self._form(request)
        if not ok:
            return self._expired(request, "/console/timers")

        def run() -> str:
            timer = next((t for t in self.engine.list_timers() if str(t.id) == timer_id), None)
            if timer is None:
                raise InvalidInput(f"timer {timer_id} is not pending any more (fired or cancelled)")
            self.wl.instances.require(user, OPERATE, timer.instance_id, doing=f"fire timer {timer_id}")
            self.engine.fire_timer_now(timer.id, user=user)
            return f"Fired “{timer.name or timer.element_id}” of instance {timer.instance_id}."

        try:
            self.p._flash(request, await run_in_threadpool(run))
        except EngineError as err:
            return self.p._refusal(request, user, err, heading="Timers")
        return RedirectResponse(form.get("back") or "/console/timers", status_code=303)

    # -- processes ------------------------------------------------------------------------------------
    def processes(self, request: Request) -> HTMLResponse:
        user = self.p._user(request)
        versions = self.engine.list_definitions()
        readable = set(self.wl.authz.filter_names(user, READ, "process", {v.process_id for v in versions}))
        rows = []
        for pid in sorted(readable):
            mine = [v for v in versions if v.process_id == pid]
            counts = self.engine.version_counts(pid)
            rows.append({"process_id": pid, "name": mine[-1].name, "latest": max(v.version for v in mine),
                         "versions": len(mine), "instances": sum(sum(c.values()) for c in counts.values()),
                         "running": sum(n for c in counts.values() for s, n in c.items() if s not in FINISHED)})
        return self.p._render(request, "console_processes.html", heading="Processes", rows=rows,
                              counts=self.p._counts(user))

    def process(self, request: Request, process_id: str) -> HTMLResponse:
        user = self.p._user(request)
        try:
            versions = self.engine.list_definitions(process_id)
            if not versions:
                raise NotFound(f"process '{process_id}' is not deployed")
            raw = request.query_params.get("version", "")
            chosen = int(raw) if raw.isdigit() else versions[-1].version
            if chosen not in {v.version for v in versions}:
                raise NotFound(f"process '{process_id}' has no version {chosen}")
            counts = self.engine.version_counts(process_id)
            at = self.engine.element_counts(process_id, chosen)
            xml = self.engine.diagram_source(process_id, chosen)
            svg = scaled(heatmap.overlay(render_svg(xml, process_id=process_id), at))
        except EngineError as err:
            return self.p._refusal(request, user, err, heading="Process")
        may_migrate = self.wl.authz.decide(self.wl.authz.principals(user), OPERATE,
                                           f"instances:{process_id}").allowed
        return self.p._render(request, "console_process.html", heading=process_id, process_id=process_id,
                              versions=versions, chosen=chosen, version_counts=counts, element_counts=at, svg=svg,
                              may_migrate=may_migrate, migration=request.session.pop("migration", None),
                              counts=self.p._counts(user))

    async def migrate(self, request: Request, process_id: str) -> Response:
        user = self.p._user(request)
        back = f"/console/processes/{process_id}"
        form, ok = await self._form(request)
        if not ok:
            return self._expired(request, back)
        raw, dry = form.get("to_version", ""), form.get("dry_run") == "1"
        target = int(raw) if raw.isdigit() else None
        try:
            plans = await run_in_threadpool(
                lambda: self.engine.migrate_all(process_id, target, dry_run=dry, user=user))
        except EngineError as err:
            self.p._flash(request, str(err), "error")
            return RedirectResponse(back, status_code=303)
        moving = [p for p in plans if p.allowed]
        if dry:
            request.session["migration"] = {
                "to_version": target or (plans[0].to_version if plans else None), "moving": len(moving),
                "refused": [{"instance_id": p.instance_id, "reasons": p.reasons[:3]} for p in plans
                            if not p.allowed][:20],
                "refused_count": len(plans) - len(moving)}
            return RedirectResponse(back + "#migrate", status_code=303)
        self.p._flash(request, f"Migrated {len(moving)} instance(s); {len(plans) - len(moving)} stayed "
                               "(the dry run lists why).")
        return RedirectResponse(back, status_code=303)

    # -- instance actions ---------------------------------------------------------------------------
    async def action(self, request: Request, instance_id: str, action: str) -> Response:
        user = self.p._user(request)
        back = f"/instances/{instance_id}"
        form, ok = await self._form(request)
        if not ok:
            return self._expired(request, back)
        if action not in ACTIONS or not instance_id.isdigit():
            return self.p._render(request, "message.html", 404, heading="Not found",
                                  message=f"There is no action {action!r} for instances.", counts=None)
        iid, reason = int(instance_id), form.get("reason") or None
        handlers: dict[str, Callable[[], Any]] = {
            "cancel": lambda: self.engine.cancel_instance(iid, user=user, reason=reason),
            "suspend": lambda: self.engine.suspend_instance(iid, user=user, reason=reason),
            "resume": lambda: self.engine.resume_instance(iid, user=user, reason=reason),
            "variables": lambda: self._variables(iid, user, form),
            "modify": lambda: self.engine.modify_instance(
                iid, form.get("cancel_at") or None, form.get("start_at") or None,
                dry_run=form.get("dry_run") == "1", user=user, reason=reason),
            "retry": lambda: self._retry(iid, form.get("incident_id") or ""),
        }
        try:
            result = await run_in_threadpool(handlers[action])
        except (EngineError, ValueError) as err:
            self.p._flash(request, str(err), "error")
            if action == "variables":
                request.session["variables_draft"] = form.get("variables", "")[:20000]
            return RedirectResponse(back, status_code=303)
        if isinstance(result, ModificationPlan):
            request.session["modification"] = {**result.to_dict(), "cancel_at": form.get("cancel_at") or "",
                                               "start_at": form.get("start_at") or ""}
            if result.dry_run or not result.allowed:
                return RedirectResponse(back + "#modify", status_code=303)
            request.session.pop("modification", None)
            self.p._flash(request, f"Moved: active now {', '.join(result.active_after) or 'nothing'}.")
            return RedirectResponse(back, status_code=303)
        self.p._flash(request, _done(action, result))
        return RedirectResponse(back, status_code=303)

    def _retry(self, iid: int, raw: str) -> Any:
        """Retry an open incident of this instance (the permission was checked on this instance)."""
        ids = {i.id for i in self.engine.list_incidents("open", instance_id=iid)}
        if not raw.isdigit() or int(raw) not in ids:
            raise InvalidInput(f"incident {raw[:20]!r} is not an open incident of instance {iid}")
        return self.engine.retry_incident(int(raw))

    def _variables(self, iid: int, user: str, form: dict[str, str]) -> Any:
        """The whole variables document as edited: changed and new names are set, deleted ones removed."""
        raw = form.get("variables", "")
        try:
            edited = json.loads(raw)
        except json.JSONDecodeError as err:
            raise InvalidInput(f"Variables are not valid JSON: {err.msg} at line {err.lineno} column {err.colno}. "
                               "Nothing was changed.") from None
        if not isinstance(edited, dict):
            raise InvalidInput("Variables must be a JSON object ({…}). Nothing was changed.")
        current = self.engine.get_instance(iid, with_history=False).data
        changed = {k: v for k, v in edited.items() if k not in current or current[k] != v}
        removed = [k for k in current if k not in edited]
        return self.engine.edit_variables(iid, changed, removed, user=user, reason=form.get("reason") or None)

    def instance_context(self, request: Request, user: str, detail: Any) -> dict[str, Any]:
        """What the instance page needs to show the operator's panel (nothing for others)."""
        if not self._may_operate(user, detail.id):
            return {"operate": False}
        return {
            "operate": True,
            "modification": request.session.pop("modification", None),
            "variables_draft": request.session.pop("variables_draft", None),
            "variables_json": json.dumps(detail.data, indent=2, ensure_ascii=False, default=str),
            "elements": _elements(self.engine, detail.process_id, detail.version),
        }


def scaled(svg: str, scale: float = 0.6) -> str:
    return scaled_svg(svg, scale)


def _done(action: str, result: Any) -> str:
    return {
        "cancel": "Cancelled: its open tasks left every worklist.",
        "suspend": "Suspended: no timers, jobs, completions or messages until resumed.",
        "resume": f"Resumed: the instance is {getattr(result, 'status', '')} again.",
        "variables": "Variables saved (old and new values are in the history). Retry the failed step to go on.",
        "retry": f"Retried: the instance is {getattr(result, 'status', '')}.",
    }[action]


def _elements(engine: Any, process_id: str, version: int) -> list[tuple[str, str]]:
    """(element id, label) of the activities and events a token can start at, in diagram order."""
    from engine.xml import parse_bytes

    try:
        root = parse_bytes(engine.diagram_source(process_id, version), f"{process_id}.bpmn").getroot()
    except (EngineError, ValueError):
        return []
    wanted = ("Task", "task", "subProcess", "callActivity", "CatchEvent")
    found = []
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        tag = el.tag.rsplit("}", 1)[-1]
        if el.get("id") and any(tag.endswith(w) for w in wanted) and "boundary" not in tag:
            name = el.get("name")
            found.append((el.get("id"), f"{name} ({el.get('id')})" if name else el.get("id")))
    return found

