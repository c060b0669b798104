"""What every page family shares: the session helpers (who is logged in, the CSRF token), `install`
(the session middleware, static files, the login redirect), the templates' folder, and the
formatting filters (times in the user's zone, money, spans, countdowns, readable values).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import pass_context
from jinja2.runtime import Context
from markupsafe import Markup

from engine.clock import ensure_utc
from worklists.permissions.routes import public
from worklists.sessions import COOKIE, SecureCookieOnHttps, SessionLimits, SessionStore
from worklists.sla import STATUSES as SLA_STATUS_NAMES
from worklists.views import TaskView

HERE = Path(__file__).parent.parent  # crmflow/web: templates/ and static/ ship beside the routers
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
STATIC_PATH = "/static"
PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25
SLA_STATUSES = SLA_STATUS_NAMES
SORT_LABELS = {"due": "Due date", "priority": "Priority (most urgent first)", "sla": "SLA time left",
               "age": "Age (oldest first)"}
PRIORITY_FILTERS = (("high", "High"), ("normal", "Normal or higher"))
DIAGRAM_SCALE = 0.7  # big diagrams stay readable; the page scrolls them to the active step
_SVG_SIZE = re.compile(r'^(<svg\b[^>]*?) width="([\d.]+)" height="([\d.]+)"')


class LoginRequired(Exception):
    """Raised by pages when nobody is logged in; `install` turns it into a redirect to /login."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


# -- the session ---------------------------------------------------------------------------

def logged_in_user(request: Request, accounts: Any) -> str:
    """The user of a live server-side session (not logged out, expired, idle or deactivated);
    else off to /login (and back here afterwards)."""
    name = SessionStore(accounts.engine, session_limits(request)).user_of(request.session.get("sid"))
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
    """Settings may be a dict or an object with attributes (crmflow.web.app.WebSettings)."""
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
        return RedirectResponse(with_query("/login", next=exc.next_url), status_code=303)

    app.add_exception_handler(LoginRequired, to_login)

    async def favicon() -> FileResponse:  # browsers ask for /favicon.ico whatever the page links
        return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml",
                            headers={"Cache-Control": "public, max-age=86400"})

    app.add_api_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False,
                      dependencies=[public("the site icon")])


def session_limits(request: Request) -> SessionLimits | None:
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


def countdown(item: TaskView) -> Countdown:
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


def with_query(path: str, **params: Any) -> str:
    clean = {k: v for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(clean)}" if clean else path


def local_path(url: str | None, default: str = "/") -> str:
    """Only same-site paths are followed after login or a bulk action (no open redirects)."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    return url

