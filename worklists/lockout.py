"""Failed web logins slow an attacker down: a user name, and a client address, lock for a while.

After `USER_LIMIT` failures for one user name within `WINDOW`, that name is locked for `LOCK`
(whether or not the user exists, so the lock says nothing about who has an account); after
`CLIENT_LIMIT` failures from one client address, that address is. A locked attempt is refused
before the password is checked, with a message saying until when; a successful login clears
the user name's count. `crmflow users unlock NAME` clears a lock early.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select

from engine import Engine
from engine.clock import ensure_utc

from .models import LoginThrottle

USER_LIMIT = 5
CLIENT_LIMIT = 20
WINDOW = timedelta(minutes=15)
LOCK = timedelta(minutes=15)


@dataclass(frozen=True)
class Locked:
    """Why a login attempt is refused without looking at the password."""

    until: datetime
    by_client: bool

    def message(self) -> str:
        when = ensure_utc(self.until).strftime("%H:%M UTC")
        who = "from your address" if self.by_client else "for this user name"
        return (f"Too many failed logins {who}: try again after {when}, "
                "or ask an administrator to unlock it (crmflow users unlock NAME).")


def user_key(name: str) -> str:
    return f"user:{name.strip().lower()[:300]}"


def client_key(address: str | None) -> str:
    return f"client:{(address or 'unknown')[:300]}"


class LoginThrottleStore:
    """Counts failed logins per key on the engine's database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def locked(self, name: str, address: str | None) -> Locked | None:
        now = self.engine.now()
        with self.engine.db.read() as session:
            rows = session.scalars(select(LoginThrottle).where(
                LoginThrottle.key.in_([user_key(name), client_key(address)]))).all()
        for row in rows:
            if row.locked_until is not None and ensure_utc(row.locked_until) > now:
                return Locked(ensure_utc(row.locked_until), row.key.startswith("client:"))
        return None

    def failed(self, name: str, address: str | None) -> None:
        """Count a failed attempt for the name and the address; lock either at its limit."""
        now = self.engine.now()
        with self.engine.db.write() as session:
            for key, limit in ((user_key(name), USER_LIMIT), (client_key(address), CLIENT_LIMIT)):
                row = session.get(LoginThrottle, key)
                if row is None:
                    row = LoginThrottle(key=key, failures=0, first_failed_at=now)
                    session.add(row)
                elif now - ensure_utc(row.first_failed_at) > WINDOW and not self._is_locked(row, now):
                    row.failures, row.first_failed_at, row.locked_until = 0, now, None
                row.failures = (row.failures or 0) + 1
                if row.failures >= limit and not self._is_locked(row, now):
                    row.locked_until = now + LOCK
                    row.failures, row.first_failed_at = 0, now

    def succeeded(self, name: str) -> None:
        with self.engine.db.write() as session:
            session.execute(delete(LoginThrottle).where(LoginThrottle.key == user_key(name)))

    def unlock(self, name: str) -> bool:
        """Clear a user name's lock and count; True when there was one."""
        with self.engine.db.write() as session:
            result = session.execute(delete(LoginThrottle).where(LoginThrottle.key == user_key(name)))
            return bool(result.rowcount)

    @staticmethod
    def _is_locked(row: LoginThrottle, now: datetime) -> bool:
        return row.locked_until is not None and ensure_utc(row.locked_until) > now
