"""The timer scheduler: an APScheduler job that fires due timers through the facade.

The database row is the truth about every timer; APScheduler only decides *when to
look*. Its job polls every `poll_interval` seconds and, after each pass, moves its own
next run to the earliest due time when that comes sooner, so a timer due in 300 ms is
fired in about 300 ms, not at the next poll. Several schedulers (threads, processes or
machines) may run against one database: each timer is fired by exactly one of them,
because firing locks the instance and re-reads the row (see `Engine.fire_due_timers`).

We use APScheduler's in-memory job store on purpose: APScheduler 3's persistent stores
must not be shared by several schedulers, and nothing about a timer lives there.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from .facade import Engine
from .outbox import Sender
from .retention import Retention
from .views import TickResult

log = logging.getLogger(__name__)
JOB_ID = "crmflow-due-work"


class Scheduler:
    """Runs `Engine.tick` (and outbox delivery) in the background until `shutdown`."""

    def __init__(
        self,
        engine: Engine,
        poll_interval: float = 1.0,
        senders: dict[str, Sender] | None = None,
        on_tick: Callable[[TickResult], None] | None = None,
        worker_id: str | None = None,
        lease_seconds: float = 60.0,
        retention: Retention | None = None,
        cleanup_every: float = 3600.0,
    ) -> None:
        self.lease_seconds = lease_seconds
        self.retention = retention  # history cleanup (engine/retention.py); None: never
        self.cleanup_every = cleanup_every
        self._last_cleanup: datetime | None = None
        self.engine = engine
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{id(self):x}"
        self.poll_interval = poll_interval
        self.senders = senders or {}
        self.on_tick = on_tick
        self.passes = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._scheduler = BackgroundScheduler(timezone=UTC)

    def start(self) -> None:
        self._scheduler.add_job(
            self._run,
            "interval",
            seconds=self.poll_interval,
            id=JOB_ID,
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),
            misfire_grace_time=None,
        )
        self._scheduler.start()

    def shutdown(self, wait: bool = True) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    def wake(self, at: datetime | None = None) -> None:
        """Look for due work at `at` (default now) if that is sooner than planned."""
        if not self._scheduler.running:
            return
        job = self._scheduler.get_job(JOB_ID)
        when = at or datetime.now(UTC)
        if job is not None and (job.next_run_time is None or when < job.next_run_time):
            job.modify(next_run_time=when)

    def _run(self) -> None:
        with self._lock:
            try:
                result = self.engine.tick(worker=self.worker_id, lease_seconds=self.lease_seconds)
                if self.senders:
                    report = self.engine.deliver_outbox(self.senders)
                    self.errors.extend(report.errors)
                self._cleanup()
                self.passes += 1
                if self.on_tick is not None:
                    self.on_tick(result)
            except Exception as err:  # noqa: BLE001 - the scheduler must outlive a bad pass
                log.exception("scheduler pass failed")
                self.errors.append(f"{type(err).__name__}: {err}")
            self._plan_next()

    def _cleanup(self) -> None:
        """Remove finished instances past their retention, a few small batches per interval."""
        if self.retention is None:
            return
        now = self.engine.now()
        if self._last_cleanup is not None and (now - self._last_cleanup).total_seconds() < self.cleanup_every:
            return
        self._last_cleanup = now
        removed = self.engine.cleanup_history(self.retention, now=now)
        if removed.instances:
            log.info("history cleanup removed %d finished instance(s)", len(removed.instances))

    def _plan_next(self) -> None:
        try:
            due = self.engine.next_due_at()
        except Exception:  # noqa: BLE001 - planning early is an optimisation only
            return
        if due is None:
            return
        now = datetime.now(UTC)
        if due - now < timedelta(seconds=self.poll_interval):
            # Slightly after the due time, so the pass finds the timer due.
            self.wake(max(due, now) + timedelta(milliseconds=5))
