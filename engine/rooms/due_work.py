"""Due work: what the scheduler's tick does — timers, timer start events, retries, async jobs.

Each instance's due work runs in its own unit of work under the instance's lock (SKIP LOCKED
where the database has it), so several schedulers can tick at once and each thing fires once.
Owns the SQL that finds what is due.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, func, select

from ..clock import ensure_utc
from ..core import EngineCore, conflicts_as_errors, not_suspended
from ..db import connection
from ..errors import Conflict, NotFound
from ..models import Incident, Job, StartTimer, Timer
from ..start_timers import after_firing, cron_line
from ..task_dates import TASK_KINDS
from ..unit import Busy, Unit
from ..views import FiredTimer, InstanceDetail, TickResult
from .starting import run, start_in

_JOBS = Job.__table__
# A worker's precheck and the job's removal in one statement (Core: once per job a worker runs):
# deleted under the instance lock, in the unit that runs the step, only while the lease is ours.
# The step and the removal commit or roll back together, so the step still commits once.
_TAKE_OUR_JOB = (
    _JOBS.delete()
    .where(_JOBS.c.id == bindparam("job_id"), _JOBS.c.lease_owner == bindparam("worker"))
    .returning(_JOBS.c.id)
)

# The scheduler's questions, asked at every tick: statements built once.
_DUE_INSTANCES = (
    select(Timer.instance_id, func.min(Timer.due_at))
    .where(Timer.state == "pending", Timer.due_at <= bindparam("now"), not_suspended(Timer.instance_id))
    .group_by(Timer.instance_id)
    .order_by(func.min(Timer.due_at))
    .limit(bindparam("limit"))
)
_STILL_DUE = (
    select(Timer)
    .where(Timer.instance_id == bindparam("iid"), Timer.state == "pending", Timer.due_at <= bindparam("now"))
    .execution_options(populate_existing=True)
)


class _NothingDue(Exception):
    """Another scheduler fired this instance's timers first; nothing to do."""


def tick(core: EngineCore, now: datetime | None, worker: str | None, lease_seconds: float) -> TickResult:
    """One scheduler pass: fire due timers, then retry incidents whose backoff passed.

    One statement first asks when each kind of due work is next due (`_NEXT_DUE`); a kind not
    due at `now` is not searched for. Once the pass has changed something (a timer fired, an
    instance started, a step retried), the later kinds are searched for as before, since that
    work may have made new work due."""
    now = ensure_utc(now) if now else core.now()
    timer, retry, job, start = _next_due(core)
    fired: list[FiredTimer] = []
    if _due(timer, now):
        for _ in range(100):  # bounded: a storm is worked off in batches, never forever
            batch = fire_due_timers(core, now)
            fired.extend(batch)
            if not batch:
                break
    changed = bool(fired)
    if changed or _due(start, now):
        fired.extend(fire_start_timers(core, now))
    changed = bool(fired)
    retried = retry_due_incidents(core, now) if changed or _due(retry, now) else []
    changed = changed or bool(retried)
    jobs = run_jobs(core, worker, now, lease_seconds=lease_seconds) if worker and (changed or _due(job, now)) else []
    return TickResult(now=now, timers_fired=fired, incidents_retried=retried, errors=[], jobs_run=jobs)


def _due(at: datetime | None, now: datetime) -> bool:
    return at is not None and at <= now


# -- timers ---------------------------------------------------------------------------------
def fire_due_timers(core: EngineCore, now: datetime | None = None, limit: int = 500) -> list[FiredTimer]:
    """Fire every timer due at `now` (default: the clock), oldest first, once each."""
    now = ensure_utc(now) if now else core.now()
    with core.db.read() as session:
        due = list(connection(session).execute(_DUE_INSTANCES, {"now": now, "limit": limit}))
    fired: list[FiredTimer] = []
    for instance_id, _ in due:
        fired.extend(_fire_instance_timers(core, instance_id, now))
    return fired


def _fire_instance_timers(core: EngineCore, instance_id: int, now: datetime) -> list[FiredTimer]:
    due_rows: list[Timer] = []

    def still_due() -> None:
        # Read under the instance lock: another scheduler may have fired them meanwhile.
        due_rows.extend(session.scalars(_STILL_DUE, {"iid": instance_id, "now": now}))
        if not due_rows:
            raise _NothingDue

    def fire_task_dates(unit: Unit) -> None:
        # Diagram timers fire as the unit advances; task dates are fired here.
        unit.fire_task_dates([r for r in due_rows if r.kind in TASK_KINDS])

    try:
        with conflicts_as_errors(), core.db.write() as session:
            run(core, session, instance_id, now, fire_task_dates, precheck=still_due, skip_locked=True)
            fired = [FiredTimer(instance_id, r.element_id, r.due_at, now) for r in due_rows if r.state == "fired"]
    except (_NothingDue, Busy, Conflict, NotFound):
        return []
    for timer in fired:
        core.metrics.inc("crmflow_timers_fired_total")
        core.metrics.inc("crmflow_timer_lateness_seconds_sum", (timer.fired_at - timer.due_at).total_seconds())
        core.metrics.inc("crmflow_timer_lateness_seconds_count")
    return fired


def fire_start_timers(core: EngineCore, now: datetime | None = None) -> list[FiredTimer]:
    """Start one instance per due timer start event; plan its next occurrence."""
    now = ensure_utc(now) if now else core.now()
    with core.db.read() as session:
        ids = list(session.scalars(
            select(StartTimer.id)
            .where(StartTimer.state == "active", StartTimer.next_due_at <= now)
            .order_by(StartTimer.next_due_at)
        ))
    fired = []
    for timer_id in ids:
        with core.db.write() as session:
            stmt = select(StartTimer).where(StartTimer.id == timer_id).execution_options(populate_existing=True)
            if not core.db.is_sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            row = session.scalars(stmt).first()
            if row is None or row.state != "active" or row.next_due_at is None or row.next_due_at > now:
                continue  # another scheduler fired it
            due = row.next_due_at
            element_id = row.element_id

            def fire_start(unit: Unit, element_id: str = element_id, due: datetime = due) -> None:
                start = next(t for t in unit.workflow.tasks.values() if t.task_spec.name == element_id)
                definition = start.task_spec.event_definition
                past = (now - timedelta(microseconds=1)).isoformat()
                is_cycle = "Cycle" in type(definition).__name__
                start.internal_data["event_value"] = (
                    {"cycles": 1, "next": past, "duration": 0.0} if is_cycle else past
                )
                unit.recorder.record("timer_fired", now, start, delta={"due_at": due.isoformat()})

            unit = start_in(core, session, row.process_id, {}, None, None, now, version_id=row.version_id,
                            prepare=fire_start)
            value = cron_line(row.expression) if row.kind == "cron" else row.expression
            row.next_due_at, row.remaining = after_firing(row.kind, value, due, row.remaining, row.period_seconds, now)
            row.last_fired_at = now
            if row.next_due_at is None:
                row.state = "done"
            fired.append(FiredTimer(unit.instance.id, element_id, due, now))
    return fired


# -- incidents ------------------------------------------------------------------------------
def retry_incident(core: EngineCore, incident_id: int) -> InstanceDetail:
    """Run the failed step again now; resolves the incident if it succeeds."""
    now = core.now()
    with conflicts_as_errors(), core.db.write() as session:
        incident = session.get(Incident, incident_id)
        if incident is None:
            raise NotFound(f"incident {incident_id} does not exist (crmflow incidents lists them)")

        def still_open() -> None:
            session.refresh(incident)
            if incident.state != "open":
                raise Conflict(f"incident {incident_id} is already {incident.state}")

        def retry(unit: Unit) -> None:
            unit.unblock(incident.task_id or "")

        return run(core, session, incident.instance_id, now, retry, precheck=still_open).view()


def retry_due_incidents(core: EngineCore, now: datetime | None = None, limit: int = 100) -> list[int]:
    """Automatic retries whose backoff has passed; returns the incident ids tried."""
    now = ensure_utc(now) if now else core.now()
    with core.db.read() as session:
        ids = list(
            session.scalars(
                select(Incident.id)
                .where(Incident.state == "open", Incident.retries_left > 0, Incident.next_retry_at <= now,
                       not_suspended(Incident.instance_id))
                .order_by(Incident.next_retry_at)
                .limit(limit)
            )
        )
    tried = []
    for incident_id in ids:
        try:
            retry_incident(core, incident_id)
            tried.append(incident_id)
        except (Conflict, NotFound):
            continue
    return tried


# -- asynchronous jobs ----------------------------------------------------------------------
def run_jobs(core: EngineCore, worker: str, now: datetime | None = None, limit: int = 20,
             lease_seconds: float = 60.0) -> list[int]:
    """Claim due jobs (SKIP LOCKED + a lease), run each in its own unit; return the job ids run.

    A job whose lease ran out (its worker died) is taken over. The job row is deleted in
    the same transaction as the step it runs, so the step commits exactly once."""
    now = ensure_utc(now) if now else core.now()
    claims = _claim(core, worker, now, limit, now + timedelta(seconds=lease_seconds))
    return [job_id for job_id, instance_id, task_id in claims
            if _run_job(core, job_id, instance_id, task_id, worker, now)]


def _claimable(now: datetime, limit: int) -> Select:
    return (
        select(_JOBS.c.id, _JOBS.c.instance_id, _JOBS.c.task_id, _JOBS.c.due_at, _JOBS.c.lease_owner)
        .where(_JOBS.c.due_at <= now, _JOBS.c.lease_expires_at.is_(None) | (_JOBS.c.lease_expires_at < now),
               not_suspended(_JOBS.c.instance_id))
        .order_by(_JOBS.c.due_at, _JOBS.c.id)
        .limit(limit)
    )


def _claim(core: EngineCore, worker: str, now: datetime, limit: int, expires: datetime) -> list[tuple[int, int, str]]:
    """Take up to `limit` due jobs whose lease is free or ran out: (job id, instance id, task id), oldest first."""
    with core.db.write() as session:
        conn = connection(session)
        if core.db.is_sqlite:
            # Writers serialize on SQLite (BEGIN IMMEDIATE): read, then lease what was read.
            claimed = list(conn.execute(_claimable(now, limit)))
            if claimed:
                conn.execute(_JOBS.update().where(_JOBS.c.id.in_([row.id for row in claimed]))
                             .values(lease_owner=worker, lease_expires_at=expires, attempts=_JOBS.c.attempts + 1))
        else:
            # One statement: the rows are locked (SKIP LOCKED: another worker's claim is left to
            # it) and leased together; the CTE is materialized so the LIMIT is applied once.
            locked = _claimable(now, limit).with_for_update(skip_locked=True).cte("claimable").prefix_with(
                "MATERIALIZED")
            claimed = list(conn.execute(
                _JOBS.update().where(_JOBS.c.id == locked.c.id)
                .values(lease_owner=worker, lease_expires_at=expires, attempts=_JOBS.c.attempts + 1)
                .returning(locked.c.id, locked.c.instance_id, locked.c.task_id, locked.c.due_at, locked.c.lease_owner)
            ))
    for *_, before in claimed:
        if before is not None:
            core.metrics.inc("crmflow_lease_takeovers_total")
    claimed.sort(key=lambda row: (ensure_utc(row[3]), row[0]))
    return [(job_id, instance_id, task_id) for job_id, instance_id, task_id, *_ in claimed]


def _run_job(core: EngineCore, job_id: int, instance_id: int, task_id: str, worker: str, now: datetime) -> bool:
    try:
        with conflicts_as_errors(), core.db.write() as session:

            def take_ours() -> None:
                # Removes the job as it checks the lease: a job done already, or whose lease ran
                # out and was taken over, is not ours and is left alone (nothing is deleted).
                taken = connection(session).execute(_TAKE_OUR_JOB, {"job_id": job_id, "worker": worker}).first()
                if taken is None:
                    raise _NothingDue

            try:
                run(core, session, instance_id, now, lambda unit: unit.release(task_id), precheck=take_ours)
            except Conflict:
                pass  # the instance has finished meanwhile: nothing left to run (its job is gone)
    except (_NothingDue, Busy, NotFound):
        return False
    core.metrics.inc("crmflow_jobs_run_total")
    return True


_NEXT_DUE = select(
    select(func.min(Timer.due_at)).where(Timer.state == "pending", not_suspended(Timer.instance_id))
    .scalar_subquery(),
    select(func.min(Incident.next_retry_at)).where(Incident.state == "open", Incident.retries_left > 0,
                                                   not_suspended(Incident.instance_id)).scalar_subquery(),
    select(func.min(Job.due_at)).where(not_suspended(Job.instance_id)).scalar_subquery(),
    select(func.min(StartTimer.next_due_at)).where(StartTimer.state == "active").scalar_subquery(),
)


def next_due_at(core: EngineCore) -> datetime | None:
    """When the scheduler next has work: the earliest pending timer, automatic retry, job or
    timer start event (one statement: the scheduler asks after every pass)."""
    found = [t for t in _next_due(core) if t is not None]
    return min(found) if found else None


def _next_due(core: EngineCore) -> tuple[datetime | None, ...]:
    """The earliest pending timer, automatic retry, job and timer start event (each or None)."""
    with core.db.read() as session:
        row = session.execute(_NEXT_DUE).one()
    return tuple(ensure_utc(t) if t is not None else None for t in row)
