"""The workbench's pages and JSON calls, mounted beside the worklist pages (same login, same CSRF).

Every route needs `deploy` on `process:ID` (docs/permissions.md: edit drafts and deploy), declared
with the router's Guard; decision tables need `deploy` on every process (`process:*`): a table is
shared by the processes that call it. The page posts form fields (`csrf`, `xml`), so the checks
are the pages' own; answers are JSON the page script draws.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from crmflow.web.pages.base import (
    STATIC_PATH,
    TEMPLATES,
    csrf_token,
    delta_text,
    install_time_filters,
    logged_in_user,
    setting,
    zone_of,
)
from crmflow.web.pages.fields import build_fields
from crmflow.workbench import catalog, checks, deploying, dryrun, trial
from crmflow.workbench.drafts import MAX_BYTES, DraftStore
from crmflow.workbench.workspace import safe_file_name
from engine import Conflict, Engine, EngineError, Forbidden, InvalidInput, NotFound
from worklists.forms import initial_values
from worklists.permissions.routes import Guard
from worklists.service import Worklist

DEPLOY = "deploy"
DIAGRAM_BODY_BYTES = 3 * MAX_BYTES + 64 * 1024
"""A request carrying a diagram as a form field: URL-encoding can triple its bytes (%XX), plus the
token and other fields. The route itself refuses a diagram over MAX_BYTES (413)."""
BODY_LIMITS = [(r"/workbench/processes/[^/]+/(check|drafts|scenarios|preview|deploy)", DIAGRAM_BODY_BYTES),
               (r"/workbench/decisions/[^/]+/drafts", DIAGRAM_BODY_BYTES)]
"""The routes that take a diagram, for `crmflow.web.hardening.RequestLimits`."""
_STATUS = {NotFound: 404, Forbidden: 403, Conflict: 409, InvalidInput: 422}


def build_router(engine: Engine, worklist: Worklist, settings: Any = None, processes: Path | None = None) -> APIRouter:
    """The workbench; the app must have the pages' `install` (sessions, static files, login redirect)."""
    if processes is None:
        from crmflow.settings import processes_folder

        processes = processes_folder()
    return _Workbench(engine, worklist, settings, processes).router


class _Workbench:
    def __init__(self, engine: Engine, worklist: Worklist, settings: Any, processes: Path) -> None:
        self.engine, self.wl, self.processes = engine, worklist, processes
        self.drafts = DraftStore(engine)
        self.dry_runs = dryrun.DryRuns()
        self.title = setting(settings, "title", "crmflow") or "crmflow"
        self.templates = Jinja2Templates(directory=str(TEMPLATES))
        install_time_filters(self.templates.env)
        self.templates.env.filters["delta"] = delta_text  # _macros.html (the form fields) uses it
        self.templates.env.globals.update(static=STATIC_PATH)
        self.router = r = APIRouter()
        guard = Guard(worklist.authz, self._user)
        edit = guard.need(DEPLOY, "process:{process_id}", doing="edit process {process_id}")
        tables = guard.need(DEPLOY, "process:*", "decision tables are shared by the processes that call them",
                            doing="edit decision table {table}")
        base = "/workbench/processes/{process_id}"
        r.add_api_route("/workbench", self.index, methods=["GET"], response_class=HTMLResponse,
                        dependencies=[guard.login("lists only the processes the user may deploy")])
        r.add_api_route(base, self.modeler, methods=["GET"], response_class=HTMLResponse, dependencies=[edit])
        r.add_api_route(base + "/source", self.source, methods=["GET"], dependencies=[edit])
        r.add_api_route(base + "/catalog", self.catalog, methods=["GET"], dependencies=[edit])
        r.add_api_route(base + "/check", self.check, methods=["POST"], dependencies=[edit])
        r.add_api_route(base + "/drafts", self.save_draft, methods=["POST"], dependencies=[edit])
        r.add_api_route(base + "/drafts/{draft_id}/file", self.download, methods=["GET"], dependencies=[edit])
        r.add_api_route(base + "/scenarios", self.scenarios, methods=["POST"], dependencies=[edit])
        r.add_api_route(base + "/preview", self.preview, methods=["POST"], dependencies=[edit])
        r.add_api_route(base + "/deploy", self.deploy, methods=["POST"], dependencies=[edit])
        r.add_api_route(base + "/dry-runs", self.start_dry_run, methods=["POST"], dependencies=[edit])
        r.add_api_route(base + "/dry-runs/{run_id}", self.dry_run_view, methods=["GET"], dependencies=[edit])
        r.add_api_route(base + "/dry-runs/{run_id}/{action}", self.dry_run_act, methods=["POST"],
                        dependencies=[edit])
        r.add_api_route(base + "/form-preview", self.form_preview, methods=["GET"], response_class=HTMLResponse,
                        dependencies=[edit])
        r.add_api_route("/workbench/decisions/{table}", self.decision_page, methods=["GET"],
                        response_class=HTMLResponse, dependencies=[tables])
        r.add_api_route("/workbench/decisions/{table}/source", self.decision_source, methods=["GET"],
                        dependencies=[tables])
        r.add_api_route("/workbench/decisions/{table}/drafts", self.save_decision, methods=["POST"],
                        dependencies=[tables])
        r.add_api_route("/workbench/decisions/{table}/deploy", self.deploy_decision, methods=["POST"],
                        dependencies=[tables])

    # -- plumbing -------------------------------------------------------------------------------
    def _user(self, request: Request) -> str:
        return logged_in_user(request, self.wl.accounts)

    def _render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        user = request.session.get("user")
        base = {"title": self.title, "user": user, "csrf": csrf_token(request), "flashes": [],
                "path": request.url.path, "now": self.engine.now(), "counts": None,
                "tz": zone_of(self.wl.accounts.time_zone_of(user) if user else None)}
        return self.templates.TemplateResponse(request, template, {**base, **context}, status_code=status)

    async def _posted_xml(self, request: Request) -> tuple[str, bytes] | JSONResponse:
        """The posted diagram, after the CSRF check; else the JSON refusal to send."""
        form = await request.form(max_part_size=DIAGRAM_BODY_BYTES)  # Starlette's own default is 1 MiB a field
        expected = request.session.get("csrf")
        if not expected or not secrets.compare_digest(str(form.get("csrf", "")), str(expected)):
            return _problem(400, "the page's session expired; reload the workbench (your diagram is kept in the "
                                 "browser until you leave the page)")
        xml = str(form.get("xml", ""))
        if not xml.strip():
            return _problem(422, "no diagram was sent: the form field 'xml' is empty")
        if len(xml.encode("utf-8")) > MAX_BYTES:
            return _problem(413, f"the diagram is larger than {MAX_BYTES // 1_000_000} MB")
        return str(form.get("file_name", "")), xml.encode("utf-8")

    def _file_name(self, process_id: str, asked: str = "") -> str:
        """The draft's name in processes/: the process's file, else `<process_id>.bpmn`."""
        known = catalog.diagram_files(self.processes).get(process_id)
        try:
            return safe_file_name(asked, ".bpmn") if asked else (known.name if known else
                                                                 safe_file_name(f"{process_id}.bpmn", ".bpmn"))
        except ValueError as err:
            raise InvalidInput(str(err)) from None

    def _deployable(self, user: str) -> list[str]:
        ids = {v.process_id for v in self.engine.list_definitions()} | set(catalog.diagram_files(self.processes))
        return self.wl.authz.filter_names(user, DEPLOY, "process", sorted(ids))

    # -- pages ----------------------------------------------------------------------------------
    def index(self, request: Request) -> HTMLResponse:
        user = self._user(request)
        ids = self._deployable(user)
        latest = {v.process_id: v.version for v in self.engine.list_definitions()}
        files = catalog.diagram_files(self.processes)
        rows = [{"id": pid, "version": latest.get(pid), "file": files[pid].name if pid in files else None,
                 "drafts": self.drafts.list(pid, limit=3)} for pid in ids]
        decisions = sorted(catalog.decision_files(self.processes)) \
            if self.wl.authz.allows(user, DEPLOY, "process:*") else []
        return self._render(request, "workbench/index.html", heading="Workbench", rows=rows, decisions=decisions)

    def modeler(self, request: Request, process_id: str) -> HTMLResponse:
        user = self._user(request)
        versions = self.engine.list_definitions(process_id)
        files = catalog.diagram_files(self.processes)
        if not versions and process_id not in files:
            return self._render(request, "message.html", 404, heading="No such process",
                                message=f"process '{process_id}' is neither deployed nor a file in "
                                        f"{self.processes}; the workbench lists the processes")
        return self._render(request, "workbench/modeler.html", heading=f"Workbench · {process_id}",
                            process_id=process_id, versions=versions, has_file=process_id in files,
                            file_name=self._file_name(process_id), drafts=self.drafts.list(process_id),
                            forms=catalog.forms(self.processes), author=user,
                            scenarios=dryrun.scenario_names(self.processes, process_id))

    def form_preview(self, request: Request, process_id: str) -> HTMLResponse:
        self._user(request)
        name = request.query_params.get("form", "")
        text = catalog.read_form(self.processes, name)
        if text is None:
            return self._render(request, "message.html", 404, heading="No such form",
                                message=f"form '{name}' is not a .json file in {self.processes / 'forms'}")
        try:
            schema = json.loads(text)
        except json.JSONDecodeError as err:
            return self._render(request, "message.html", 422, heading="The form is not valid JSON",
                                message=f"{name}: {err.msg} at line {err.lineno} column {err.colno}")
        fields = build_fields(schema, initial_values(schema, {}))
        return self._render(request, "workbench/form_preview.html", heading=f"Form preview · {name}",
                            process_id=process_id, form_name=name, fields=fields,
                            schema=schema)

    # -- JSON -----------------------------------------------------------------------------------
    def source(self, request: Request, process_id: str) -> Response:
        q = request.query_params
        try:
            if q.get("draft"):
                view, content = self.drafts.get(process_id, _int(q["draft"], "draft"))
                body, label = content.encode("utf-8"), f"draft {view.id} by {view.author}"
            elif q.get("version") or process_id not in catalog.diagram_files(self.processes):
                version = _int(q["version"], "version") if q.get("version") else None
                body = self.engine.diagram_source(process_id, version)
                label = f"deployed version {version or 'latest'}"
            else:
                path = catalog.diagram_files(self.processes)[process_id]
                body, label = path.read_bytes(), f"file {path.name}"
        except EngineError as err:
            return _problem(_status(err), str(err))
        return Response(body, media_type="application/xml", headers={"X-Crmflow-Source": label})

    def catalog(self, request: Request, process_id: str) -> JSONResponse:
        sources = [p.read_bytes() for p in sorted(self.processes.glob("*.bpmn"))]
        ops = catalog.operations(self.engine.registry)
        return JSONResponse({
            "operations": {name: [p.to_dict() for p in params] for name, params in ops.items()},
            "forms": catalog.forms(self.processes), **catalog.names_in_use(sources),
            "decisions": sorted(catalog.decision_files(self.processes)), "lanes": catalog.lanes(self.processes),
        })

    async def check(self, request: Request, process_id: str) -> JSONResponse:
        posted = await self._posted_xml(request)
        if isinstance(posted, JSONResponse):
            return posted
        return await self._json(checks.check, self.engine, self.processes, self._file_name(process_id, posted[0]),
                                posted[1])

    async def save_draft(self, request: Request, process_id: str) -> JSONResponse:
        user = self._user(request)
        posted = await self._posted_xml(request)
        if isinstance(posted, JSONResponse):
            return posted
        view = await run_in_threadpool(self.drafts.save, process_id, self._file_name(process_id, posted[0]), "bpmn",
                                       posted[1].decode("utf-8"), user)
        return JSONResponse({**view.to_dict(), "download": f"/workbench/processes/{process_id}/drafts/{view.id}/file"})

    def download(self, request: Request, process_id: str, draft_id: str) -> Response:
        try:
            view, content = self.drafts.get(process_id, _int(draft_id, "draft"))
        except EngineError as err:
            return _problem(_status(err), str(err))
        return Response(content.encode("utf-8"), media_type="application/xml",
                        headers={"Content-Disposition": f'attachment; filename="{view.file_name}"'})

    async def scenarios(self, request: Request, process_id: str) -> JSONResponse:
        posted = await self._posted_xml(request)
        if isinstance(posted, JSONResponse):
            return posted
        return await self._json(trial.run, self.processes, process_id, self._file_name(process_id, posted[0]),
                                posted[1])

    async def preview(self, request: Request, process_id: str) -> JSONResponse:
        posted = await self._posted_xml(request)
        if isinstance(posted, JSONResponse):
            return posted
        return await self._json(deploying.preview, self.engine, self.processes, process_id,
                                self._file_name(process_id, posted[0]), posted[1])

    async def deploy(self, request: Request, process_id: str) -> JSONResponse:
        user = self._user(request)
        posted = await self._posted_xml(request)
        if isinstance(posted, JSONResponse):
            return posted
        def may_deploy(other: str) -> None:
            self.wl.authz.require(user, DEPLOY, f"process:{other}", doing=f"deploy process {other}")

        return await self._json(deploying.deploy, self.engine, self.drafts, self.processes, process_id,
                                self._file_name(process_id, posted[0]), posted[1], user, may_deploy)

    # -- dry runs --------------------------------------------------------------------------------
    async def start_dry_run(self, request: Request, process_id: str) -> JSONResponse:
        user = self._user(request)
        posted = await self._posted_xml(request)
        if isinstance(posted, JSONResponse):
            return posted
        form = await request.form()
        return await self._json(self.dry_runs.start, self.engine, self.processes, process_id,
                                self._file_name(process_id, posted[0]), posted[1], user,
                                str(form.get("scenario", "")), str(form.get("data", "")))

    async def dry_run_view(self, request: Request, process_id: str, run_id: str) -> JSONResponse:
        return await self._dry_run(request, process_id, run_id, "view", {})

    async def dry_run_act(self, request: Request, process_id: str, run_id: str, action: str) -> JSONResponse:
        form = await request.form()
        expected = request.session.get("csrf")
        if not expected or not secrets.compare_digest(str(form.get("csrf", "")), str(expected)):
            return _problem(400, "the page's session expired; reload the workbench and start a new dry run")
        fields = {k: str(v) for k, v in form.items() if k != "csrf"}
        return await self._dry_run(request, process_id, run_id, action, fields)

    async def _dry_run(self, request: Request, process_id: str, run_id: str, action: str,
                       fields: dict[str, str]) -> JSONResponse:
        user = self._user(request)

        def work() -> dict[str, Any]:
            if action == "end":
                self.dry_runs.end(run_id, process_id, user)
                return {"id": run_id, "ended": True}
            return dryrun.act(self.dry_runs.get(run_id, process_id, user), self.processes, action, fields, user)

        return await self._json(work)

    async def _json(self, func: Any, *args: Any) -> JSONResponse:
        try:
            return JSONResponse(await run_in_threadpool(func, *args))
        except EngineError as err:
            return _problem(_status(err), str(err))

    # -- decision tables ---------------------------------------------------------------------------
    def decision_page(self, request: Request, table: str) -> HTMLResponse:
        name = table
        self._user(request)
        if name not in catalog.decision_files(self.processes):
            return self._render(request, "message.html", 404, heading="No such decision table",
                                message=f"there is no {name}.dmn in {self.processes}")
        return self._render(request, "workbench/decision.html", heading=f"Decision table · {name}", name=name,
                            drafts=self.drafts.list(f"dmn:{name}"))

    def decision_source(self, request: Request, table: str) -> Response:
        name = table
        path = catalog.decision_files(self.processes).get(name)
        draft = request.query_params.get("draft")
        if draft:
            try:
                _, content = self.drafts.get(f"dmn:{name}", _int(draft, "draft"))
            except EngineError as err:
                return _problem(_status(err), str(err))
            return Response(content.encode("utf-8"), media_type="application/xml")
        if path is None:
            return _problem(404, f"there is no {name}.dmn in {self.processes}")
        return Response(path.read_bytes(), media_type="application/xml")

    async def save_decision(self, request: Request, table: str) -> JSONResponse:
        name = table
        user = self._user(request)
        posted = await self._posted_xml(request)
        if isinstance(posted, JSONResponse):
            return posted
        if name not in catalog.decision_files(self.processes):
            return _problem(404, f"there is no {name}.dmn in {self.processes}")
        view = await run_in_threadpool(self.drafts.save, f"dmn:{name}", f"{name}.dmn", "dmn",
                                       posted[1].decode("utf-8"), user)
        return JSONResponse(view.to_dict())

    async def deploy_decision(self, request: Request, table: str) -> JSONResponse:
        user = self._user(request)
        posted = await self._posted_xml(request)
        if isinstance(posted, JSONResponse):
            return posted
        if table not in catalog.decision_files(self.processes):
            return _problem(404, f"there is no {table}.dmn in {self.processes}")
        return await self._json(deploying.deploy_decision, self.engine, self.drafts, self.processes, table,
                                posted[1], user)


def _int(raw: str, what: str) -> int:
    if not raw.isdigit() or not 0 < int(raw) < 2**31:
        raise InvalidInput(f"{what} must be a positive whole number, not {raw!r}")
    return int(raw)


def _status(err: EngineError) -> int:
    return next((code for kind, code in _STATUS.items() if isinstance(err, kind)), 400)


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"status": status, "detail": detail}, status_code=status)
