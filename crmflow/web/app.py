"""The web application: HTTP API, web pages, health and metrics in one FastAPI app.

`create_app` only composes; the caller owns the engine (and closes it). Around everything sit
`crmflow.web.hardening`' request limits (body size, JSON depth: 413/422 before any route reads the
body) and security headers (CSP with `script-src 'self'`, X-Frame-Options, Referrer-Policy). A scheduler, when
given, runs with the app: started by the lifespan, stopped on shutdown, so `crmflow serve`
fires timers and runs jobs while it serves. The pages (`crmflow.web.pages`) always ship; `with_pages=False`
serves the API alone. The OpenAPI document describes the API only. Its Swagger UI
at /api/v1/docs loads its script and style from this server (the files the `swagger-ui-py`
package ships), so it works without internet access.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from engine import Engine
from engine.input_checks import InputLimits
from worklists.service import Worklist

from . import pages, problems
from .api import PREFIX, build_ops_router, build_router
from .api import reports as reports_api
from .api import workspace as workspace_api
from .hardening import RequestLimits, SecurityHeaders
from .pages import dashboards, workbench
from .pages import workspace as workspace_pages

log = logging.getLogger(__name__)
SECRET_ENV = "CRMFLOW_SECRET_KEY"
METRICS_TOKEN_ENV = "CRMFLOW_METRICS_TOKEN"
SECURE_COOKIE_ENV = "CRMFLOW_SECURE_COOKIE"
PAGES_MODULE = "crmflow.web.pages"


class Background(Protocol):
    """What the app needs of a scheduler (engine.scheduler.Scheduler fits)."""

    def start(self) -> None: ...

    def shutdown(self, wait: bool = True) -> None: ...


@dataclass
class WebSettings:
    """What the pages need beyond the engine and worklist."""

    secret_key: str = field(default_factory=lambda: os.environ.get(SECRET_ENV) or secrets.token_urlsafe(32))
    https_only: bool = field(default_factory=lambda: os.environ.get(SECURE_COOKIE_ENV, "").lower() in ("1", "true"))
    """The session cookie is `Secure` always ($CRMFLOW_SECURE_COOKIE=1); otherwise only on responses over HTTPS."""
    title: str = "crmflow"
    same_site: str = "lax"  # the session cookie's SameSite
    session_hours: float | None = None  # a login's lifetime (None: $CRMFLOW_SESSION_HOURS, else 8)
    session_idle_minutes: float | None = None  # idle limit (None: $CRMFLOW_SESSION_IDLE_MINUTES, else 60)
    api_prefix: str = PREFIX
    max_body_bytes: int | None = None  # request body limit (None: $CRMFLOW_MAX_BODY_BYTES, else 1 MiB)
    max_json_depth: int | None = None  # JSON nesting limit (None: $CRMFLOW_MAX_JSON_DEPTH, else 32)
    metrics_token: str | None = field(default_factory=lambda: os.environ.get(METRICS_TOKEN_ENV) or None)
    """When set, /metrics needs `Authorization: Bearer TOKEN` (Prometheus' `authorization` setting)."""


def create_app(
    engine: Engine,
    worklist: Worklist,
    *,
    with_pages: bool = True,
    scheduler: Background | None = None,
    settings: WebSettings | None = None,
) -> FastAPI:
    """The app: `/api/v1` (documented at /api/v1/docs), `/healthz`, `/metrics`, and the pages."""
    web = settings or WebSettings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=True)

    app = FastAPI(
        title="crmflow",
        summary="BPMN workflows for CRM work: worklists, processes, instances, messages, incidents.",
        version=_version(),
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=None,  # served below, from local files
        redoc_url=None,
        lifespan=lifespan,
    )
    _offline_docs(app)
    app.state.engine = engine
    app.state.worklist = worklist
    app.state.web = web
    problems.install(app)
    app.include_router(build_router(engine, worklist))
    app.include_router(build_ops_router(engine, metrics_token=web.metrics_token))
    app.include_router(reports_api.build_router(engine, worklist))
    app.include_router(workspace_api.build_router(engine, worklist))
    larger_bodies: list[tuple[str, int]] = []
    if with_pages:
        pages.install(app, web)  # sessions, static files: what a router cannot add itself
        app.include_router(pages.build_router(engine, worklist, web), include_in_schema=False)
        app.include_router(dashboards.build_router(engine, worklist, web), include_in_schema=False)
        app.include_router(workspace_pages.build_router(engine, worklist, web), include_in_schema=False)
        app.include_router(workbench.build_router(engine, worklist, web), include_in_schema=False)  # needs sessions
        larger_bodies.extend(workbench.BODY_LIMITS)  # a diagram up to its own limit, not the JSON one
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    configured = InputLimits.configured()
    limits = InputLimits(web.max_body_bytes or configured.max_bytes, web.max_json_depth or configured.max_depth)
    app.add_middleware(RequestLimits, limits=limits, larger=larger_bodies)  # added last: runs first
    app.add_middleware(SecurityHeaders)
    return app


DOCS_PATH = f"{PREFIX}/docs"
DOCS_ASSETS = f"{PREFIX}/docs/assets"
DOCS_INIT = f"{PREFIX}/docs/init.js"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


def swagger_ui_files() -> Path | None:
    """The swagger-ui dist files the `swagger-ui-py` package ships (None if it is not installed)."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "static"
    return folder if (folder / "swagger-ui-bundle.js").is_file() else None


def _offline_docs(app: FastAPI) -> None:
    """/api/v1/docs with Swagger UI's script and style from this server, not a CDN."""
    files = swagger_ui_files()
    if files is None:
        log.warning("swagger-ui-py is not installed: /api/v1/docs links the OpenAPI document only")

    page = get_swagger_ui_html(
        openapi_url=f"{PREFIX}/openapi.json", title="crmflow API",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url="/favicon.ico",
    ).body.decode()
    # the CSP allows no inline script: Swagger UI's start-up script is served as a file of its own
    init = "\n".join(m.group(1) for m in _INLINE_SCRIPT.finditer(page))
    page = _INLINE_SCRIPT.sub("", page).replace("</body>", f'<script src="{DOCS_INIT}"></script></body>')

    async def docs() -> HTMLResponse:
        if files is None:
            return HTMLResponse(f'<!doctype html><title>crmflow API</title><p>The API is described in '
                                f'<a href="{PREFIX}/openapi.json">{PREFIX}/openapi.json</a>.</p>')
        return HTMLResponse(page)

    async def docs_init() -> Response:
        return Response(init, media_type="text/javascript")

    app.add_api_route(DOCS_PATH, docs, methods=["GET"], include_in_schema=False, response_class=HTMLResponse)
    app.add_api_route(DOCS_INIT, docs_init, methods=["GET"], include_in_schema=False)
    if files is not None:
        app.mount(DOCS_ASSETS, StaticFiles(directory=files), name="swagger-ui")


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes,
            description="Every error is an RFC 7807 problem document (`application/problem+json`).",
        )
        app.openapi_schema = problems.use_problem_media_type(schema)
    return app.openapi_schema


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("crmflow")
    except Exception:  # noqa: BLE001 - not installed: run from the source tree
        return "0.1.0"
