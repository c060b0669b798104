"""Web pages for agents: login, worklists with counts per queue, the task page and the instance page.

Server-rendered HTML (Jinja2 templates in `templates/`), plain forms that work without
JavaScript; a few lines of script (`static/pages.js`) only keep SLA countdowns current and
tick "select all". Every page calls `worklists.service.Worklist` (tasks) or the engine facade
(instances, diagrams), so checks and messages are the same as in the CLI and the API; a refusal
is shown on the page with a 4xx status, never as a 500.

The login is a server-side session (`worklists.sessions`: the signed cookie carries only its id,
so logging out ends it everywhere; it expires after `session_hours` and when idle); failed logins
lock the user name and the client address for a while (`worklists.lockout`). Every POST carries
the session's CSRF token. Every page declares its permission with a `Guard` (docs/permissions.md).
`crmflow.server.create_app` calls `install(app, settings)` and includes `build_router(engine, worklist, settings)`.
"""

from __future__ import annotations

import logging
import math
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from engine import Conflict, Engine, EngineError, Forbidden, InvalidInput, NotFound
from engine.clock import ensure_utc
from engine.drawing import instance_marks, render_svg
from engine.input_checks import InputRefused
from engine.views import InstanceDetail

from .console_pages import ConsolePages, operates_anywhere
from .forms import FormInvalid, RenderedForm
from .lockout import LoginThrottleStore
from .lookups import KEYWORD as LOOKUP
from .lookups import MAX_OPTIONS, Option
from .permissions import READ, READ_DATA
from .permissions.routes import Guard, public
from .priority import parse_priority, priority_label
from .problems import without_server_paths
from .service import SORTS, Page, TaskFilter, WorkItem, Worklist
from .sessions import COOKIE, SecureCookieOnHttps, SessionLimits, SessionStore
from .sla import STATUSES as SLA_STATUS_NAMES

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_PATH = "/static"
PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25
SLA_STATUSES = SLA_STATUS_NAMES
SORT_LABELS = {"due": "Due date", "priority": "Priority (most urgent first)", "sla": "SLA time left",
               "age": "Age (oldest first)"}
PRIORITY_FILTERS = (("high", "High"), ("normal", "Normal or higher"))
EMPTY_ROWS = 1  # blank rows offered under an array-of-objects field ("Add a row" gives more)
DIAGRAM_SCALE = 0.7  # big diagrams stay readable; the page scrolls them to the active step
_SVG_SIZE = re.compile(r'^(<svg\b[^>]*?) width="([\d.]+)" height="([\d.]+)"')
_STATUS = {NotFound: 404, Forbidden: 403, Conflict: 409, InvalidInput: 422}


class LoginRequired(Exception):
    """Raised by pages when nobody is logged in; `install` turns it into a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


# -- the session ---------------------------------------------------------------------------

def logged_in_user(request: Request, accounts: Any) -> str:
    """The user of a live server-side session (not logged out, expired, idle or deactivated);
    else off to /login (and back here afterwards)."""
    name = SessionStore(accounts.engine, _limits(request)).user_of(request.session.get("sid"))
    if not name or name != request.session.get("user"):
        request.session.pop("user", None)
        request.session.pop("sid", None)
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(back if request.method == "GET" else "/")
    return str(name)


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return str(token)


# -- settings, install -----------------------------------------------------------------------

def setting(settings: Any, key: str, default: Any = None) -> Any:
    """Settings may be a dict or an object with attributes (crmflow.server.WebSettings)."""
    if settings is None:
        return default
    if isinstance(settings, Mapping):
        return settings.get(key, default)
    return getattr(settings, key, default)


def install(app: FastAPI, settings: Any = None) -> None:
    """What a router cannot add itself: the session cookie, the static files, the login redirect."""
    from starlette.middleware.sessions import SessionMiddleware

    secret = setting(settings, "secret_key") or secrets.token_urlsafe(32)
    limits = SessionLimits.configured(setting(settings, "session_hours"), setting(settings, "session_idle_minutes"))
    app.state.session_limits = limits
    app.add_middleware(
        SessionMiddleware, secret_key=secret, https_only=bool(setting(settings, "https_only", False)),
        same_site=setting(settings, "same_site", "lax") or "lax", session_cookie=COOKIE,
        max_age=int(limits.lifetime.total_seconds()),
    )
    app.add_middleware(SecureCookieOnHttps, cookie=COOKIE)  # outside the sessions: sees their cookie
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC), name="pages-static")

    async def to_login(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(_with_query("/login", next=exc.next_url), status_code=303)

    app.add_exception_handler(LoginRequired, to_login)

    async def favicon() -> FileResponse:  # browsers ask for /favicon.ico whatever the page links
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml",
                            headers={"Cache-Control": "public, max-age=86400"})

    app.add_api_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False,
                      dependencies=[public("the site icon")])


def _limits(request: Request) -> SessionLimits | None:
    return getattr(request.app.state, "session_limits", None)


# -- small formatting helpers (also Jinja filters) ---------------------------------------------

def fmt_dt(value: datetime | None) -> str:
    """2026-01-05 09:00 UTC (minutes are enough for work items)."""
    if value is None:
        return "—"
    return ensure_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def fmt_short(value: datetime | None) -> str:
    """2026-01-05 09:00 for table cells."""
    return ensure_utc(value).strftime("%Y-%m-%d %H:%M") if value else "—"


# -- times in the user's zone (stored per user; UTC on hover) -----------------------------------

def zone_of(name: str | None) -> ZoneInfo:
    """A stored IANA name as a zone; UTC when unset or no longer known."""
    try:
        return ZoneInfo(name) if name else ZoneInfo("UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_text(value: datetime | None, zone: tzinfo | None, style: str = "long") -> str:
    """The time in `zone`: '2026-01-05 10:00 CET' (long) or '2026-01-05 10:00' (short)."""
    if value is None:
        return "—"
    local = ensure_utc(value).astimezone(zone or UTC)
    return local.strftime("%Y-%m-%d %H:%M") + (f" {local.tzname()}" if style == "long" else "")


@pass_context
def ctx_dt(ctx: Context, value: datetime | None) -> str:
    """`dt` in templates: the time in the user's zone, with the zone's name."""
    return local_text(value, ctx.get("tz"))


@pass_context
def ctx_when(ctx: Context, value: datetime | None, style: str = "long", text: str | None = None) -> Markup:
    """A <time> element: the user's local time (or `text`), the exact UTC time on hover."""
    if value is None:
        return Markup("—")
    shown = text if text is not None else local_text(value, ctx.get("tz"), style)
    return Markup('<time datetime="{}" title="{}">{}</time>').format(iso(value), fmt_dt(value), shown)


def fmt_money(value: Any, currency: str | None = None) -> str:
    """1234.5 → '1,234.50 EUR' (two places, thousands grouped); '—' for nothing."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return f"{amount:,.2f}" + (f" {currency}" if currency else "")


def _number(value: Any) -> str:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{amount.normalize():f}"
    return text


@pass_context
def show_value(ctx: Context, value: Any, kind: str = "text", currency: str | None = None) -> Any:
    """A record field as people read it (see worklists.records.KINDS); '—' when there is nothing."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool) or kind == "yesno":
        return "Yes" if value else "No"
    if kind == "money":
        return fmt_money(value, currency)
    if kind == "percent":
        return f"{_number(value)} %"
    if kind == "number":
        return _number(value)
    if kind == "datetime" and isinstance(value, datetime):
        return ctx_when(ctx, value)
    if kind == "date" and isinstance(value, date):
        return value.isoformat()
    if kind == "email":
        return Markup('<a href="mailto:{0}">{0}</a>').format(value)
    return str(value)


def time_zones() -> list[str]:
    """The IANA zones a person may choose, UTC first."""
    from zoneinfo import available_timezones

    return ["UTC", *sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/")))]


def install_time_filters(env: Any) -> None:
    """The filters every page template uses for times; `tz` in the context is the user's zone."""
    env.filters.update(dt=ctx_dt, when=ctx_when, iso=iso)


def fmt_span(seconds: float) -> str:
    """A duration an agent reads at a glance: '2 d 3 h', '3 h 05 min', '12 min', 'under a minute'."""
    seconds = abs(seconds)
    minutes = int(seconds // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {mins:02d} min"
    return f"{mins} min" if mins else "under a minute"


def iso(value: datetime | None) -> str:
    return ensure_utc(value).isoformat() if value else ""


@dataclass
class Countdown:
    """What the SLA column shows: state (ok/nearing/breached/none), text, and the deadline for the script."""

    state: str
    text: str
    deadline: str = ""
    source: str = ""  # "sla" (the case's SLA) or "due" (the task's due date)


def countdown(item: WorkItem) -> Countdown:
    """What the SLA column and chip show: the status the service decided (`worklists.sla`) in words."""
    if item.sla_status is None:
        return Countdown("none", "—")
    if item.sla_seconds_left is None:
        return Countdown(item.sla_status, item.sla_status.capitalize(), source=item.sla_source or "sla")
    overdue = "Overdue by" if item.sla_source == "due" else "Breached"
    text = _countdown_text(item.sla_status, item.sla_seconds_left, overdue=overdue)
    return Countdown(item.sla_status, text, iso(item.sla_due_at), item.sla_source or "")


def _countdown_text(state: str, left: float, overdue: str = "Breached") -> str:
    if state == "breached":
        return f"{overdue} {fmt_span(left)}" if overdue != "Breached" else f"Breached {fmt_span(left)} ago"
    if state == "nearing":
        return f"Nearing: {fmt_span(left)} left"
    return f"{fmt_span(left)} left"


def compact(value: Any, limit: int = 200) -> str:
    """A variable's value in one line (JSON-ish), cut at `limit` characters."""
    import json

    if value is None:
        return "—"
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def delta_text(delta: Mapping[str, Any] | None) -> str:
    """What a history entry changed, for people: 'decision = qualify; removed: draft', 'assignee: ann → bob'."""
    if not delta:
        return ""
    parts = []
    if isinstance(delta.get("set"), Mapping):
        parts += [f"{k} = {readable(v, 80)}" for k, v in delta["set"].items()]
    if delta.get("removed"):
        parts.append("removed: " + ", ".join(map(str, delta["removed"])))
    for key, value in delta.items():
        if key in ("set", "removed"):
            continue
        if isinstance(value, Mapping) and set(value) == {"from", "to"}:
            label = {"candidate_groups": "who may pick"}.get(key, key)
            parts.append(f"{label}: {_who(value['from'])} → {_who(value['to'])}")
        elif key == "was":
            parts.append(f"was picked by {value}")
        else:
            parts.append(f"{key}: {readable(value, 120)}")
    return "; ".join(parts)


def _who(value: Any) -> str:
    if value is None or value == []:
        return "nobody"
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def readable(value: Any, limit: int = 200) -> str:
    """A value as people read it: Yes/No for booleans, — for nothing, else compact JSON-ish text."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return compact(value, limit)


EVENT_LABELS = {
    "instance_started": "Started", "completed": "Completed", "task_created": "Task created",
    "message_received": "Message received", "timer_fired": "Timer fired", "timer_cancelled": "Timer cancelled",
    "incident": "Incident", "incident_resolved": "Incident resolved", "error_thrown": "Error thrown",
    "instance_completed": "Instance completed", "instance_terminated": "Instance terminated", "warning": "Warning",
    "claimed": "Picked", "released": "Released", "routed": "Routed", "comment": "Comment",
    "instance_cancelled": "Cancelled", "instance_suspended": "Suspended", "instance_resumed": "Resumed",
    "variables_edited": "Variables edited", "instance_modified": "Token moved", "timer_fired_now": "Timer fired now",
    "migrated": "Migrated",
}  # fmt: skip


def scaled_svg(svg: str, scale: float) -> str:
    """The drawing at `scale` of its natural size (its viewBox keeps the picture intact)."""
    def resize(m: re.Match[str]) -> str:
        return f'{m.group(1)} width="{float(m.group(2)) * scale:.0f}" height="{float(m.group(3)) * scale:.0f}"'

    return _SVG_SIZE.sub(resize, svg, count=1)


def _with_query(path: str, **params: Any) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(clean)}" if clean else path


def _local_path(url: str | None, default: str = "/") -> str:
    """Only same-site paths are followed after login or a bulk action (no open redirects)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    return url


# -- the form model ------------------------------------------------------------------------

@dataclass
class Field:
    """One input of a task form, built from its JSON Schema property (nested for objects and arrays)."""

    name: str  # the submitted name: `a`, `a.b`, `lines.0.qty`
    label: str
    widget: str  # text, textarea, number, integer, checkbox, select, date, email, datetime, object, rows, list
    required: bool = False
    nullable: bool = False
    description: str | None = None
    value: Any = ""
    options: list[tuple[str, str]] = field(default_factory=list)  # (submitted value, label)
    error: str | None = None
    children: list[Field] = field(default_factory=list)  # object members
    rows: list[list[Field]] = field(default_factory=list)  # array-of-object rows
    attrs: dict[str, Any] = field(default_factory=dict)  # min, max, step, maxlength, readonly, placeholder

    @property
    def id(self) -> str:
        return "f-" + re.sub(r"[^A-Za-z0-9_-]", "-", self.name)


def _types(prop: Mapping[str, Any]) -> tuple[str | None, bool]:
    kind = prop.get("type")
    if isinstance(kind, list):
        nullable = "null" in kind
        rest = [k for k in kind if k != "null"]
        return (rest[0] if rest else None), nullable
    if kind is None and "enum" in prop:
        return "string", None in prop["enum"]
    return kind, False


def _widget(prop: Mapping[str, Any], ui: Mapping[str, Any]) -> str:
    kind, _ = _types(prop)
    ui_widget = ui.get("ui:widget")
    if isinstance(prop.get(LOOKUP), str):
        return "lookup"
    if "enum" in prop:
        return "radio" if ui_widget == "radio" else "select"
    if kind == "boolean":
        return "checkbox"
    if kind in ("integer", "number"):
        return kind
    if kind == "object":
        return "object"
    if kind == "array":
        items = prop.get("items") if isinstance(prop.get("items"), Mapping) else {}
        if _types(items)[0] == "object":
            return "rows"
        if "enum" in items:
            return "multi"
        return "list"
    fmt = prop.get("format")
    if ui_widget == "textarea" or fmt == "textarea" or (prop.get("maxLength") or 0) >= 500:
        return "textarea"
    return {"date": "date", "email": "email", "date-time": "datetime"}.get(fmt or "", "text")


def _shown(value: Any, widget: str) -> Any:
    """A stored value as the input shows it."""
    if value is None:
        return ""
    if widget == "checkbox":
        return bool(value)
    if widget == "list" and isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if widget == "multi" and isinstance(value, list):
        return [str(v) for v in value]
    return value if isinstance(value, (dict, list)) else str(value)


def build_fields(
    schema: Mapping[str, Any] | None, values: Mapping[str, Any], ui_schema: Mapping[str, Any] | None = None,
    errors: Mapping[str, str] | None = None, raw: FormData | None = None, prefix: str = "",
    choices: Mapping[str, Sequence[Option]] | None = None,
) -> list[Field]:
    """The form's fields in schema order (or ui:order), filled from `raw` (a re-shown submit) or `values`;
    lookup fields get their `choices` (RenderedForm.lookups)."""
    if not schema:
        return []
    props = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
    required = set(schema.get("required") or [])
    ui_schema = ui_schema or {}
    order = [n for n in ui_schema.get("ui:order", []) if n in props] or list(props)
    order += [n for n in props if n not in order]
    out = []
    for name in order:
        prop = props[name]
        if not isinstance(prop, Mapping):
            continue
        ui = ui_schema.get(name) if isinstance(ui_schema.get(name), Mapping) else {}
        if ui.get("ui:widget") == "hidden":
            continue
        out.append(_field(prefix + name, name, prop, name in required, values, ui, errors or {}, raw, choices or {}))
    return out


def _field(
    full: str, name: str, prop: Mapping[str, Any], required: bool, values: Mapping[str, Any],
    ui: Mapping[str, Any], errors: Mapping[str, str], raw: FormData | None,
    choices: Mapping[str, Sequence[Option]],
) -> Field:
    widget = _widget(prop, ui)
    _, nullable = _types(prop)
    label = str(prop.get("title") or ui.get("ui:title") or name.replace("_", " ").capitalize())
    f = Field(full, label, widget, required, nullable, prop.get("description") or ui.get("ui:help"),
              error=errors.get(full))
    current = values.get(name) if isinstance(values, Mapping) else None
    for key, attr in (("minimum", "min"), ("maximum", "max"), ("maxLength", "maxlength"),
                      ("minLength", "minlength")):  # fmt: skip
        if key in prop:
            f.attrs[attr] = prop[key]
    if widget in ("integer", "number"):
        f.attrs["step"] = "1" if widget == "integer" else "any"
    if prop.get("readOnly") or ui.get("ui:readonly"):
        f.attrs["readonly"] = True
    if ui.get("ui:placeholder") or prop.get("placeholder"):
        f.attrs["placeholder"] = ui.get("ui:placeholder") or prop.get("placeholder")
    if widget in ("select", "radio", "multi"):
        enum = prop["enum"] if widget != "multi" else prop["items"]["enum"]
        names = prop.get("enumNames") or ui.get("ui:enumNames") or []
        f.options = [(str(v), str(names[i]) if i < len(names) else str(v)) for i, v in enumerate(enum) if v is not None]
    if widget == "lookup":
        found = choices.get(str(prop[LOOKUP]))
        if found is None:  # this server provides no such lookup: a plain input (validation says why)
            f.widget = widget = "integer" if _types(prop)[0] == "integer" else "text"
        else:
            f.options = [(str(o.value), o.label) for o in found]
            f.attrs.pop("minlength", None)
            f.attrs.pop("maxlength", None)
    if widget == "object":
        sub_values = current if isinstance(current, Mapping) else {}
        f.children = build_fields(prop, sub_values, ui, errors, raw, prefix=full + ".", choices=choices)
        return f
    if widget == "rows":
        items = prop["items"]
        if raw is not None:
            count = _row_count(raw, full)
            rows_values: list[Any] = [{} for _ in range(count)]
        else:
            rows_values = list(current) if isinstance(current, list) else []
            rows_values += [{} for _ in range(EMPTY_ROWS)]
        f.rows = [
            build_fields(items, v if isinstance(v, Mapping) else {}, ui.get("items") or {}, errors, raw,
                         prefix=f"{full}.{i}.", choices=choices)
            for i, v in enumerate(rows_values)
        ]
        f.error = f.error or errors.get(full)
        return f
    if raw is not None:
        if widget == "checkbox":
            f.value = "true" in raw.getlist(full)
        elif widget == "multi":
            f.value = raw.getlist(full)
        else:
            f.value = raw.get(full, "")
    else:
        f.value = _shown(current, widget)
    return f


ROWS_ACTION = "_rows"


def change_rows(raw: FormData, action: str) -> FormData:
    """The submitted form with a row added ("add:lines") or removed ("remove:lines.1", later rows
    move up): what the "Add a row" / "Remove row" buttons do when the page has no script."""
    verb, _, target = action.partition(":")
    items = [(k, v) for k, v in raw.multi_items() if k != ROWS_ACTION]
    if verb == "add" and target:
        pattern = re.compile(re.escape(target) + r"\.(\d+)\.")
        found = [int(m.group(1)) for k, _ in items if (m := pattern.match(k))]
        # a blank marker row at the next index: _row_count shows it, and no extra blank after it
        items.append((f"{target}.{max(found) + 1 if found else 0}.", ""))
        return FormData(items)
    name, _, index = target.rpartition(".")
    if verb == "remove" and name and index.isdigit():
        pattern = re.compile(re.escape(name) + r"\.(\d+)\.(.*)$", re.S)
        kept = []
        for key, value in items:
            m = pattern.match(key)
            if m is None:
                kept.append((key, value))
            elif int(m.group(1)) != int(index):
                row = int(m.group(1))
                kept.append((f"{name}.{row - 1 if row > int(index) else row}.{m.group(2)}", value))
        if not any(pattern.match(k) for k, _ in kept):
            kept.append((f"{name}.0.", ""))  # keep one (blank) row to type into
        return FormData(kept)
    return FormData(items)


def _row_count(raw: FormData, name: str) -> int:
    """Rows shown again after a submit: those submitted, plus blank ones to add more."""
    pattern = re.compile(re.escape(name) + r"\.(\d+)\.")
    found = [int(m.group(1)) for key in raw.keys() if (m := pattern.match(key))]
    return (max(found) + 1 if found else 0) + (0 if found and _has_blank_row(raw, name, max(found)) else 1)


def _has_blank_row(raw: FormData, name: str, last: int) -> bool:
    prefix = f"{name}.{last}."
    return all(not str(v).strip() for k, v in raw.multi_items() if k.startswith(prefix))


# -- reading a submitted form ----------------------------------------------------------------

_MISSING = object()


def parse_submission(fields: Sequence[Field], raw: FormData, schema: Mapping[str, Any]) -> dict[str, Any]:
    """HTML form strings → the schema's types; blanks drop out (nullable fields become null), so
    `required` names what is missing. Values that do not convert stay text: validation names them."""
    out: dict[str, Any] = {}
    props = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
    for f in fields:
        prop = props.get(f.name.rsplit(".", 1)[-1], {})
        value = _parse_field(f, raw, prop)
        if value is not _MISSING:
            out[f.name.rsplit(".", 1)[-1]] = value
    return out


def _parse_field(f: Field, raw: FormData, prop: Mapping[str, Any]) -> Any:
    if f.attrs.get("readonly"):
        return _MISSING
    if f.widget == "checkbox":
        return "true" in raw.getlist(f.name)
    if f.widget == "object":
        value = parse_submission(f.children, raw, prop)
        return value if value else _MISSING
    if f.widget == "rows":
        rows = []
        for row in f.rows:
            parsed = parse_submission(row, raw, prop.get("items") or {})
            if any(v not in (None, "", False) for v in parsed.values()):
                rows.append(parsed)
        return rows if rows or _any_row_key(raw, f.name) else _MISSING
    if f.widget == "multi":
        chosen = raw.getlist(f.name)
        enum = prop.get("items", {}).get("enum", [])
        return [next((e for e in enum if str(e) == c), c) for c in chosen]
    text = str(raw.get(f.name, "")).strip() if f.widget != "textarea" else str(raw.get(f.name, ""))
    if text.strip() == "":
        return None if f.nullable and not f.required else _MISSING
    if f.widget in ("select", "radio"):
        return next((e for e in prop.get("enum", []) if e is not None and str(e) == text), text)
    if f.widget == "lookup":
        return _convert(text.strip(), _types(prop)[0])
    if f.widget == "list":
        item_kind = _types(prop.get("items") or {})[0]
        return [_convert(line.strip(), item_kind) for line in text.splitlines() if line.strip()]
    if f.widget in ("integer", "number"):
        return _convert(text, f.widget)
    return text


def _any_row_key(raw: FormData, name: str) -> bool:
    return any(key.startswith(name + ".") for key in raw.keys())


def _convert(text: str, kind: str | None) -> Any:
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            number = float(text)
            if not math.isfinite(number):
                return text
            return int(number) if number.is_integer() and "." not in text and "e" not in text.lower() else number
    except ValueError:
        return text
    return text


def field_labels(fields: Sequence[Field]) -> dict[str, str]:
    """name → label for every field (nested too), to name failing fields in the error summary."""
    out: dict[str, str] = {}
    for f in fields:
        out[f.name] = f.label
        out.update(field_labels(f.children))
        for i, row in enumerate(f.rows):
            for name, label in field_labels(row).items():
                out[name] = f"{f.label} row {i + 1}: {label}"
    return out


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
        nxt = _local_path(request.query_params.get("next"))
        return self._render(request, "login.html", next=nxt, username="", error=None)

    async def login(self, request: Request) -> Response:
        form = await request.form()
        name = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        nxt = _local_path(str(form.get("next", "")))
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
        sid = await run_in_threadpool(SessionStore(self.engine, _limits(request)).start, user.name)
        request.session.clear()
        request.session["sid"] = sid
        request.session["user"] = user.name
        self._flash(request, f"Welcome, {user.display_name or user.name}.")
        return RedirectResponse(nxt, status_code=303)

    async def logout(self, request: Request) -> Response:
        form = await request.form()
        if request.session.get("user") and not self._csrf_ok(request, form):
            return RedirectResponse("/", status_code=303)
        await run_in_threadpool(SessionStore(self.engine, _limits(request)).end, request.session.get("sid"))
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
        sort_links = {s: _with_query(spec.path, **{**keep, "sort": s}) for s in SORTS}
        return {
            "first": _with_query(spec.path, **keep) if query.page > 1 else None,
            "next": _with_query(spec.path, **keep, cursor=page.next_cursor, page=query.page + 1)
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
        back = _local_path(str(form.get("back", "")))
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
            return _MISSING
    return node

