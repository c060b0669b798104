"""The engine's tables: definitions, instances and the projections interfaces query.

The serialized workflow (without its spec) is the truth about an instance; the other
tables are projections of it written in the same transaction, so the worklists, the
scheduler and the CLI can query without deserializing anything.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from .clock import ensure_utc


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = ensure_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else ensure_utc(value)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class DefinitionFile(Base):
    """One deployed revision of a `.bpmn` or `.dmn` file, kept for drawing and diffing."""

    __tablename__ = "wf_definition_file"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(8))
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProcessVersion(Base):
    """A deployed, executable process: its spec serialized once, shared by its instances."""

    __tablename__ = "wf_process_version"
    __table_args__ = (
        UniqueConstraint("process_id", "version"),
        UniqueConstraint("process_id", "content_hash"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    file_id: Mapped[int] = mapped_column(ForeignKey("wf_definition_file.id"))
    spec_json: Mapped[str] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(16))
    message_starts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Instance(Base):
    """A running or finished process instance; `state` is the workflow without its spec."""

    __tablename__ = "wf_instance"
    __table_args__ = (
        Index("ix_wf_instance_status", "status", "process_id"),
        Index("ix_wf_instance_key", "business_key"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(255))
    version_id: Mapped[int] = mapped_column(ForeignKey("wf_process_version.id"))
    business_key: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(Text, default="")
    variables: Mapped[str | None] = mapped_column(Text)
    serializer_version: Mapped[str] = mapped_column(String(16))
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    started_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    steps: Mapped[int] = mapped_column(Integer, default=0)

    __mapper_args__ = {"version_id_col": lock_version}


class HumanTask(Base):
    """A user or manual task waiting for (or done by) a person."""

    __tablename__ = "wf_human_task"
    __table_args__ = (
        Index("ix_wf_human_task_open", "state", "lane", "due_at"),
        Index("ix_wf_human_task_queue", "state", "queue", "assignee", "due_at"),
        Index("ix_wf_human_task_assignee", "assignee", "state", "due_at"),
        Index("ix_wf_human_task_instance", "instance_id", "state"),
        Index("ix_wf_human_task_done_by", "completed_by", "completed_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("wf_instance.id", ondelete="CASCADE"))
    process_id: Mapped[str] = mapped_column(String(255))
    business_key: Mapped[str | None] = mapped_column(String(255))
    element_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    lane: Mapped[str | None] = mapped_column(String(255))
    form: Mapped[str | None] = mapped_column(String(255))
    ui_form: Mapped[str | None] = mapped_column(String(255))
    instructions: Mapped[str | None] = mapped_column(Text)
    queue: Mapped[str | None] = mapped_column(String(255))
    assignee: Mapped[str | None] = mapped_column(String(255))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    candidate_groups: Mapped[list[Any]] = mapped_column(JSON, default=list)
    priority: Mapped[int | None] = mapped_column(Integer)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    follow_up_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_by: Mapped[str | None] = mapped_column(String(255))


class Timer(Base):
    """A timer a diagram is waiting on; the row, not any scheduler, is the truth."""

    __tablename__ = "wf_timer"
    __table_args__ = (
        Index("ix_wf_timer_due", "state", "due_at"),
        Index("ix_wf_timer_instance", "instance_id", "state"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("wf_instance.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MessageSubscription(Base):
    """A catch event waiting for a named message (with its correlation key if any) or,
    with kind "signal", for a signal broadcast to every instance waiting on it."""

    __tablename__ = "wf_message_subscription"
    __table_args__ = (
        Index("ix_wf_subscription_name", "message_name", "correlation_key"),
        Index("ix_wf_subscription_kind_name", "kind", "message_name"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("wf_instance.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(255))
    message_name: Mapped[str] = mapped_column(String(255))
    correlation_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16), default="message", server_default="message")


class Incident(Base):
    """A step that failed: kept with its error until retried successfully or resolved."""

    __tablename__ = "wf_incident"
    __table_args__ = (Index("ix_wf_incident_open", "state", "next_retry_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("wf_instance.id", ondelete="CASCADE"), index=True)
    task_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(255))
    element_name: Mapped[str | None] = mapped_column(String(255))
    error_type: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    retries_left: Mapped[int] = mapped_column(Integer, default=0)
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class HistoryEntry(Base):
    """Append-only: one row per transition of a diagram element, with who and what changed."""

    __tablename__ = "wf_history"
    __table_args__ = (Index("ix_wf_history_instance", "instance_id", "id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("wf_instance.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    event: Mapped[str] = mapped_column(String(32))
    task_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(255))
    element_name: Mapped[str | None] = mapped_column(String(255))
    element_type: Mapped[str | None] = mapped_column(String(64))
    user: Mapped[str | None] = mapped_column(String(255))
    data_delta: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class OutboxMessage(Base):
    """A side effect (an email, a notification) written with the step that caused it.

    Delivered after commit by `Engine.deliver_outbox`; the idempotency key travels with the
    message (e.g. as the SMTP Message-ID), so a redelivery after a crash is recognisable.
    """

    __tablename__ = "wf_outbox"
    __table_args__ = (Index("ix_wf_outbox_pending", "state", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("wf_instance.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Job(Base):
    """Work a worker does after a commit: an asynchronous task to run.

    Acquired with `FOR UPDATE SKIP LOCKED` (PostgreSQL) and a lease: the owner and when its
    claim expires. A worker that dies leaves a lease that runs out and is taken over; the
    work itself commits in one transaction with the instance, so it happens exactly once.
    """

    __tablename__ = "wf_job"
    __table_args__ = (
        UniqueConstraint("instance_id", "task_id"),
        Index("ix_wf_job_due", "due_at", "lease_expires_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("wf_instance.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(255))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StartTimer(Base):
    """A timer start event of a deployed version: when it is due, a new instance starts.

    Cycles (`R/P1D`) and cron expressions (`"cron: 0 2 * * *"`) fire once per occurrence;
    after downtime they fire once and move on to the next future occurrence.
    """

    __tablename__ = "wf_start_timer"
    __table_args__ = (Index("ix_wf_start_timer_due", "state", "next_due_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(255))
    version_id: Mapped[int] = mapped_column(ForeignKey("wf_process_version.id"))
    element_id: Mapped[str] = mapped_column(String(255))
    expression: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16))
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remaining: Mapped[int] = mapped_column(Integer, default=-1)
    period_seconds: Mapped[float | None] = mapped_column()
    state: Mapped[str] = mapped_column(String(16))
    last_fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
