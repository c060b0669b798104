"""The engine facade: the one way in for every interface.

CLI, HTTP API, web pages, scheduler, workers and scenario runner all call these methods.
Each changing call is one transaction around one `Unit` (see `unit`); queries use the
read engine and return plain views.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import definitions, heatmap, migration, operations, outbox, signals, start_timers, validation
from . import instances as records
from . import retention as retention_
from .call_depth import DEFAULT_MAX_CALL_DEPTH
from .camunda import INLINE_FORM_PROPERTY
from .clock import Clock, SystemClock, ensure_utc, frozen_time
from .db import Database
from .errors import Conflict, DeployRefused, Forbidden, InvalidInput, NoSubscriber, NotFound
from .input_checks import check_data, check_text, parse_object
from .instances import InstanceRecord
from .metrics import Metrics
from .models import (
    DefinitionFile,
    HistoryEntry,
    HumanTask,
    Incident,
    Instance,
    Job,
    MessageSubscription,
    ProcessVersion,
    StartTimer,
    Timer,
)
from .modification import ModificationPlan
from .operations import CleanupResult
from .outbox import DeliveryReport, Sender
from .projections import HumanTaskInfo, properties_of
from .retention import Retention
from .services import HandlerRegistry
from .state import SERIALIZER_VERSION
from .task_dates import TASK_KINDS
from .unit import Busy, Unit, run_in_unit
from .unit_time import unit_seconds_from_env
from .validation import Report, ValidationContext, refusal_message
from .validation.deployed import read_deployed
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
    SubscriptionView,
    TickResult,
    TimerView,
)
from .working_time import WorkingTime

SPEC_CACHE_SIZE = 64
UNASSIGNED_QUEUE = "unassigned"
TaskRouter = Callable[[HumanTaskInfo, str], None]
_PV = ProcessVersion.__table__
_HT = HumanTask.__table__
_CLAIM = (
    update(_HT)
    .where(_HT.c.id == bindparam("tid"), _HT.c.state == "open", _HT.c.assignee.is_(None))
    .values(assignee=bindparam("user"), claimed_at=bindparam("now"))
)
_LATEST_VERSION_ID = (
    select(_PV.c.id).where(_PV.c.process_id == bindparam("pid")).order_by(_PV.c.version.desc()).limit(1)
)


@dataclass(frozen=True)
class TaskFormSource:
    """A task's inline form schema (or None: the form is a file, or there is none) and the
    variable its form data is nested under (None: top level)."""

    schema: dict[str, Any] | None
    variable: str | None


@dataclass(frozen=True)
class LoadedVersion:
    """A deployed version's spec objects, shared by every instance of it in this process."""

    spec: Any
    subprocess_specs: dict[str, Any]
    version: int


def _not_suspended(instance_id: Any) -> Any:
    """Background work (timers, jobs, automatic retries) leaves suspended instances alone."""
    return instance_id.not_in(select(Instance.id).where(Instance.status == "suspended"))


class _NothingDue(Exception):
    """Another scheduler fired this instance's timers first; nothing to do."""


def parse_data(data: Any) -> dict[str, Any]:
    """Accept a dict or a JSON object string; anything else is the caller's mistake. The data
    must pass `input_checks.check_data` (valid Unicode, bounded depth and size)."""
    if data is None or data == "":
        return {}
    if isinstance(data, str):
        data = parse_object(data, "data")
    if not isinstance(data, dict):
        raise InvalidInput(f"data must be a JSON object like {{\"amount\": 10}}, not {type(data).__name__}")
    bad = [k for k in data if not isinstance(k, str) or not k.isidentifier() or k.startswith("_")]
    if bad:
        raise InvalidInput(f"data field name(s) {', '.join(map(ascii, bad))} are not usable as process variables")
    return check_data(data, "data")


class Engine:
    """Deploy diagrams, start and advance instances, and query what they wait for."""

    def __init__(
        self,
        db_url: str | None = None,
        registry: HandlerRegistry | None = None,
        clock: Clock | None = None,
        *,
        max_steps: int = 200_000,
        max_call_depth: int = DEFAULT_MAX_CALL_DEPTH,
        auto_migrate: bool = True,
        migrations: list[Path] | None = None,
        task_router: TaskRouter | None = None,
        working_time: WorkingTime | None = None,
        unit_seconds: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = Database(db_url, migrations)
        # wall-clock bound on one unit of work (engine/unit_time.py); `monotonic` is injectable for tests
        self.unit_seconds = unit_seconds if unit_seconds is not None else unit_seconds_from_env()
        self.monotonic = monotonic
        self.registry = registry or HandlerRegistry()
        self.clock = clock or SystemClock()
        self.max_steps = max_steps
        self.max_call_depth = max_call_depth  # nesting of call activities (engine/call_depth.py)
        self.task_router = task_router
        self.working_time = working_time  # business-hours timers (engine/working_time.py)
        self.metrics = Metrics()
        self._specs: OrderedDict[int, LoadedVersion] = OrderedDict()
        self._specs_lock = threading.Lock()
        if auto_migrate:
            self.db.ensure_schema()

    def close(self) -> None:
        self.db.dispose()

    def route_new_task(self, info: HumanTaskInfo, process_id: str) -> None:
        """Give a new human task its queue: the router's choice, else the diagram's, the lane,
        or the visible 'unassigned' queue — never nowhere."""
        if self.task_router is not None:
            self.task_router(info, process_id)
        info.queue = info.queue or info.lane or UNASSIGNED_QUEUE

    def now(self) -> datetime:
        return ensure_utc(self.clock.now())

    # -- definitions ------------------------------------------------------------------
    def check(self, paths: Iterable[str | Path], context: ValidationContext | None = None) -> Report:
        """What `crmflow validate` reports for `paths`, judged against this engine's handlers and
        what it has deployed: the one check deploy runs before storing anything."""
        context = context or ValidationContext()
        if context.operations is None and context.check_handlers and (names := frozenset(self.registry.names())):
            context.operations = names
        with self.db.read() as session:
            context.add_deployed(read_deployed(session))
        context.engine_parse = True
        return validation.validate([Path(p) for p in paths], context)

    def deploy(self, paths: Iterable[str | Path], *, force: bool = False,
               context: ValidationContext | None = None) -> DeployResult:
        """Store each changed process as a new version; unchanged ones keep theirs.

        Runs `check` first and refuses (`DeployRefused`, every error with file, line and element)
        when it finds errors, unless `force`; its warnings come back in the result.
        """
        paths = [Path(p) for p in paths]
        context = context or ValidationContext()
        report = self.check(paths, context)
        errors = [d for d in report.diagnostics if d.is_error]
        if errors and not force:
            raise DeployRefused(refusal_message(errors), report.diagnostics)
        parsed = report.parsed
        if parsed is None:  # forced past a refusal, or nothing executable: the parser says why
            parsed = definitions.parse_diagrams(paths, context.deployed_dmn)
        now = self.now()
        results = []
        with self.db.write() as session:
            for dmn in getattr(parsed, "dmn_files", []):
                self._file_row(session, dmn, now).deployed_at = now  # the latest file of a decision wins
            for process in parsed:
                latest = self._latest_version(session, process.process_id)
                if latest is not None and latest.content_hash == process.content_hash:
                    results.append(self._version_view(session, latest, changed=False))
                    continue
                file_row = self._file_row(session, process.source, now)
                version = ProcessVersion(
                    process_id=process.process_id,
                    name=process.name,
                    version=(latest.version + 1) if latest else 1,
                    content_hash=process.content_hash,
                    file_id=file_row.id,
                    spec_json=process.spec_json,
                    serializer_version=SERIALIZER_VERSION,
                    message_starts=process.message_starts,
                    deployed_at=now,
                )
                session.add(version)
                session.flush()
                self._schedule_start_timers(session, process, version, now)
                view = self._version_view(session, version, changed=True)
                if latest is not None:
                    previous = definitions.deserialize_spec(latest.spec_json)[0]
                    new_spec = definitions.deserialize_spec(process.spec_json)[0]
                    view.changes = migration.diff_specs(previous, new_spec).to_dict()
                results.append(view)
        return DeployResult(results, [d for d in report.diagnostics if not d.is_error or force])

    def preview_deploy(self, paths: Iterable[str | Path]) -> DeployResult:
        """What `deploy` would store, stored nowhere: each process with `changed` and, when a
        version exists, its element diff against the latest (the workbench shows it before deploying)."""
        parsed = definitions.parse_diagrams([Path(p) for p in paths])
        results = []
        with self.db.read() as session:
            for process in parsed:
                latest = self._latest_version(session, process.process_id)
                if latest is None:
                    results.append(ProcessVersionView(process.process_id, process.name, 1, process.content_hash,
                                                      process.source.name, self.now(), changed=True))
                    continue
                view = self._version_view(session, latest, changed=latest.content_hash != process.content_hash)
                new_spec = definitions.deserialize_spec(process.spec_json)[0]
                view.changes = migration.diff_specs(self.specs_for(session, latest.id).spec, new_spec).to_dict()
                results.append(view)
        return DeployResult(results)

    @staticmethod
    def _schedule_start_timers(
        session: Session, process: definitions.ParsedProcess, version: ProcessVersion, now: datetime
    ) -> None:
        """A new version's timer start events replace the previous version's schedule."""
        for old in session.scalars(
            select(StartTimer).where(StartTimer.process_id == process.process_id, StartTimer.state == "active")
        ):
            old.state = "replaced"
        for element_id, expression in process.timer_starts:
            where = f"{process.source.name}: start event {element_id}"
            schedule = start_timers.first_schedule(expression, now, where)
            session.add(
                StartTimer(
                    process_id=process.process_id, version_id=version.id, element_id=element_id,
                    expression=expression, kind=schedule.kind, next_due_at=schedule.next_due_at,
                    remaining=schedule.remaining, period_seconds=schedule.period_seconds,
                    state="active" if schedule.next_due_at else "done", created_at=now,
                )
            )

    def fire_start_timers(self, now: datetime | None = None) -> list[FiredTimer]:
        """Start one instance per due timer start event; plan its next occurrence."""
        now = ensure_utc(now) if now else self.now()
        with self.db.read() as session:
            ids = list(session.scalars(
                select(StartTimer.id)
                .where(StartTimer.state == "active", StartTimer.next_due_at <= now)
                .order_by(StartTimer.next_due_at)
            ))
        fired = []
        for timer_id in ids:
            with self.db.write() as session:
                stmt = select(StartTimer).where(StartTimer.id == timer_id).execution_options(populate_existing=True)
                if not self.db.is_sqlite:
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

                unit = self._start_in(session, row.process_id, {}, None, None, now, version_id=row.version_id,
                                      prepare=fire_start)
                value = start_timers.cron_line(row.expression) if row.kind == "cron" else row.expression
                row.next_due_at, row.remaining = start_timers.after_firing(
                    row.kind, value, due, row.remaining, row.period_seconds, now
                )
                row.last_fired_at = now
                if row.next_due_at is None:
                    row.state = "done"
                fired.append(FiredTimer(unit.instance.id, element_id, due, now))
        return fired

    def list_start_timers(self, state: str = "active") -> list[dict[str, Any]]:
        with self.db.read() as session:
            stmt = select(StartTimer).order_by(StartTimer.next_due_at)
            if state != "all":
                stmt = stmt.where(StartTimer.state == state)
            return [
                {"process_id": r.process_id, "element_id": r.element_id, "kind": r.kind, "expression": r.expression,
                 "next_due_at": r.next_due_at.isoformat() if r.next_due_at else None, "state": r.state,
                 "last_fired_at": r.last_fired_at.isoformat() if r.last_fired_at else None}
                for r in session.scalars(stmt)
            ]

    def diff_versions(self, process_id: str, from_version: int, to_version: int) -> migration.VersionDiff:
        """What changed between two deployed versions of a process."""
        with self.db.read() as session:
            a = self._version_row(session, process_id, from_version)
            b = self._version_row(session, process_id, to_version)
            return migration.diff_specs(self.specs_for(session, a.id).spec, self.specs_for(session, b.id).spec)

    @staticmethod
    def _version_row(session: Session, process_id: str, version: int | None) -> ProcessVersion:
        stmt = select(ProcessVersion).where(ProcessVersion.process_id == process_id)
        stmt = stmt.where(ProcessVersion.version == version) if version else stmt.order_by(
            ProcessVersion.version.desc()
        )
        row = session.scalars(stmt).first()
        if row is None:
            raise NotFound(f"process '{process_id}' version {version or 'latest'} is not deployed")
        return row

    def migrate(self, instance_id: int, to_version: int | None = None, dry_run: bool = False,
                user: str | None = None) -> migration.MigrationPlan:
        """Move a running instance to another version (default: the latest) if its active
        elements all exist there; otherwise refuse with the reasons. `dry_run` only plans."""
        now = self.now()
        with self._conflicts_as_errors(), self.db.write() as session:
            record = records.load(session, instance_id, lock=not self.db.is_sqlite)
            if record is None:
                raise NotFound(f"instance {instance_id} does not exist")
            if record.status in ("completed", "terminated", "cancelled"):
                raise Conflict(f"instance {instance_id} has already {record.status}; only running instances move")
            target = self._version_row(session, record.process_id, to_version)
            current = self.specs_for(session, record.version_id)
            new = self.specs_for(session, target.id)
            unit = Unit(self, session, record, now)
            active, reasons, diffs = migration.plan(unit.workflow, new.spec, new.subprocess_specs)
            result = migration.MigrationPlan(
                instance_id=instance_id, from_version=current.version, to_version=target.version,
                allowed=not reasons, reasons=reasons, active_elements=active,
            )
            if target.id == record.version_id:
                result.allowed = False
                result.reasons = [f"instance {instance_id} is already on version {target.version}"]
            if dry_run or not result.allowed:
                session.rollback()
                return result
            with frozen_time(now):
                migration.apply(unit.workflow, diffs, new.spec, new.subprocess_specs)
            record.version_id = target.id
            unit.version = new
            unit.refresh_task_rows = True
            unit.recorder.record(
                "migrated", now, user=user, delta={"from_version": current.version, "to_version": target.version}
            )
            unit.advance()
            unit.save()
            return result

    def migrate_all(self, process_id: str, to_version: int | None = None, dry_run: bool = False,
                    user: str | None = None) -> list[migration.MigrationPlan]:
        """Every running instance of a process, one transaction each; refusals are reported."""
        with self.db.read() as session:
            ids = list(session.scalars(
                select(Instance.id).where(
                    Instance.process_id == process_id, Instance.status.not_in(("completed", "terminated", "cancelled"))
                ).order_by(Instance.id)
            ))
        return [self.migrate(i, to_version, dry_run=dry_run, user=user) for i in ids]

    def _file_row(self, session: Session, source: definitions.SourceFile, now: datetime) -> DefinitionFile:
        row = session.scalars(select(DefinitionFile).where(DefinitionFile.content_hash == source.content_hash)).first()
        if row is None:
            row = DefinitionFile(
                name=source.name, kind=source.kind, content_hash=source.content_hash, content=source.content,
                deployed_at=now,
            )
            session.add(row)
            session.flush()
        return row

    @staticmethod
    def _latest_version(session: Session, process_id: str) -> ProcessVersion | None:
        return session.scalars(
            select(ProcessVersion)
            .where(ProcessVersion.process_id == process_id)
            .order_by(ProcessVersion.version.desc())
        ).first()

    @staticmethod
    def _version_view(session: Session, version: ProcessVersion, changed: bool = False) -> ProcessVersionView:
        file_name = session.scalar(select(DefinitionFile.name).where(DefinitionFile.id == version.file_id))
        return ProcessVersionView(
            process_id=version.process_id,
            name=version.name,
            version=version.version,
            content_hash=version.content_hash,
            file=file_name or "",
            deployed_at=version.deployed_at,
            changed=changed,
        )

    def list_definitions(self, process_id: str | None = None) -> list[ProcessVersionView]:
        with self.db.read() as session:
            stmt = select(ProcessVersion).order_by(ProcessVersion.process_id, ProcessVersion.version)
            if process_id:
                stmt = stmt.where(ProcessVersion.process_id == process_id)
            return [self._version_view(session, v) for v in session.scalars(stmt)]

    def diagram_source(self, process_id: str, version: int | None = None) -> bytes:
        """The BPMN XML a version was deployed from (for drawing)."""
        with self.db.read() as session:
            stmt = select(ProcessVersion).where(ProcessVersion.process_id == process_id)
            stmt = stmt.where(ProcessVersion.version == version) if version else stmt.order_by(
                ProcessVersion.version.desc()
            )
            row = session.scalars(stmt).first()
            if row is None:
                raise NotFound(f"process '{process_id}' version {version or 'latest'} is not deployed")
            return session.scalar(select(DefinitionFile.content).where(DefinitionFile.id == row.file_id))

    def specs_for(self, session: Session, version_id: int) -> LoadedVersion:
        """The version's spec objects, deserialized once per process and kept (LRU)."""
        with self._specs_lock:
            cached = self._specs.get(version_id)
            if cached is not None:
                self._specs.move_to_end(version_id)
                return cached
        row = session.execute(
            select(ProcessVersion.spec_json, ProcessVersion.version).where(ProcessVersion.id == version_id)
        ).first()
        if row is None:
            raise NotFound(f"process version {version_id} does not exist")
        spec, subprocess_specs = definitions.deserialize_spec(row.spec_json)
        specs = LoadedVersion(spec, subprocess_specs, row.version)
        with self._specs_lock:
            self._specs[version_id] = specs
            while len(self._specs) > SPEC_CACHE_SIZE:
                self._specs.popitem(last=False)
        return specs

    # -- running instances --------------------------------------------------------------
    def start(
        self,
        process_id: str,
        data: dict[str, Any] | str | None = None,
        business_key: str | None = None,
        user: str | None = None,
    ) -> InstanceView:
        """Start the latest version of a process and run it until it waits."""
        payload = parse_data(data)
        check_text(process_id, "process_id")
        check_text(business_key, "business_key")
        with self.db.write() as session:
            unit = self._start_in(session, process_id, payload, business_key, user, self.now())
            return unit.view()

    def _start_in(
        self, session: Session, process_id: str, data: dict[str, Any], business_key: str | None,
        user: str | None, now: datetime, version_id: int | None = None,
        prepare: Callable[[Unit], None] | None = None,
    ) -> Unit:
        if version_id is None:
            latest = session.connection().execute(_LATEST_VERSION_ID, {"pid": process_id}).first()
            if latest is None:
                known = sorted(set(session.scalars(select(ProcessVersion.process_id))))
                hint = (
                    f"; deployed processes: {', '.join(known)}" if known
                    else "; nothing is deployed yet (crmflow deploy)"
                )
                raise NotFound(f"process '{process_id}' is not deployed{hint}")
            version_id = latest.id
        instance = records.create(
            session,
            InstanceRecord(
                id=0, process_id=process_id, version_id=version_id, business_key=business_key, status="running",
                state="", variables=None, serializer_version=SERIALIZER_VERSION, lock_version=1, started_by=user,
                created_at=now, updated_at=now, ended_at=None, steps=0,
            ),
        )
        unit = Unit(self, session, instance, now, new=True)
        unit.user = user
        start_task = next(t for t in unit.workflow.tasks.values() if t.task_spec.name == "Start")
        start_task.data.update(data)
        unit.recorder.record("instance_started", now, user=user, delta={"set": data} if data else None)
        if prepare is not None:
            prepare(unit)
        unit.advance()
        unit.save()
        return unit

    def complete_task(
        self, task_id: str, user: str | None = None, data: dict[str, Any] | str | None = None,
        require_claim: bool = False,
    ) -> InstanceView:
        """Complete a READY user or manual task with form data, then advance the instance.

        A task picked by someone is completed by them only; with `require_claim` (the
        worklists) an unpicked task must be picked first."""
        payload = parse_data(data)
        now = self.now()
        with self._conflicts_as_errors(), self.db.write() as session:
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound(f"task {task_id} does not exist (crmflow tasks lists open tasks)")

            def still_open() -> None:
                session.refresh(row)
                if row.state != "open":
                    who = f" by {row.completed_by}" if row.completed_by else ""
                    raise Conflict(f"task {task_id} ({row.name or row.element_id}) was already {row.state}{who}")
                if row.assignee and row.assignee != user:
                    raise Forbidden(f"task {task_id} ({row.name or row.element_id}) is picked by {row.assignee}")
                if require_claim and not row.assignee:
                    raise Forbidden(f"task {task_id} ({row.name or row.element_id}) must be picked before completing")

            def complete(unit: Unit) -> None:
                task = unit.find_task(task_id)
                if not task.task_spec.manual or task.state != TaskState.READY:
                    state = TaskState.get_name(task.state)
                    raise Conflict(f"task {task_id} is not waiting for a person (it is {state})")
                if not unit.run_task(task, user=user, data=payload):
                    failure = unit.runner.failures[-1]
                    raise InvalidInput(f"completing {row.name or row.element_id} failed: {failure.message}")
                row.completed_by = user
                row.completed_at = now

            unit = run_in_unit(self, session, row.instance_id, now, complete, precheck=still_open)
            return unit.view()

    # -- work on human tasks that does not advance the workflow ---------------------------
    def claim_task(self, task_id: str, user: str) -> HumanTaskView:
        """Pick an open task for `user`; of two agents picking at once exactly one gets it."""
        if not user:
            raise InvalidInput("picking a task needs a user")
        now = self.now()
        with self.db.write() as session:
            result = session.connection().execute(
                _CLAIM, {"tid": task_id, "user": user, "now": now}
            )
            row = self._task_row(session, task_id)
            if result.rowcount != 1:
                if row.state != "open":
                    raise Conflict(f"task {task_id} ({row.name or row.element_id}) is already {row.state}")
                if row.assignee != user:
                    raise Conflict(f"task {task_id} ({row.name or row.element_id}) is already picked by {row.assignee}")
                return task_view(row)  # picking your own task again changes nothing
            self._task_history(session, row, "claimed", user, now)
            return task_view(row)

    def release_task(self, task_id: str, user: str, force: bool = False) -> HumanTaskView:
        """Put a picked task back in its queue (its assignee, or anyone with `force`)."""
        now = self.now()
        with self.db.write() as session:
            row = self._task_row(session, task_id, lock=True)
            if row.state != "open":
                raise Conflict(f"task {task_id} ({row.name or row.element_id}) is already {row.state}")
            if row.assignee is None:
                return task_view(row)
            if row.assignee != user and not force:
                raise Forbidden(f"task {task_id} is picked by {row.assignee}; only they can release it")
            previous = row.assignee
            row.assignee, row.claimed_at = None, None
            self._task_history(session, row, "released", user, now, {"was": previous})
            return task_view(row)

    def route_task(
        self, task_id: str, by: str, queue: str | None = None, assignee: str | None = None,
        candidate_groups: list[str] | None = None,
    ) -> HumanTaskView:
        """Move an open task to another queue and/or person (None leaves that part as it is).

        `candidate_groups` replaces who may pick it (a task moved to another queue should be
        workable by that queue's groups, not the old one's)."""
        if queue is None and assignee is None and candidate_groups is None:
            raise InvalidInput("routing needs a queue, an assignee or candidate groups")
        now = self.now()
        with self.db.write() as session:
            row = self._task_row(session, task_id, lock=True)
            if row.state != "open":
                raise Conflict(f"task {task_id} ({row.name or row.element_id}) is already {row.state}")
            delta: dict[str, Any] = {}
            if queue is not None and queue != row.queue:
                delta["queue"] = {"from": row.queue, "to": queue}
                row.queue = queue
            if assignee is not None and assignee != row.assignee:
                delta["assignee"] = {"from": row.assignee, "to": assignee}
                row.assignee, row.claimed_at = assignee, now
            if candidate_groups is not None and list(candidate_groups) != list(row.candidate_groups or []):
                delta["candidate_groups"] = {"from": list(row.candidate_groups or []), "to": list(candidate_groups)}
                row.candidate_groups = list(candidate_groups)
            if delta:
                self._task_history(session, row, "routed", by, now, delta)
            return task_view(row)

    def comment_task(self, task_id: str, user: str, text: str) -> HistoryView:
        """A note on a task, kept in the instance's history."""
        if not text or not text.strip():
            raise InvalidInput("a comment needs some text")
        check_text(text, "text")
        now = self.now()
        with self.db.write() as session:
            row = self._task_row(session, task_id)
            entry = self._task_history(session, row, "comment", user, now, {"text": text.strip()[:4000]})
            return HistoryView(entry.id, entry.at, entry.event, entry.element_id, entry.element_name,
                               entry.element_type, entry.user, entry.data_delta)

    @staticmethod
    def _task_row(session: Session, task_id: str, lock: bool = False) -> HumanTask:
        stmt = select(HumanTask).where(HumanTask.id == task_id).execution_options(populate_existing=True)
        if lock:
            stmt = stmt.with_for_update()
        row = session.scalars(stmt).first()
        if row is None:
            raise NotFound(f"task {task_id} does not exist")
        return row

    @staticmethod
    def _task_history(
        session: Session, row: HumanTask, event: str, user: str | None, now: datetime,
        delta: dict[str, Any] | None = None,
    ) -> HistoryEntry:
        entry = HistoryEntry(
            instance_id=row.instance_id, at=now, event=event, task_id=row.id, element_id=row.element_id,
            element_name=row.name, element_type="UserTask" if row.kind == "user" else "ManualTask", user=user,
            data_delta=delta,
        )
        session.add(entry)
        session.flush()
        return entry

    def correlate(
        self, message: str, key: str | None = None, data: dict[str, Any] | str | None = None
    ) -> InstanceView:
        """Deliver a message to the instance waiting for it (by business or correlation key),
        or start a process whose start event catches it."""
        payload = parse_data(data)
        check_text(message, "name")
        check_text(key, "key")
        now = self.now()
        with self._conflicts_as_errors(), self.db.write() as session:
            unit = self._correlate_in(session, message, key, payload, now, source=None)
            assert unit is not None  # only a thrown message is held
            return unit.view()

    def _correlate_in(
        self, session: Session, message: str, key: str | None, payload: dict[str, Any], now: datetime,
        source: InstanceRecord | None,
    ) -> Unit | None:
        """Deliver to the one waiting instance (or start one). A suspended receiver refuses a
        message sent directly (409 naming it); one thrown by another instance is held for it
        until it is resumed (None is returned then)."""
        stmt = (
            select(MessageSubscription, Instance.business_key)
            .join(Instance, Instance.id == MessageSubscription.instance_id)
            .where(MessageSubscription.message_name == message, MessageSubscription.kind == "message")
        )
        if source is not None:
            stmt = stmt.where(MessageSubscription.instance_id != source.id)
        matches = [
            sub for sub, business_key in session.execute(stmt)
            if key is None or key in (business_key, sub.correlation_key)
        ]
        instance_ids = sorted({m.instance_id for m in matches})
        if len(instance_ids) > 1:
            raise Conflict(
                f"{len(instance_ids)} instances wait for message '{message}'"
                + (f" with key '{key}'" if key else "; give a business key to choose one")
            )
        if instance_ids:
            sub = matches[0]
            if session.scalar(select(Instance.status).where(Instance.id == sub.instance_id)) == "suspended":
                if source is None:
                    raise operations.suspended_error(sub.instance_id, doing=f"message '{message}'")
                operations.hold_message(session, sub.instance_id, message, key, payload, source.id, now)
                return None

            def deliver(unit: Unit) -> None:
                unit.deliver_message(sub.task_id, message, payload)

            return run_in_unit(self, session, sub.instance_id, now, deliver)
        starter = next((v for v in self._latest_versions(session) if message in (v.message_starts or [])), None)
        if starter is not None:
            unit = self._start_in(session, starter.process_id, {}, key, None, now)
            start = session.scalars(
                select(MessageSubscription).where(
                    MessageSubscription.instance_id == unit.instance.id, MessageSubscription.message_name == message,
                    MessageSubscription.kind == "message",
                )
            ).first()
            if start is not None:
                start_task_id = start.task_id

                def deliver_to_start(unit: Unit) -> None:
                    unit.deliver_message(start_task_id, message, payload)

                unit = run_in_unit(self, session, unit.instance.id, now, deliver_to_start)
            return unit
        waiting = f" with key '{key}'" if key else ""
        raise NoSubscriber(
            f"no instance is waiting for message '{message}'{waiting} and no deployed process starts with it"
        )

    def deliver_thrown(
        self, session: Session, message: str, payload: Any, source: InstanceRecord, now: datetime
    ) -> None:
        """A message thrown by one instance goes to the one waiting for it, if any.

        It correlates by the sender's business key, unless the payload names another one in
        `business_key` (which also keys an instance the message starts)."""
        data = payload if isinstance(payload, dict) else {"payload": payload}
        key = data.get("business_key") if isinstance(data.get("business_key"), str) else source.business_key
        try:
            with session.begin_nested():
                self._correlate_in(session, message, key, data, now, source=source)
        except (NoSubscriber, Conflict) as err:
            session.add(
                HistoryEntry(
                    instance_id=source.id, at=now, event="message_unhandled", element_id=None,
                    data_delta={"message": message, "reason": str(err)},
                )
            )

    # -- signals ------------------------------------------------------------------------
    def signal(self, name: str, data: dict[str, Any] | str | None = None) -> SignalView:
        """Broadcast a signal: every instance waiting on it catches it (each in its own unit of
        work), and every deployed process with a signal start event of that name starts."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput("a signal needs a name (as in the diagram's signal definition)")
        payload = parse_data(data)
        now = self.now()
        result = SignalView(name)
        with self.db.read() as session:
            waiting = sorted(set(session.scalars(
                select(MessageSubscription.instance_id).where(
                    MessageSubscription.kind == signals.KIND, MessageSubscription.message_name == name
                )
            )))
            starters = [v.process_id for v in self._latest_versions(session)
                        if name in signals.signal_starts(self.specs_for(session, v.id).spec)]
        for instance_id in waiting:
            caught: list[int] = []
            try:
                with self._conflicts_as_errors(), self.db.write() as session:
                    run_in_unit(
                        self, session, instance_id, now,
                        lambda u, caught=caught: caught.append(u.deliver_signal(name, payload)),
                    )
            except (Conflict, NotFound):
                continue  # it ended (or moved on) since the subscriptions were read
            if caught and caught[0]:
                result.delivered.append(instance_id)
        for process_id in starters:
            with self._conflicts_as_errors(), self.db.write() as session:
                result.started.append(self._start_by_signal(session, process_id, name, payload, now))
        return result

    def _start_by_signal(
        self, session: Session, process_id: str, name: str, payload: dict[str, Any], now: datetime
    ) -> int:
        unit = self._start_in(session, process_id, {}, None, None, now)
        run_in_unit(self, session, unit.instance.id, now, lambda u: u.deliver_signal(name, payload))
        return unit.instance.id

    def broadcast_thrown_signal(
        self, session: Session, name: str, payload: dict[str, Any] | None, source: InstanceRecord, now: datetime
    ) -> None:
        """A signal thrown by one instance (and not only caught inside it) reaches every other
        instance waiting on it, in the same transaction; it starts no new instances, so one
        process cannot start itself without end. Only the event's payload expression is sent
        along, not the thrower's data."""
        waiting = sorted(set(session.scalars(
            select(MessageSubscription.instance_id).where(
                MessageSubscription.kind == signals.KIND, MessageSubscription.message_name == name,
                MessageSubscription.instance_id != source.id,
            )
        )))
        for instance_id in waiting:
            try:
                with session.begin_nested():
                    run_in_unit(self, session, instance_id, now, lambda u: u.deliver_signal(name, payload))
            except (Conflict, NotFound) as err:
                session.add(HistoryEntry(
                    instance_id=source.id, at=now, event="signal_unhandled", element_id=None,
                    data_delta={"signal": name, "instance": instance_id, "reason": str(err)},
                ))

    def _latest_versions(self, session: Session) -> list[ProcessVersion]:
        newest = (
            select(ProcessVersion.process_id, func.max(ProcessVersion.version).label("v"))
            .group_by(ProcessVersion.process_id)
            .subquery()
        )
        stmt = select(ProcessVersion).join(
            newest, (ProcessVersion.process_id == newest.c.process_id) & (ProcessVersion.version == newest.c.v)
        )
        return list(session.scalars(stmt))

    def fire_due_timers(self, now: datetime | None = None, limit: int = 500) -> list[FiredTimer]:
        """Fire every timer due at `now` (default: the clock), oldest first, once each."""
        now = ensure_utc(now) if now else self.now()
        with self.db.read() as session:
            due = list(
                session.execute(
                    select(Timer.instance_id, func.min(Timer.due_at))
                    .where(Timer.state == "pending", Timer.due_at <= now, _not_suspended(Timer.instance_id))
                    .group_by(Timer.instance_id)
                    .order_by(func.min(Timer.due_at))
                    .limit(limit)
                )
            )
        fired: list[FiredTimer] = []
        for instance_id, _ in due:
            fired.extend(self._fire_instance_timers(instance_id, now))
        return fired

    def _fire_instance_timers(self, instance_id: int, now: datetime) -> list[FiredTimer]:
        due_rows: list[Timer] = []

        def still_due() -> None:
            # Read under the instance lock: another scheduler may have fired them meanwhile.
            due_rows.extend(
                session.scalars(
                    select(Timer)
                    .where(Timer.instance_id == instance_id, Timer.state == "pending", Timer.due_at <= now)
                    .execution_options(populate_existing=True)
                )
            )
            if not due_rows:
                raise _NothingDue

        def fire_task_dates(unit: Unit) -> None:
            # Diagram timers fire as the unit advances; task dates are fired here.
            unit.fire_task_dates([r for r in due_rows if r.kind in TASK_KINDS])

        try:
            with self._conflicts_as_errors(), self.db.write() as session:
                run_in_unit(self, session, instance_id, now, fire_task_dates, precheck=still_due, skip_locked=True)
                fired = [FiredTimer(instance_id, r.element_id, r.due_at, now) for r in due_rows if r.state == "fired"]
        except (_NothingDue, Busy, Conflict, NotFound):
            return []
        for timer in fired:
            self.metrics.inc("crmflow_timers_fired_total")
            self.metrics.inc("crmflow_timer_lateness_seconds_sum", (timer.fired_at - timer.due_at).total_seconds())
            self.metrics.inc("crmflow_timer_lateness_seconds_count")
        return fired

    def retry_incident(self, incident_id: int) -> InstanceView:
        """Run the failed step again now; resolves the incident if it succeeds."""
        now = self.now()
        with self._conflicts_as_errors(), self.db.write() as session:
            incident = session.get(Incident, incident_id)
            if incident is None:
                raise NotFound(f"incident {incident_id} does not exist (crmflow incidents lists them)")

            def still_open() -> None:
                session.refresh(incident)
                if incident.state != "open":
                    raise Conflict(f"incident {incident_id} is already {incident.state}")

            def retry(unit: Unit) -> None:
                unit.unblock(incident.task_id or "")

            return run_in_unit(self, session, incident.instance_id, now, retry, precheck=still_open).view()

    # -- the operator console: one-line delegations to engine/operations.py, modification.py, retention.py
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

    def retry_due_incidents(self, now: datetime | None = None, limit: int = 100) -> list[int]:
        """Automatic retries whose backoff has passed; returns the incident ids tried."""
        now = ensure_utc(now) if now else self.now()
        with self.db.read() as session:
            ids = list(
                session.scalars(
                    select(Incident.id)
                    .where(Incident.state == "open", Incident.retries_left > 0, Incident.next_retry_at <= now,
                           _not_suspended(Incident.instance_id))
                    .order_by(Incident.next_retry_at)
                    .limit(limit)
                )
            )
        tried = []
        for incident_id in ids:
            try:
                self.retry_incident(incident_id)
                tried.append(incident_id)
            except (Conflict, NotFound):
                continue
        return tried

    def tick(
        self, now: datetime | None = None, worker: str | None = "local", lease_seconds: float = 60.0
    ) -> TickResult:
        """One scheduler pass: fire due timers, then retry incidents whose backoff passed."""
        now = ensure_utc(now) if now else self.now()
        fired: list[FiredTimer] = []
        for _ in range(100):  # bounded: a storm is worked off in batches, never forever
            batch = self.fire_due_timers(now)
            fired.extend(batch)
            if not batch:
                break
        fired.extend(self.fire_start_timers(now))
        retried = self.retry_due_incidents(now)
        jobs = self.run_jobs(worker, now, lease_seconds=lease_seconds) if worker else []
        return TickResult(now=now, timers_fired=fired, incidents_retried=retried, errors=[], jobs_run=jobs)

    def run_jobs(
        self, worker: str, now: datetime | None = None, limit: int = 20, lease_seconds: float = 60.0
    ) -> list[int]:
        """Claim due jobs (SKIP LOCKED + a lease), run each in its own unit; return the job ids run.

        A job whose lease ran out (its worker died) is taken over. The job row is deleted in
        the same transaction as the step it runs, so the step commits exactly once."""
        now = ensure_utc(now) if now else self.now()
        with self.db.write() as session:
            stmt = (
                select(Job)
                .where(Job.due_at <= now, (Job.lease_expires_at.is_(None)) | (Job.lease_expires_at < now),
                       _not_suspended(Job.instance_id))
                .order_by(Job.due_at, Job.id)
                .limit(limit)
            )
            if not self.db.is_sqlite:
                stmt = stmt.with_for_update(skip_locked=True)
            claimed = list(session.scalars(stmt))
            for job in claimed:
                if job.lease_owner is not None:
                    self.metrics.inc("crmflow_lease_takeovers_total")
                job.lease_owner = worker
                job.lease_expires_at = now + timedelta(seconds=lease_seconds)
                job.attempts += 1
            claims = [(job.id, job.instance_id, job.task_id) for job in claimed]
        done = []
        for job_id, instance_id, task_id in claims:
            if self._run_job(job_id, instance_id, task_id, worker, now):
                done.append(job_id)
        return done

    def _run_job(self, job_id: int, instance_id: int, task_id: str, worker: str, now: datetime) -> bool:
        try:
            with self._conflicts_as_errors(), self.db.write() as session:

                def still_ours() -> None:
                    job = session.get(Job, job_id, populate_existing=True)
                    if job is None or job.lease_owner != worker:
                        raise _NothingDue  # done already, or our lease ran out and was taken over

                def run(unit: Unit) -> None:
                    unit.release(task_id)

                try:
                    run_in_unit(self, session, instance_id, now, run, precheck=still_ours)
                except Conflict:
                    pass  # the instance has finished meanwhile: nothing left to run
                session.execute(Job.__table__.delete().where(Job.__table__.c.id == job_id))
        except (_NothingDue, Busy, NotFound):
            return False
        self.metrics.inc("crmflow_jobs_run_total")
        return True

    def next_due_at(self) -> datetime | None:
        """When the scheduler next has work: the earliest pending timer or automatic retry."""
        with self.db.read() as session:
            timer = session.scalar(select(func.min(Timer.due_at)).where(
                Timer.state == "pending", _not_suspended(Timer.instance_id)))
            retry = session.scalar(
                select(func.min(Incident.next_retry_at)).where(Incident.state == "open", Incident.retries_left > 0,
                                                                _not_suspended(Incident.instance_id))
            )
            job = session.scalar(select(func.min(Job.due_at)).where(_not_suspended(Job.instance_id)))
            start = session.scalar(select(func.min(StartTimer.next_due_at)).where(StartTimer.state == "active"))
        found = [ensure_utc(t) for t in (timer, retry, job, start) if t is not None]
        return min(found) if found else None

    def deliver_outbox(
        self, senders: dict[str, Sender], now: datetime | None = None, limit: int = 100
    ) -> DeliveryReport:
        """Hand pending side effects to their channel's sender (after the steps committed)."""
        return outbox.deliver(self.db, senders, ensure_utc(now) if now else self.now(), limit)

    def metrics_text(self) -> str:
        """Prometheus text exposition of this process's counters and the database's gauges."""
        with self.db.read() as session:
            return self.metrics.render(session)

    class _ConflictGuard:
        def __enter__(self) -> None:
            return None

        def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
            if exc_type is not None and issubclass(exc_type, (StaleDataError, IntegrityError)):
                raise Conflict("the instance was changed by someone else at the same time; try again") from exc
            return False

    def _conflicts_as_errors(self) -> Engine._ConflictGuard:
        return Engine._ConflictGuard()

    # -- queries ------------------------------------------------------------------------
    def get_instance(self, instance_id: int, with_history: bool = True) -> InstanceDetail:
        with self.db.read() as session:
            inst = session.get(Instance, instance_id)
            if inst is None:
                raise NotFound(f"instance {instance_id} does not exist (crmflow instances lists them)")
            version = session.scalar(select(ProcessVersion.version).where(ProcessVersion.id == inst.version_id))
            detail = InstanceDetail(
                id=inst.id,
                process_id=inst.process_id,
                version=version or 0,
                business_key=inst.business_key,
                status=inst.status,
                created_at=inst.created_at,
                updated_at=inst.updated_at,
                ended_at=inst.ended_at,
                open_tasks=[
                    task_view(t)
                    for t in session.scalars(
                        select(HumanTask).where(HumanTask.instance_id == inst.id, HumanTask.state == "open")
                    )
                ],
                timers=[
                    timer_view(t)
                    for t in session.scalars(
                        select(Timer)
                        .where(Timer.instance_id == inst.id, Timer.state == "pending")
                        .order_by(Timer.due_at)
                    )
                ],
                subscriptions=[
                    SubscriptionView(s.instance_id, s.element_id, s.message_name, s.correlation_key)
                    for s in session.scalars(
                        select(MessageSubscription).where(
                            MessageSubscription.instance_id == inst.id, MessageSubscription.kind == "message"
                        )
                    )
                ],
                incidents=[
                    incident_view(i)
                    for i in session.scalars(
                        select(Incident).where(Incident.instance_id == inst.id, Incident.state == "open")
                    )
                ],
                data=json.loads(inst.variables) if inst.variables else {},
            )
            if with_history:
                detail.history = self._history(session, instance_id)
            return detail

    def list_instances(
        self, process_id: str | None = None, status: str | None = None, business_key: str | None = None,
        limit: int = 100, offset: int = 0,
    ) -> list[InstanceView]:
        with self.db.read() as session:
            stmt = select(Instance, ProcessVersion.version).join(
                ProcessVersion, ProcessVersion.id == Instance.version_id
            )
            if process_id:
                stmt = stmt.where(Instance.process_id == process_id)
            if status:
                stmt = stmt.where(Instance.status == status)
            if business_key:
                stmt = stmt.where(Instance.business_key == business_key)
            stmt = stmt.order_by(Instance.id.desc()).limit(limit).offset(offset)
            return [
                InstanceView(
                    id=i.id, process_id=i.process_id, version=v, business_key=i.business_key, status=i.status,
                    created_at=i.created_at, updated_at=i.updated_at, ended_at=i.ended_at,
                )
                for i, v in session.execute(stmt)
            ]

    def list_tasks(
        self, state: str = "open", instance_id: int | None = None, assignee: str | None = None,
        lane: str | None = None, process_id: str | None = None, limit: int = 100, offset: int = 0,
    ) -> list[HumanTaskView]:
        with self.db.read() as session:
            stmt = select(HumanTask)
            if state != "all":
                stmt = stmt.where(HumanTask.state == state)
            if instance_id is not None:
                stmt = stmt.where(HumanTask.instance_id == instance_id)
            if assignee:
                stmt = stmt.where(HumanTask.assignee == assignee)
            if lane:
                stmt = stmt.where(HumanTask.lane == lane)
            if process_id:
                stmt = stmt.where(HumanTask.process_id == process_id)
            stmt = stmt.order_by(HumanTask.due_at.is_(None), HumanTask.due_at, HumanTask.created_at)
            return [task_view(t) for t in session.scalars(stmt.limit(limit).offset(offset))]

    def get_task(self, task_id: str) -> HumanTaskView:
        with self.db.read() as session:
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound(f"task {task_id} does not exist")
            return task_view(row)

    def task_form_source(self, task_id: str) -> TaskFormSource:
        """Where a task's form comes from beyond its file name, read from the spec stored with the
        instance's process version: the inline JSON Schema (a Camunda generated form,
        `formJsonSchema`) and the `spiffworkflow:variableName` its data is kept under."""
        with self.db.read() as session:
            row = session.get(HumanTask, task_id)
            if row is None:
                raise NotFound(f"task {task_id} does not exist")
            version_id = session.scalar(select(Instance.version_id).where(Instance.id == row.instance_id))
            loaded = self.specs_for(session, version_id)
        for spec in (loaded.spec, *loaded.subprocess_specs.values()):
            task_spec = spec.task_specs.get(row.element_id)
            if task_spec is None:
                continue
            text = properties_of(task_spec).get(INLINE_FORM_PROPERTY)
            variable = (getattr(task_spec, "variable", None) or "").strip() or None
            return TaskFormSource(json.loads(text) if text else None, variable)
        return TaskFormSource(None, None)

    def list_incidents(self, state: str = "open", instance_id: int | None = None) -> list[IncidentView]:
        with self.db.read() as session:
            stmt = select(Incident).order_by(Incident.id)
            if state != "all":
                stmt = stmt.where(Incident.state == state)
            if instance_id is not None:
                stmt = stmt.where(Incident.instance_id == instance_id)
            return [incident_view(i) for i in session.scalars(stmt)]

    def list_timers(self, due_before: datetime | None = None, state: str = "pending") -> list[TimerView]:
        with self.db.read() as session:
            stmt = (select(Timer, Instance.status).join(Instance, Instance.id == Timer.instance_id)
                    .order_by(Timer.due_at))
            if state != "all":
                stmt = stmt.where(Timer.state == state)
            if due_before is not None:
                stmt = stmt.where(Timer.due_at <= ensure_utc(due_before))
            return [timer_view(t, status) for t, status in session.execute(stmt)]

    def history(self, instance_id: int) -> list[HistoryView]:
        with self.db.read() as session:
            if session.get(Instance, instance_id) is None:
                raise NotFound(f"instance {instance_id} does not exist")
            return self._history(session, instance_id)

    @staticmethod
    def _history(session: Session, instance_id: int) -> list[HistoryView]:
        rows = session.scalars(
            select(HistoryEntry).where(HistoryEntry.instance_id == instance_id).order_by(HistoryEntry.id)
        )
        return [
            HistoryView(h.id, h.at, h.event, h.element_id, h.element_name, h.element_type, h.user, h.data_delta)
            for h in rows
        ]


def task_view(t: HumanTask) -> HumanTaskView:
    return HumanTaskView(
        id=t.id, instance_id=t.instance_id, process_id=t.process_id, business_key=t.business_key,
        element_id=t.element_id, name=t.name, kind=t.kind, lane=t.lane, queue=t.queue, form=t.form,
        instructions=t.instructions, assignee=t.assignee, claimed_at=t.claimed_at,
        candidate_groups=list(t.candidate_groups or []), priority=t.priority, due_at=t.due_at,
        follow_up_at=t.follow_up_at, state=t.state, created_at=t.created_at, completed_at=t.completed_at,
        completed_by=t.completed_by,
    )


def timer_view(t: Timer, instance_status: str | None = None) -> TimerView:
    return TimerView(t.id, t.instance_id, t.element_id, t.name, t.kind, t.due_at, t.state, t.fired_at,
                     instance_status)


def incident_view(i: Incident) -> IncidentView:
    return IncidentView(
        id=i.id, instance_id=i.instance_id, element_id=i.element_id, element_name=i.element_name,
        error_type=i.error_type, message=i.message, attempts=i.attempts, retries_left=i.retries_left,
        next_retry_at=i.next_retry_at, state=i.state, created_at=i.created_at, resolved_at=i.resolved_at,
    )
