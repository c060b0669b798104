"""Web logins kept on the server: the session cookie holds a random id, the database its hash.

The signed cookie (Starlette's SessionMiddleware) alone cannot be taken back: a copy stays valid
until it expires. So the cookie only carries `sid`, and a login is valid while its row is: not
revoked (logout, deactivation, a password change), not past its absolute lifetime, and not idle
longer than the idle limit. Both limits come from settings (`session_hours`,
`session_idle_minutes`) or `$CRMFLOW_SESSION_HOURS` / `$CRMFLOW_SESSION_IDLE_MINUTES`.

`SecureCookieOnHttps` adds the `Secure` flag to the session cookie of a response served over
HTTPS (as uvicorn reports it, e.g. behind a proxy with --proxy-headers), so a deployment behind
TLS gets it without configuration; `https_only` forces it always.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine import Engine
from engine.clock import ensure_utc

from .models import User, WebSession

COOKIE = "crmflow_session"
HOURS_ENV = "CRMFLOW_SESSION_HOURS"
IDLE_ENV = "CRMFLOW_SESSION_IDLE_MINUTES"
DEFAULT_HOURS = 8.0
DEFAULT_IDLE_MINUTES = 60.0
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionLimits:
    """How long a login lasts at most, and how long it may sit unused."""

    lifetime: timedelta = timedelta(hours=DEFAULT_HOURS)
    idle: timedelta = timedelta(minutes=DEFAULT_IDLE_MINUTES)

    @classmethod
    def configured(cls, hours: Any = None, idle_minutes: Any = None) -> SessionLimits:
        hours = _positive(hours if hours is not None else os.environ.get(HOURS_ENV), DEFAULT_HOURS, HOURS_ENV)
        idle = _positive(idle_minutes if idle_minutes is not None else os.environ.get(IDLE_ENV),
                         DEFAULT_IDLE_MINUTES, IDLE_ENV)
        return cls(timedelta(hours=hours), timedelta(minutes=idle))


def _positive(value: Any, default: float, name: str) -> float:
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if number <= 0:
        raise ValueError(f"{name}: must be more than 0, not {value!r}")
    return number


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()


class SessionStore:
    """Server-side web sessions on the engine's database."""

    def __init__(self, engine: Engine, limits: SessionLimits | None = None) -> None:
        self.engine = engine
        self.limits = limits or SessionLimits.configured()

    def start(self, user: str) -> str:
        """A new session for an (already authenticated) user; returns the id for the cookie."""
        sid = secrets.token_urlsafe(32)
        now = self.engine.now()
        with self.engine.db.write() as session:
            user_id = session.scalar(select(User.id).where(User.name == user))
            if user_id is None:
                raise ValueError(f"user {user!r} does not exist")
            session.add(WebSession(sid_hash=_digest(sid), user_id=user_id, created_at=now, last_seen_at=now,
                                   expires_at=now + self.limits.lifetime))
        return sid

    def user_of(self, sid: str | None) -> str | None:
        """The active user of a live session; None when unknown, revoked, expired, idle or deactivated."""
        if not sid:
            return None
        now = self.engine.now()
        with self.engine.db.read() as session:
            row = session.execute(
                select(WebSession.id, WebSession.last_seen_at, WebSession.expires_at, WebSession.revoked_at,
                       User.name, User.active)
                .join(User, User.id == WebSession.user_id).where(WebSession.sid_hash == _digest(sid))
            ).first()
        if row is None or row.revoked_at is not None or not row.active:
            return None
        if now >= ensure_utc(row.expires_at) or now - ensure_utc(row.last_seen_at) >= self.limits.idle:
            return None
        if now - ensure_utc(row.last_seen_at) >= TOUCH_EVERY:
            with self.engine.db.write() as session:
                session.execute(update(WebSession).where(WebSession.id == row.id).values(last_seen_at=now))
        return str(row.name)

    def end(self, sid: str | None) -> None:
        """Log out: the session stops working everywhere, copies of the cookie included."""
        if not sid:
            return
        with self.engine.db.write() as session:
            session.execute(update(WebSession).where(WebSession.sid_hash == _digest(sid),
                                                     WebSession.revoked_at.is_(None)).values(revoked_at=self.engine.now()))


def revoke_all(session: Any, user_id: int, now: datetime) -> int:
    """End every open session of a user (inside the caller's transaction); returns how many."""
    result = session.execute(
        update(WebSession).where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None)).values(revoked_at=now)
    )
    return int(result.rowcount or 0)


class SecureCookieOnHttps:
    """Adds `Secure` to the session cookie set on a response to an HTTPS request."""

    def __init__(self, app: ASGIApp, cookie: str = COOKIE) -> None:
        self.app = app
        self.prefix = f"{cookie}="

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("scheme") != "https":
            await self.app(scope, receive, send)
            return

        async def secure(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                cookies = headers.getlist("set-cookie")
                if any(self._insecure(c) for c in cookies):
                    del headers["set-cookie"]
                    for cookie in cookies:
                        headers.append("set-cookie", f"{cookie}; secure" if self._insecure(cookie) else cookie)
            await send(message)

        await self.app(scope, receive, secure)

    def _insecure(self, cookie: str) -> bool:
        return cookie.startswith(self.prefix) and "secure" not in cookie.lower()
