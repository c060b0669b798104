"""The engine facade: the one way in for every interface.

CLI, HTTP API, web pages, scheduler, workers and scenario runner all call these methods. The
facade is a thin front: each method owns no SQL and no rule, it hands the call to the room
of its concern (engine/rooms/: deployments, starting and correlation, task work, due work,
migration, reading; engine/operations.py and retention.py for the operator's repairs). Each
changing call is one transaction around one unit of work (engine/unit.py); queries use the
read engine and return plain views (engine/views.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from . import heatmap, migration, operations, outbox
from . import retention as retention_
from .clock import ensure_utc
from .core import SPEC_CACHE_SIZE, UNASSIGNED_QUEUE, EngineCore, LoadedVersion, TaskRouter
from .data_parsing import parse_data
from .instances import InstanceRecord
from .modification import ModificationPlan
from .operations import CleanupResult
from .outbox import DeliveryReport, Sender
from .retention import Retention
from .rooms import deployments, due_work, migrating, reading, starting, task_work
from .rooms.reading import TaskFormSource
from .row_views import incident_view, task_view, timer_view
from .validation import Report, ValidationContext
from .views import (
    DeployResult,
    FiredTimer,
    HistoryView,
    HumanTaskView,
    IncidentView,
    InstanceDetail,
    InstanceView,
    ProcessVersionView,
    SignalView,
    TickResult,
    TimerView,
)

__all__ = ["SPEC_CACHE_SIZE", "UNASSIGNED_QUEUE", "Engine", "LoadedVersion", "TaskFormSource", "TaskRouter",
           "incident_view", "parse_data", "task_view", "timer_view"]


class Engine(EngineCore):
    """Deploy diagrams, start and advance instances, and query what they wait for.

    Built as `Engine(db_url, registry, clock, *, max_steps, max_call_depth, auto_migrate,
    migrations, task_router, working_time, unit_seconds, monotonic)` (engine/core.py)."""

    # -- definitions (rooms/deployments.py) -------------------------------------------------
    def check(self, paths: Iterable[str | Path], context: ValidationContext | None = None) -> Report:
        """What `crmflow validate` reports for `paths`, judged against this engine's handlers and
        what it has deployed: the one check deploy runs before storing anything."""
        return deployments.check(self, paths, context)

    def deploy(self, paths: Iterable[str | Path], *, force: bool = False,
               context: ValidationContext | None = None) -> DeployResult:
        """Store each changed process as a new version; unchanged ones keep theirs.

        Runs `check` first and refuses (`DeployRefused`, every error with file, line and element)
        when it finds errors, unless `force`; its warnings come back in the result.
        """
        return deployments.deploy(self, paths, force, context)

    def preview_deploy(self, paths: Iterable[str | Path]) -> DeployResult:
        """What `deploy` would store, stored nowhere: each process with `changed` and, when a
        version exists, its element diff against the latest (the workbench shows it before deploying)."""
        return deployments.preview_deploy(self, paths)

    def list_start_timers(self, state: str = "active") -> list[dict[str, Any]]:
        return deployments.list_start_timers(self, state)

    def diff_versions(self, process_id: str, from_version: int, to_version: int) -> migration.VersionDiff:
        """What changed between two deployed versions of a process."""
        return deployments.diff_versions(self, process_id, from_version, to_version)

    def list_definitions(self, process_id: str | None = None) -> list[ProcessVersionView]:
        return deployments.list_definitions(self, process_id)

    def diagram_source(self, process_id: str, version: int | None = None) -> bytes:
        """The BPMN XML a version was deployed from (for drawing)."""
        return deployments.diagram_source(self, process_id, version)

    # -- between versions (rooms/migrating.py) -----------------------------------------------
    def migrate(self, instance_id: int, to_version: int | None = None, dry_run: bool = False,
                user: str | None = None) -> migration.MigrationPlan:
        """Move a running instance to another version (default: the latest) if its active
        elements all exist there; otherwise refuse with the reasons. `dry_run` only plans."""
        return migrating.migrate(self, instance_id, to_version, dry_run, user)

    def migrate_all(self, process_id: str, to_version: int | None = None, dry_run: bool = False,
                    user: str | None = None) -> list[migration.MigrationPlan]:
        """Every running instance of a process, one transaction each; refusals are reported."""
        return migrating.migrate_all(self, process_id, to_version, dry_run, user)

    # -- starting and correlation (rooms/starting.py) ----------------------------------------
    def start(self, process_id: str, data: dict[str, Any] | str | None = None, business_key: str | None = None,
              user: str | None = None) -> InstanceView:
        """Start the latest version of a process and run it until it waits."""
        return starting.start(self, process_id, data, business_key, user)

    def correlate(self, message: str, key: str | None = None, data: dict[str, Any] | str | None = None
                  ) -> InstanceView:
        """Deliver a message to the instance waiting for it (by business or correlation key),
        or start a process whose start event catches it."""
        return starting.correlate(self, message, key, data)

    def deliver_thrown(self, session: Session, message: str, payload: Any, source: InstanceRecord,
                       now: datetime) -> None:
        """A message thrown by one instance goes to the one waiting for it, if any (by the
        sender's business key, unless the payload names another in `business_key`)."""
        starting.deliver_thrown(self, session, message, payload, source, now)

    def signal(self, name: str, data: dict[str, Any] | str | None = None) -> SignalView:
        """Broadcast a signal: every instance waiting on it catches it (each in its own unit of
        work), and every deployed process with a signal start event of that name starts."""
        return starting.signal(self, name, data)

    def broadcast_thrown_signal(self, session: Session, name: str, payload: dict[str, Any] | None,
                                source: InstanceRecord, now: datetime) -> None:
        """A signal thrown by one instance reaches every other instance waiting on it, in the
        same transaction; it starts no new instances."""
        starting.broadcast_thrown_signal(self, session, name, payload, source, now)

    # -- work on human tasks (rooms/task_work.py) ---------------------------------------------
    def complete_task(self, task_id: str, user: str | None = None, data: dict[str, Any] | str | None = None,
                      require_claim: bool = False) -> InstanceView:
        """Complete a READY user or manual task with form data, then advance the instance.

        A task picked by someone is completed by them only; with `require_claim` (the
        worklists) an unpicked task must be picked first."""
        return task_work.complete_task(self, task_id, user, data, require_claim)

    def claim_task(self, task_id: str, user: str) -> HumanTaskView:
        """Pick an open task for `user`; of two agents picking at once exactly one gets it."""
        return task_work.claim_task(self, task_id, user)

    def release_task(self, task_id: str, user: str, force: bool = False) -> HumanTaskView:
        """Put a picked task back in its queue (its assignee, or anyone with `force`)."""
        return task_work.release_task(self, task_id, user, force)

    def route_task(self, task_id: str, by: str, queue: str | None = None, assignee: str | None = None,
                   candidate_groups: list[str] | None = None) -> HumanTaskView:
        """Move an open task to another queue and/or person (None leaves that part as it is).

        `candidate_groups` replaces who may pick it (a task moved to another queue should be
        workable by that queue's groups, not the old one's)."""
        return task_work.route_task(self, task_id, by, queue, assignee, candidate_groups)

    def comment_task(self, task_id: str, user: str, text: str) -> HistoryView:
        """A note on a task, kept in the instance's history."""
        return task_work.comment_task(self, task_id, user, text)

    # -- due work: what the scheduler runs (rooms/due_work.py) --------------------------------
    def tick(self, now: datetime | None = None, worker: str | None = "local", lease_seconds: float = 60.0
             ) -> TickResult:
        """One scheduler pass: fire due timers, then retry incidents whose backoff passed."""
        return due_work.tick(self, now, worker, lease_seconds)

    def fire_due_timers(self, now: datetime | None = None, limit: int = 500) -> list[FiredTimer]:
        """Fire every timer due at `now` (default: the clock), oldest first, once each."""
        return due_work.fire_due_timers(self, now, limit)

    def fire_start_timers(self, now: datetime | None = None) -> list[FiredTimer]:
        """Start one instance per due timer start event; plan its next occurrence."""
        return due_work.fire_start_timers(self, now)

    def retry_incident(self, incident_id: int) -> InstanceView:
        """Run the failed step again now; resolves the incident if it succeeds."""
        return due_work.retry_incident(self, incident_id)

    def retry_due_incidents(self, now: datetime | None = None, limit: int = 100) -> list[int]:
        """Automatic retries whose backoff has passed; returns the incident ids tried."""
        return due_work.retry_due_incidents(self, now, limit)

    def run_jobs(self, worker: str, now: datetime | None = None, limit: int = 20, lease_seconds: float = 60.0
                 ) -> list[int]:
        """Claim due jobs (SKIP LOCKED + a lease), run each in its own unit; return the job ids run.

        A job whose lease ran out (its worker died) is taken over. The job row is deleted in
        the same transaction as the step it runs, so the step commits exactly once."""
        return due_work.run_jobs(self, worker, now, limit, lease_seconds)

    def next_due_at(self) -> datetime | None:
        """When the scheduler next has work: the earliest pending timer or automatic retry."""
        return due_work.next_due_at(self)

    def deliver_outbox(self, senders: dict[str, Sender], now: datetime | None = None, limit: int = 100
                       ) -> DeliveryReport:
        """Hand pending side effects to their channel's sender (after the steps committed)."""
        return outbox.deliver(self.db, senders, ensure_utc(now) if now else self.now(), limit)

    def metrics_text(self) -> str:
        """Prometheus text exposition of this process's counters and the database's gauges."""
        with self.db.read() as session:
            return self.metrics.render(session)

    # -- the operator console: engine/operations.py, modification.py, retention.py, heatmap.py --
    def cancel_instance(self, instance_id: int, user: str | None = None, reason: str | None = None) -> InstanceDetail:
        """End an instance for good (tasks, timers, subscriptions, jobs go); `reason` is required."""
        return operations.cancel(self, instance_id, user, reason)

    def suspend_instance(self, instance_id: int, user: str | None = None, reason: str | None = None) -> InstanceDetail:
        """Hold an instance: no timers, jobs, completions or messages until resumed."""
        return operations.suspend(self, instance_id, user, reason)

    def resume_instance(self, instance_id: int, user: str | None = None, reason: str | None = None) -> InstanceDetail:
        return operations.resume(self, instance_id, user, reason)

    def edit_variables(self, instance_id: int, values: Any = None, remove: list[str] | None = None,
                       user: str | None = None, reason: str | None = None) -> InstanceDetail:
        """Set/remove process variables; the history keeps old and new values."""
        return operations.edit_variables(self, instance_id, values, remove, user, reason)

    def modify_instance(self, instance_id: int, cancel_at: str | None = None, start_at: str | None = None,
                        dry_run: bool = False, user: str | None = None,
                        reason: str | None = None) -> ModificationPlan:
        """Cancel the token at one element and/or start at another; `dry_run` only plans."""
        return operations.modify(self, instance_id, cancel_at, start_at, dry_run, user, reason)

    def fire_timer_now(self, timer_id: int, user: str | None = None) -> InstanceDetail:
        return operations.fire_timer(self, timer_id, user)

    def element_counts(self, process_id: str, version: int) -> dict[str, int]:
        """element id → unfinished instances of that version at it (for the heatmap)."""
        with self.db.read() as session:
            return heatmap.element_counts(session, process_id, version)

    def version_counts(self, process_id: str) -> dict[int, dict[str, int]]:
        """version → status → number of instances."""
        with self.db.read() as session:
            return heatmap.version_counts(session, process_id)

    def cleanup_history(self, retention: Retention | None = None, now: datetime | None = None,
                        dry_run: bool = False, batch: int = 50) -> CleanupResult:
        """Remove finished instances older than their retention, in small batches."""
        return retention_.cleanup(self, retention or Retention(), now, dry_run, batch)

    # -- queries (rooms/reading.py) -----------------------------------------------------------
    def get_instance(self, instance_id: int, with_history: bool = True) -> InstanceDetail:
        return reading.get_instance(self, instance_id, with_history)

    def list_instances(self, process_id: str | None = None, status: str | None = None,
                       business_key: str | None = None, limit: int = 100, offset: int = 0,
                       visible: Any = None) -> list[InstanceView]:
        """`visible`: an optional WHERE clause on `read_model.Instance` (e.g. what a user may read)."""
        return reading.list_instances(self, process_id, status, business_key, limit, offset, visible)

    def list_tasks(self, state: str = "open", instance_id: int | None = None, assignee: str | None = None,
                   lane: str | None = None, process_id: str | None = None, limit: int = 100, offset: int = 0,
                   ) -> list[HumanTaskView]:
        return reading.list_tasks(self, state, instance_id, assignee, lane, process_id, limit, offset)

    def get_task(self, task_id: str) -> HumanTaskView:
        return reading.get_task(self, task_id)

    def task_form_source(self, task_id: str) -> TaskFormSource:
        """Where a task's form comes from beyond its file name: the inline JSON Schema (a Camunda
        generated form) and the `spiffworkflow:variableName` its data is kept under."""
        return reading.task_form_source(self, task_id)

    def list_incidents(self, state: str = "open", instance_id: int | None = None) -> list[IncidentView]:
        return reading.list_incidents(self, state, instance_id)

    def list_timers(self, due_before: datetime | None = None, state: str = "pending") -> list[TimerView]:
        return reading.list_timers(self, due_before, state)

    def history(self, instance_id: int) -> list[HistoryView]:
        return reading.history(self, instance_id)
