"""Who works the queues: users, groups, memberships and API tokens.

Kept on their own declarative base and Alembic branch (`worklists`) so the engine's
schema knows nothing of people; tasks refer to users by name only.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from engine.read_model import UTCDateTime


class WorklistBase(DeclarativeBase):
    pass


class User(WorklistBase):
    """A person who works tasks; `name` is what tasks record as assignee and completer."""

    __tablename__ = "wl_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(255))
    password_hash: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str | None] = mapped_column(String(320))  # where task reminders go
    time_zone: Mapped[str | None] = mapped_column(String(64))  # IANA name the pages show times in (None: UTC)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Group(WorklistBase):
    """A team (sales, service, ...); lanes name the groups that may work their queue."""

    __tablename__ = "wl_group"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(255))


class Membership(WorklistBase):
    __tablename__ = "wl_membership"
    user_id: Mapped[int] = mapped_column(ForeignKey("wl_user.id", ondelete="CASCADE"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("wl_group.id", ondelete="CASCADE"), primary_key=True)


class ApiToken(WorklistBase):
    """A bearer token: only its public id and a salted hash of its secret are stored."""

    __tablename__ = "wl_api_token"
    __table_args__ = (Index("ix_wl_api_token_user", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    lookup: Mapped[str] = mapped_column(String(32), unique=True)
    token_hash: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[int] = mapped_column(ForeignKey("wl_user.id", ondelete="CASCADE"))
    label: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    uses: Mapped[int] = mapped_column(Integer, default=0)


class AuditEntry(WorklistBase):
    """Who changed a permission (groups, activation, passwords, tokens, the permission file) or
    was refused an admin function, and when; append-only."""

    __tablename__ = "wl_audit"
    __table_args__ = (Index("ix_wl_audit_at", "at"), Index("ix_wl_audit_actor", "actor", "at"))
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(String(512))
    outcome: Mapped[str] = mapped_column(String(16))  # done | refused
    detail: Mapped[str | None] = mapped_column(Text)  # JSON


class WebSession(WorklistBase):
    """A web login: the cookie carries a random id, only its hash is stored, so logging out (or an
    admin deactivating the user) ends it on the server and a copied cookie stops working."""

    __tablename__ = "wl_session"
    __table_args__ = (Index("ix_wl_session_user", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    sid_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("wl_user.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LoginThrottle(WorklistBase):
    """Failed web logins per user name (`user:NAME`) and per client address (`client:ADDR`)."""

    __tablename__ = "wl_login_throttle"
    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
