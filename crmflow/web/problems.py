"""RFC 7807 problem documents: every refusal of the HTTP API says what is at fault, as JSON.

Engine and worklist errors already carry one clear line naming the thing at fault; this
module only picks the status and the problem `type` for each, so the API, the CLI and the
pages say the same thing. Request validation errors name the field (`errors: [{field,
message}]`, like a failing form). Anything else is a bug: it is logged with its traceback
and answered with a 500 problem that carries no internals.

Paths outside the API (the web pages) answer a browser (one that accepts text/html) with a
small HTML page in the pages' style, and other clients with the same problem document; the
API always answers with problem documents.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine import Conflict, DefinitionError, EngineError, Forbidden, InvalidInput, NoSubscriber, NotFound, StoreBusy
from engine.input_checks import InputRefused
from worklists.forms import FormInvalid

log = logging.getLogger(__name__)

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "/api/v1/problems/"
API_PREFIXES = ("/api/", "/healthz", "/metrics")


class FieldProblem(BaseModel):
    """One failing field: `field` is its path (`contact.email`, `lines.0.qty`)."""

    field: str
    message: str


class Problem(BaseModel):
    """An RFC 7807 problem document (`application/problem+json`)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "/api/v1/problems/conflict",
                    "title": "Conflict",
                    "status": 409,
                    "detail": "task 3f2a… (Qualify lead) is already picked by bob",
                    "instance": "/api/v1/tasks/3f2a…/pick",
                }
            ]
        }
    )

    type: str = Field(description="A URI naming the kind of problem; GET it for an explanation.")
    title: str
    status: int
    detail: str = Field(description="What is at fault, in one line a person can act on.")
    instance: str | None = Field(default=None, description="The request path that met the problem.")
    errors: list[FieldProblem] | None = Field(default=None, description="Every failing field, when there are any.")
    missing_permission: str | None = Field(
        default=None, description="For a 403: the permission the caller lacks, e.g. `read on instances:x`.")


# name → (status, title, explanation)
KINDS: dict[str, tuple[int, str, str]] = {
    "bad-request": (400, "Bad request", "The request could not be read."),
    "unauthorized": (401, "Unauthorized", "Send a valid API token as `Authorization: Bearer cft_...`."),
    "forbidden": (403, "Forbidden", "You are known but may not do this: `missing_permission` names the "
                  "permission you lack (see docs/permissions.md), or the task's rules refuse (assignee, candidates)."),
    "not-found": (404, "Not found", "The task, instance, process, incident or path does not exist."),
    "no-subscriber": (404, "No subscriber", "No instance waits for this message and no process starts with it."),
    "method-not-allowed": (405, "Method not allowed", "The path exists but not with this HTTP method."),
    "conflict": (409, "Conflict", "The target changed state (picked, completed) or the request was ambiguous."),
    "payload-too-large": (413, "Payload too large", "The request body is larger than the server's limit "
                          "($CRMFLOW_MAX_BODY_BYTES); send less data."),
    "unsupported-media-type": (415, "Unsupported media type", "Send JSON bodies as application/json."),
    "invalid-input": (422, "Invalid input", "A parameter or body field is malformed; `errors` names it."),
    "form-invalid": (422, "Form data invalid", "The submitted data fails the task's form; `errors` names each field."),
    "definition-error": (422, "Definition error", "A BPMN/DMN definition cannot be used."),
    "unavailable": (503, "Unavailable", "The service cannot reach its database."),
    "busy": (503, "Busy, retry", "The database was locked by other work for too long; nothing was changed. "
             "Retry after the seconds in `Retry-After`."),
    "internal-error": (500, "Internal error", "A bug: it has been logged. Please report it."),
}
_BY_STATUS = {status: name for name, (status, _, _) in reversed(KINDS.items())}


def kind_for(err: EngineError) -> str:
    """The problem kind of an engine or worklist error (most specific class first)."""
    for cls, name in (
        (FormInvalid, "form-invalid"), (NoSubscriber, "no-subscriber"), (NotFound, "not-found"),
        (Forbidden, "forbidden"), (Conflict, "conflict"), (DefinitionError, "definition-error"),
        (InvalidInput, "invalid-input"), (StoreBusy, "busy"),
    ):
        if isinstance(err, cls):
            return name
    return "bad-request"


_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/-])(/[\w.-]+)((?:/[\w.@+-]+)+)")


def without_server_paths(text: str) -> str:
    """`text` with the server's absolute file paths cut to their last part (`/srv/crm/forms/x.json`
    → `x.json`): where the server keeps its files is nobody's business. URL paths (`/api/v1/...`,
    `/tasks/...`) stay: only paths whose top folder exists on this machine are cut."""
    def cut(match: re.Match[str]) -> str:
        top = match.group(1)
        if not os.path.isdir(top):
            return match.group(0)
        return match.group(2).rstrip("/").rsplit("/", 1)[-1]

    return _ABSOLUTE_PATH.sub(cut, text) if "/" in text else text


def problem_response(
    kind: str, detail: str, *, instance: str | None = None, errors: Sequence[FieldProblem] | None = None,
    status: int | None = None, headers: dict[str, str] | None = None, missing_permission: str | None = None,
) -> JSONResponse:
    code, title, _ = KINDS[kind]
    if errors is not None:
        errors = [FieldProblem(field=e.field, message=without_server_paths(e.message)) for e in errors]
    doc = Problem(
        type=TYPE_BASE + kind, title=title, status=status or code, detail=without_server_paths(detail),
        instance=instance, errors=list(errors) if errors is not None else None,
        missing_permission=missing_permission,
    )
    return JSONResponse(
        doc.model_dump(exclude_none=True), status_code=doc.status, headers=headers, media_type=MEDIA_TYPE
    )


class ProblemError(Exception):
    """Raised by the API layer for refusals it detects itself (e.g. a missing token)."""

    def __init__(
        self, kind: str, detail: str, *, errors: Sequence[FieldProblem] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind, self.detail, self.errors, self.headers = kind, detail, errors, headers


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


def field_of(loc: Sequence[Any]) -> str:
    """`("body", "data", "x")` → `data.x`; `("query", "limit")` → `limit`."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "(body)"


def validation_problems(exc: RequestValidationError) -> list[FieldProblem]:
    found: dict[tuple[str, str], FieldProblem] = {}
    for err in exc.errors():
        message = str(err.get("msg") or "is not valid")
        if message.startswith("Value error, "):
            message = message[len("Value error, "):]
        fp = FieldProblem(field=field_of(err.get("loc") or ()), message=message)
        found.setdefault((fp.field, fp.message), fp)
    return list(found.values())


_HINTS = {404: "The address may be mistyped, or the task or instance it named is gone.",
          405: "This address exists, but not for that kind of request."}


def html_page(status: int, title: str, detail: str) -> HTMLResponse:
    """A small page in the pages' style saying what went wrong (for browsers)."""
    from html import escape

    hint = _HINTS.get(status, "")
    detail = without_server_paths(detail)
    body = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<meta name=viewport content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)} · crmflow</title><link rel=icon href=\"/favicon.ico\">"
        "<link rel=stylesheet href=\"/static/pages.css\"></head><body>"
        "<header class=top><a class=brand href=\"/\">crmflow</a></header>"
        "<div class=\"layout no-side\"><main id=main>"
        f"<h1>{escape(title)}</h1><p class=refusal role=alert>{escape(detail)}</p>"
        + (f"<p class=hint>{escape(hint)}</p>" if hint else "")
        + "<p><a href=\"/\">Back to My work</a></p></main></div></body></html>"
    )
    return HTMLResponse(body, status_code=status)


def wants_html(request: Request) -> bool:
    """A browser asking for a page: text/html is among what it accepts."""
    return "text/html" in request.headers.get("accept", "")


def install(app: FastAPI) -> None:
    """Register the handlers: API paths answer with problem documents, pages with small HTML."""

    async def on_engine_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, EngineError)
        kind = kind_for(exc)
        detail = str(exc) or type(exc).__name__
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, StoreBusy) else None
        if not is_api_path(request.url.path):
            page = html_page(KINDS[kind][0], KINDS[kind][1], detail)
            page.headers.update(headers or {})
            return page
        errors = None
        if isinstance(exc, FormInvalid):
            errors = [FieldProblem(field=e.field, message=e.message) for e in exc.errors]
        elif isinstance(exc, InputRefused):
            errors = [FieldProblem(field=exc.field, message=exc.message)]
        return problem_response(kind, detail, instance=request.url.path, errors=errors, headers=headers,
                                missing_permission=getattr(exc, "permission", None))

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ProblemError)
        return problem_response(exc.kind, exc.detail, instance=request.url.path, errors=exc.errors,
                                headers=exc.headers)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = validation_problems(exc)
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors) or "the request is not valid"
        if not is_api_path(request.url.path):
            return html_page(422, "Invalid input", detail)
        return problem_response("invalid-input", detail, instance=request.url.path, errors=errors)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not is_api_path(request.url.path):
            if exc.status_code < 400:
                return await http_exception_handler(request, exc)
            if wants_html(request):
                kind = _BY_STATUS.get(exc.status_code, "bad-request" if exc.status_code < 500 else "internal-error")
                detail = exc.detail if isinstance(exc.detail, str) else KINDS[kind][1]
                if exc.status_code == 404 and detail == "Not Found":
                    detail = f"There is no page at {request.url.path}."
                elif exc.status_code == 405:
                    detail = f"{request.method} is not allowed on {request.url.path}."
                return html_page(exc.status_code, KINDS[kind][1], detail)
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            # not UTF-8 or not JSON at all: the same answer as malformed JSON (422, body named)
            return problem_response("invalid-input", "body: not a readable JSON document", instance=request.url.path,
                                    errors=[FieldProblem(field="(body)", message="is not a readable JSON document")])
        kind = _BY_STATUS.get(exc.status_code, "bad-request" if exc.status_code < 500 else "internal-error")
        detail = exc.detail if isinstance(exc.detail, str) else KINDS[kind][1]
        if exc.status_code == 404 and detail == "Not Found":
            detail = (f"no API endpoint at {request.url.path} (see /api/v1/docs)" if is_api_path(request.url.path)
                      else f"nothing at {request.url.path}")
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return problem_response(kind, detail, instance=request.url.path, status=exc.status_code,
                                headers=dict(exc.headers or {}))

    handlers: dict[Any, Callable[..., Any]] = {
        EngineError: on_engine_error,
        ProblemError: on_problem,
        RequestValidationError: on_validation,
        StarletteHTTPException: on_http,
    }
    for exc_class, handler in handlers.items():
        app.add_exception_handler(exc_class, handler)
    app.add_middleware(CatchAll)


class CatchAll:
    """The last net: an exception nobody handled is a bug. Log it with its traceback and answer
    a 500 problem (or page) instead of a dropped connection; nothing is re-raised."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:  # noqa: BLE001 - turning bugs into a logged 500 is this class's job
            path = scope.get("path", "")
            log.error("unhandled error on %s %s", scope.get("method"), path, exc_info=exc)
            if started:
                return
            detail = f"internal error ({type(exc).__name__}); it has been logged"
            if is_api_path(path):
                response: Response = problem_response("internal-error", detail, instance=path)
            else:
                response = html_page(500, "Internal error", detail)
            await response(scope, receive, send)


def openapi_problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries documenting problem documents for these statuses."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        name = _BY_STATUS[status]
        out[status] = {"model": Problem, "description": KINDS[name][2]}
    return out


def use_problem_media_type(schema: dict[str, Any]) -> dict[str, Any]:
    """Error responses in the OpenAPI document are `application/problem+json`, not `application/json`."""
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            if not isinstance(operation, dict):
                continue
            for status, response in (operation.get("responses") or {}).items():
                content = response.get("content") or {}
                if str(status)[:1] in ("4", "5") and content and MEDIA_TYPE not in content:
                    # the route's own media type (JSON, or SVG for pictures) is not what errors use
                    response["content"] = {MEDIA_TYPE: next(iter(content.values()))}
    return schema


def explain(kind: str) -> dict[str, Any]:
    """What a problem type means (served at its `type` URI)."""
    if kind not in KINDS:
        raise NotFound(f"no problem type {kind!r}; known types: {', '.join(KINDS)}")
    status, title, text = KINDS[kind]
    return {"type": TYPE_BASE + kind, "title": title, "status": status, "description": text}
