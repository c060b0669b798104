"""Users, groups, API tokens and web-login passwords.

Secrets are never stored: passwords and token secrets are kept as salted scrypt hashes
(`scrypt$n$r$p$salt$hash`, parameters inside so they can be raised later). A token is
`cft_<lookup>_<secret>`: the public `lookup` finds the row, the secret is checked against
the hash in constant time. Token secrets carry 256 random bits, so they use a cheaper
scrypt cost than passwords (a guess is hopeless either way) and stay fast per request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from engine import Conflict, Engine, InvalidInput, NotFound
from engine.views import View

from .models import ApiToken, Group, Membership, User
from .permissions.audit import AuditLog
from .sessions import revoke_all

PASSWORD_COST = (2**14, 8, 1)
PASSWORD_MIN = 10
PASSWORD_MAX = 256
#: passwords people pick first; long enough for the length rule, refused anyway
COMMON_PASSWORDS = frozenset({
    "password12", "password123", "password1234", "passw0rd123", "1234567890", "12345678910", "0123456789",
    "qwertyuiop", "qwerty1234", "qwerty12345", "1q2w3e4r5t", "1qaz2wsx3edc", "iloveyou12", "letmein123",
    "welcome123", "changeme123", "administrator", "admin12345", "abcdefghij", "abc1234567", "crmflow123",
})
TOKEN_COST = (2**10, 8, 1)
TOKEN_PREFIX = "cft"
LAST_USED_GRANULARITY = timedelta(minutes=1)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")
_EMAIL = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
_TOKEN = re.compile(rf"^{TOKEN_PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{20,}})$")


# -- hashing ------------------------------------------------------------------------------

def hash_secret(secret: str, cost: tuple[int, int, int] = PASSWORD_COST) -> str:
    """A salted scrypt hash with its parameters, fit for one database column."""
    n, r, p = cost
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str | None) -> bool:
    """Whether `secret` matches a `hash_secret` value; malformed hashes never match."""
    try:
        scheme, n, r, p, salt, digest = (stored or "").split("$")
        if scheme != "scrypt":
            return False
        expected = base64.urlsafe_b64decode(digest + "==")
        actual = hashlib.scrypt(
            secret.encode(), salt=base64.urlsafe_b64decode(salt + "=="), n=int(n), r=int(r), p=int(p),
            maxmem=64 * 1024 * 1024, dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


_DUMMY_HASH = hash_secret("not a password", TOKEN_COST)  # unknown tokens cost what real ones do
_dummy_password_hash: str | None = None


def _dummy_password() -> str:
    """A hash at the password cost: an unknown user name (or one without a password) costs as much
    to refuse as a wrong password, so timing does not tell which names exist."""
    global _dummy_password_hash
    if _dummy_password_hash is None:
        _dummy_password_hash = hash_secret("not a password", PASSWORD_COST)
    return _dummy_password_hash


# -- views --------------------------------------------------------------------------------

@dataclass
class UserView(View):
    name: str
    display_name: str | None
    active: bool
    groups: list[str] = field(default_factory=list)
    has_password: bool = False
    created_at: datetime | None = None
    email: str | None = None
    time_zone: str | None = None


@dataclass
class TokenView(View):
    id: int
    lookup: str
    user: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass
class IssuedToken(View):
    """A new token: `token` is shown once and never stored."""

    token: str
    info: TokenView


# -- the directory ------------------------------------------------------------------------

class Accounts:
    """The user directory on the engine's database (tables of the `worklists` branch)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.audit = AuditLog(engine)

    # users ------------------------------------------------------------------------------
    def add_user(
        self, name: str, groups: Iterable[str] = (), *, display_name: str | None = None,
        password: str | None = None, token_label: str | None = "created with the user", email: str | None = None,
        by: str | None = None,
    ) -> tuple[UserView, IssuedToken | None]:
        """Create a user in `groups` (created when new); returns the user and a first API token.
        `by` (who does it) goes to the audit log with the new user's groups."""
        name = check_name(name, "user name")
        group_names = [check_name(g, "group name") for g in groups]
        with self.engine.db.write() as session:
            if session.scalar(select(User.id).where(User.name == name)) is not None:
                raise Conflict(f"user {name!r} already exists (crmflow users list)")
            user = User(
                name=name, display_name=display_name or None, active=True, created_at=self.engine.now(),
                email=check_email(email),
                password_hash=hash_secret(check_password(password, name)) if password is not None else None,
            )
            session.add(user)
            session.flush()
            self._join(session, user, group_names)
            issued = self._issue(session, user, token_label) if token_label is not None else None
            self.audit.record(session, by, "user.add", name, {"groups": sorted(set(group_names))})
            return self._view(session, user), issued

    def set_groups(self, name: str, groups: Iterable[str], by: str | None = None) -> UserView:
        """Replace a user's memberships (audited with the groups before and after)."""
        group_names = [check_name(g, "group name") for g in groups]
        with self.engine.db.write() as session:
            user = self._user(session, name)
            before = self._view(session, user).groups
            session.execute(delete(Membership).where(Membership.user_id == user.id))
            self._join(session, user, group_names)
            view = self._view(session, user)
            self.audit.record(session, by, "user.groups", name, {"before": before, "after": view.groups})
            return view

    def set_email(self, name: str, email: str | None) -> UserView:
        """Where the user's task reminders go; None stops them."""
        with self.engine.db.write() as session:
            user = self._user(session, name)
            user.email = check_email(email)
            return self._view(session, user)

    def set_time_zone(self, name: str, time_zone: str | None) -> UserView:
        """The IANA time zone (e.g. Europe/Berlin) the pages show this user's times in; None: UTC."""
        with self.engine.db.write() as session:
            user = self._user(session, name)
            user.time_zone = check_time_zone(time_zone)
            return self._view(session, user)

    def time_zone_of(self, name: str) -> str | None:
        with self.engine.db.read() as session:
            return session.scalar(select(User.time_zone).where(User.name == name))

    def addresses(self, users: Iterable[str] = (), groups: Iterable[str] = ()) -> list[str]:
        """The email addresses of these active users and of the active members of these groups."""
        users, groups = list(users), list(groups)
        if not users and not groups:
            return []
        with self.engine.db.read() as session:
            stmt = (
                select(User.email).distinct()
                .outerjoin(Membership, Membership.user_id == User.id)
                .outerjoin(Group, Group.id == Membership.group_id)
                .where(User.active.is_(True), User.email.is_not(None))
                .where(or_(User.name.in_(users), Group.name.in_(groups)))
            )
            return sorted(e for e in session.scalars(stmt) if e)

    def set_password(self, name: str, password: str, by: str | None = None) -> None:
        """A new web-login password; the user's open web sessions end (they log in again)."""
        with self.engine.db.write() as session:
            user = self._user(session, name)
            user.password_hash = hash_secret(check_password(password, name))
            ended = revoke_all(session, user.id, self.engine.now())
            self.audit.record(session, by, "user.password", name, {"sessions_ended": ended})

    def set_active(self, name: str, active: bool, by: str | None = None) -> UserView:
        """Deactivated users can neither log in nor use their tokens nor act on tasks, from the
        next request on; their web sessions are ended."""
        with self.engine.db.write() as session:
            user = self._user(session, name)
            was = bool(user.active)
            user.active = active
            detail: dict[str, object] = {"was_active": was}
            if not active:
                detail["sessions_ended"] = revoke_all(session, user.id, self.engine.now())
            self.audit.record(session, by, "user.reactivate" if active else "user.deactivate", name, detail)
            return self._view(session, user)

    def get_user(self, name: str) -> UserView:
        with self.engine.db.read() as session:
            return self._view(session, self._user(session, name))

    def find_user(self, name: str) -> UserView | None:
        with self.engine.db.read() as session:
            user = session.scalars(select(User).where(User.name == name)).first()
            return self._view(session, user) if user else None

    def list_users(self) -> list[UserView]:
        with self.engine.db.read() as session:
            users = list(session.scalars(select(User).order_by(User.name)))
            groups = self._groups_by_user(session)
            return [self._view(session, u, groups.get(u.id, [])) for u in users]

    def groups_of(self, name: str, session: Session | None = None) -> frozenset[str] | None:
        """The groups of an active user; None when the user is unknown or inactive."""
        if session is None:
            with self.engine.db.read() as own:
                return self.groups_of(name, own)
        rows = session.execute(
            select(User.active, Group.name)
            .outerjoin(Membership, Membership.user_id == User.id)
            .outerjoin(Group, Group.id == Membership.group_id)
            .where(User.name == name)
        ).all()
        if not rows or not rows[0].active:
            return None
        return frozenset(r.name for r in rows if r.name is not None)

    def members_of(self, group: str) -> list[str]:
        with self.engine.db.read() as session:
            return list(
                session.scalars(
                    select(User.name)
                    .join(Membership, Membership.user_id == User.id)
                    .join(Group, Group.id == Membership.group_id)
                    .where(Group.name == group)
                    .order_by(User.name)
                )
            )

    def verify_password(self, name: str, password: str) -> UserView | None:
        """The user when `password` is theirs and they are active; None otherwise (same cost either way)."""
        with self.engine.db.read() as session:
            user = session.scalars(select(User).where(User.name == name)).first()
            if user is None or not user.password_hash:
                verify_secret(password, _dummy_password())
                return None
            if not verify_secret(password, user.password_hash) or not user.active:
                return None
            return self._view(session, user)

    # tokens -----------------------------------------------------------------------------
    def issue_token(self, name: str, label: str | None = None, by: str | None = None) -> IssuedToken:
        with self.engine.db.write() as session:
            issued = self._issue(session, self._user(session, name), label)
            self.audit.record(session, by, "token.issue", name, {"token": issued.info.lookup, "label": label})
            return issued

    def list_tokens(self, name: str) -> list[TokenView]:
        with self.engine.db.read() as session:
            user = self._user(session, name)
            rows = session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))
            return [_token_view(t, user.name) for t in rows]

    def revoke_token(self, lookup: str, by: str | None = None) -> TokenView:
        """Revoke by the token's public id (`cft_<lookup>_...`) or by the whole token."""
        match = _TOKEN.match(lookup.strip())
        key = match.group(1) if match else lookup.strip()
        with self.engine.db.write() as session:
            row = session.scalars(select(ApiToken).where(ApiToken.lookup == key)).first()
            if row is None:
                raise NotFound(f"no API token with id {key!r}")
            row.revoked_at = row.revoked_at or self.engine.now()
            owner = session.scalar(select(User.name).where(User.id == row.user_id)) or ""
            self.audit.record(session, by, "token.revoke", owner, {"token": row.lookup})
            return _token_view(row, owner)

    def authenticate_token(self, raw: str) -> UserView | None:
        """The active user a bearer token belongs to, or None (unknown, wrong, revoked)."""
        match = _TOKEN.match((raw or "").strip())
        if match is None:
            return None
        lookup, secret = match.groups()
        with self.engine.db.read() as session:
            row = session.scalars(select(ApiToken).where(ApiToken.lookup == lookup)).first()
            if row is None:
                verify_secret(secret, _DUMMY_HASH)
                return None
            if not verify_secret(secret, row.token_hash) or row.revoked_at is not None:
                return None
            user = session.get(User, row.user_id)
            if user is None or not user.active:
                return None
            view = self._view(session, user)
            stale = row.last_used_at is None or self.engine.now() - row.last_used_at >= LAST_USED_GRANULARITY
        if stale:
            self._touch(row.id)
        return view

    def _touch(self, token_id: int) -> None:
        with self.engine.db.write() as session:
            row = session.get(ApiToken, token_id)
            if row is not None:
                row.last_used_at = self.engine.now()
                row.uses = (row.uses or 0) + 1

    # helpers ----------------------------------------------------------------------------
    def _issue(self, session: Session, user: User, label: str | None) -> IssuedToken:
        lookup = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        row = ApiToken(
            lookup=lookup, token_hash=hash_secret(secret, TOKEN_COST), user_id=user.id, label=label,
            created_at=self.engine.now(), uses=0,
        )
        session.add(row)
        session.flush()
        return IssuedToken(f"{TOKEN_PREFIX}_{lookup}_{secret}", _token_view(row, user.name))

    @staticmethod
    def _user(session: Session, name: str) -> User:
        user = session.scalars(select(User).where(User.name == name)).first()
        if user is None:
            raise NotFound(f"user {name!r} does not exist (crmflow users add {name} --groups ...)")
        return user

    @staticmethod
    def _join(session: Session, user: User, group_names: list[str]) -> None:
        for group_name in dict.fromkeys(group_names):
            group = session.scalars(select(Group).where(Group.name == group_name)).first()
            if group is None:
                group = Group(name=group_name)
                session.add(group)
                session.flush()
            session.add(Membership(user_id=user.id, group_id=group.id))
        session.flush()

    @staticmethod
    def _groups_by_user(session: Session) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        rows = session.execute(
            select(Membership.user_id, Group.name).join(Group, Group.id == Membership.group_id).order_by(Group.name)
        )
        for user_id, group_name in rows:
            found.setdefault(user_id, []).append(group_name)
        return found

    @staticmethod
    def _view(session: Session, user: User, groups: list[str] | None = None) -> UserView:
        if groups is None:
            groups = sorted(
                session.scalars(
                    select(Group.name).join(Membership, Membership.group_id == Group.id)
                    .where(Membership.user_id == user.id)
                )
            )
        return UserView(
            name=user.name, display_name=user.display_name, active=bool(user.active), groups=groups,
            has_password=bool(user.password_hash), created_at=user.created_at, email=user.email,
            time_zone=user.time_zone,
        )


def _token_view(row: ApiToken, user: str) -> TokenView:
    return TokenView(row.id, row.lookup, user, row.label, row.created_at, row.last_used_at, row.revoked_at)


def check_name(name: str, what: str) -> str:
    """Names appear in task rows and as `user:NAME` candidates, so they stay plain."""
    name = (name or "").strip()
    if not _NAME.match(name):
        raise InvalidInput(
            f"{what} {name!r} is not usable: use letters, digits, '.', '_', '@' or '-' (at most 100, no spaces)"
        )
    return name


def check_email(email: str | None) -> str | None:
    """A plain address (name@domain) or None; anything else is refused with the address named."""
    if email is None or not email.strip():
        return None
    email = email.strip()
    if not _EMAIL.match(email):
        raise InvalidInput(f"email {email!r} is not an address like name@example.com")
    return email


def check_time_zone(time_zone: str | None) -> str | None:
    """An IANA time zone name (Europe/Berlin, America/New_York, UTC) or None."""
    if time_zone is None or not time_zone.strip():
        return None
    name = time_zone.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"time zone {name!r} is not an IANA time zone like Europe/Berlin or UTC") from None
    return name


def check_password(password: str | None, user: str | None = None) -> str:
    """The password rules: 10 to 256 characters, not the user name, not a common or trivial password.
    (Length beats composition rules; NIST SP 800-63B.)"""
    if password is None or len(password) < PASSWORD_MIN:
        raise InvalidInput(f"a password needs at least {PASSWORD_MIN} characters (a few words make a good one)")
    if len(password) > PASSWORD_MAX:
        raise InvalidInput(f"a password may have at most {PASSWORD_MAX} characters")
    lowered = password.lower()
    if user and len(user) >= 3 and user.lower() in lowered:
        raise InvalidInput("a password must not contain the user name")
    if lowered in COMMON_PASSWORDS or len(set(password)) <= 2 or _is_run(password):
        raise InvalidInput("that password is too easy to guess (a common password, a repeated character or a "
                           "run like 1234567890); choose another")
    return password


def _is_run(text: str) -> bool:
    """abcdefghij, 9876543210: every character one step from the last."""
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:], strict=False)}
    return len(steps) == 1 and steps <= {1, -1}
