"""HTTP hardening around the whole app: request limits and security headers.

`RequestLimits` reads a request's body before any route does and refuses, as a problem
document (or a small page for a browser), a body larger than the limit (413) and JSON nested
deeper than the limit (422, field `(body)`); routes that take a whole diagram (the workbench's
draft, check and deploy calls) ask for a larger body limit, so a diagram within the diagram limit
(5 MB, `engine/xml.py`) is never refused for its transport; the same limits (`engine.input_checks.InputLimits`,
`$CRMFLOW_MAX_BODY_BYTES`, `$CRMFLOW_MAX_JSON_DEPTH`) bound process data given to the CLI. Bodies
within the limit are replayed to the app unchanged.

`SecurityHeaders` adds a Content-Security-Policy (scripts only from this server: the pages have
no inline scripts or event handlers), X-Frame-Options DENY, Referrer-Policy same-origin and
X-Content-Type-Options nosniff to every response. Inline `style` stays allowed: the SVG charts
and diagrams carry their own `<style>`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from crmflow.web.problems import FieldProblem, html_page, is_api_path, problem_response, wants_html
from engine.input_checks import BYTES_ENV, DEPTH_ENV, InputLimits

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN = frozenset(b"[{")


def json_too_deep(body: bytes, max_depth: int) -> bool:
    """Whether the JSON text nests more than `max_depth` arrays/objects (strings skipped);
    a scan of the bytes, so even a body too deep for Python's parser is measured safely."""
    depth = 0
    for byte in _STRINGS.sub(b"", body).translate(None, _NOT_BRACKETS):
        depth = depth + 1 if byte in _OPEN else depth - 1
        if depth > max_depth:
            return True
    return False


class RequestLimits:
    """Refuse too large bodies (413) and too deep JSON (422) before the app reads them."""

    def __init__(self, app: ASGIApp, limits: InputLimits | None = None,
                 larger: Sequence[tuple[str, int]] = ()) -> None:
        self.app = app
        self.limits = limits or InputLimits.configured()
        # (path pattern, bytes): routes whose bodies carry a whole diagram get the diagram's limit
        self.larger = [(re.compile(pattern), size) for pattern, size in larger]

    def body_limit(self, path: str) -> int:
        """The configured limit, or a larger one a route asked for (never smaller)."""
        found = [size for pattern, size in self.larger if pattern.fullmatch(path)]
        return max([self.limits.max_bytes, *found])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        limit = self.body_limit(scope.get("path", ""))
        declared = headers.get(b"content-length", b"").decode("latin-1").strip()
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, receive, send, 413, f"the request body is {declared} bytes; the limit is "
                                                          f"{limit} ({BYTES_ENV})")
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, receive, send, 413, f"the request body is larger than the limit of "
                                                              f"{limit} bytes ({BYTES_ENV})")
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        kind = headers.get(b"content-type", b"").decode("latin-1").lower()
        if "json" in kind and json_too_deep(body, self.limits.max_depth):
            await self._refuse(scope, receive, send, 422, f"(body): JSON is nested deeper than "
                                                          f"{self.limits.max_depth} levels (the limit, {DEPTH_ENV})")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, detail: str) -> None:
        from starlette.requests import Request

        request = Request(scope)
        path = scope.get("path", "")
        response: Response
        if not is_api_path(path) and wants_html(request):
            response = html_page(status, "Request too large" if status == 413 else "Invalid input", detail)
        elif status == 413:
            response = problem_response("payload-too-large", detail, instance=path)
        else:
            response = problem_response("invalid-input", detail, instance=path,
                                        errors=[FieldProblem(field="(body)", message=detail.split(": ", 1)[1])])
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


class SecurityHeaders:
    """CSP, X-Frame-Options, Referrer-Policy and nosniff on every response (kept if a route set its own)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def add(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, add)
