"""Deployments: what `crmflow validate` and `deploy` judge and store, and the versions kept.

Owns the SQL of definition files, process versions and timer start schedules; the other
rooms ask it for a version (`version_row`, `latest_versions`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .. import definitions, migration, start_timers, validation
from ..core import EngineCore
from ..errors import DeployRefused, NotFound
from ..models import DefinitionFile, ProcessVersion, StartTimer
from ..state import SERIALIZER_VERSION
from ..validation import Report, ValidationContext, refusal_message
from ..validation.deployed import read_deployed
from ..views import DeployResult, ProcessVersionView


def check(core: EngineCore, paths: Iterable[str | Path], context: ValidationContext | None) -> Report:
    """What `crmflow validate` reports for `paths`, judged against this engine's handlers and
    what it has deployed: the one check deploy runs before storing anything."""
    context = context or ValidationContext()
    if context.operations is None and context.check_handlers and (names := frozenset(core.registry.names())):
        context.operations = names
    with core.db.read() as session:
        context.add_deployed(read_deployed(session))
    context.engine_parse = True
    return validation.validate([Path(p) for p in paths], context)


def deploy(core: EngineCore, paths: Iterable[str | Path], force: bool,
           context: ValidationContext | None) -> DeployResult:
    """Store each changed process as a new version; unchanged ones keep theirs (see `Engine.deploy`)."""
    paths = [Path(p) for p in paths]
    context = context or ValidationContext()
    report = check(core, paths, context)
    errors = [d for d in report.diagnostics if d.is_error]
    if errors and not force:
        raise DeployRefused(refusal_message(errors), report.diagnostics)
    parsed = report.parsed
    if parsed is None:  # forced past a refusal, or nothing executable: the parser says why
        parsed = definitions.parse_diagrams(paths, context.deployed_dmn)
    now = core.now()
    results = []
    with core.db.write() as session:
        for dmn in getattr(parsed, "dmn_files", []):
            _file_row(session, dmn, now).deployed_at = now  # the latest file of a decision wins
        for process in parsed:
            latest = latest_version(session, process.process_id)
            if latest is not None and latest.content_hash == process.content_hash:
                results.append(version_view(session, latest, changed=False))
                continue
            file_row = _file_row(session, process.source, now)
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
            _schedule_start_timers(session, process, version, now)
            view = version_view(session, version, changed=True)
            if latest is not None:
                previous = definitions.deserialize_spec(latest.spec_json)[0]
                new_spec = definitions.deserialize_spec(process.spec_json)[0]
                view.changes = migration.diff_specs(previous, new_spec).to_dict()
            results.append(view)
    return DeployResult(results, [d for d in report.diagnostics if not d.is_error or force])


def preview_deploy(core: EngineCore, paths: Iterable[str | Path]) -> DeployResult:
    """What `deploy` would store, stored nowhere: each process with `changed` and, when a
    version exists, its element diff against the latest."""
    parsed = definitions.parse_diagrams([Path(p) for p in paths])
    results = []
    with core.db.read() as session:
        for process in parsed:
            latest = latest_version(session, process.process_id)
            if latest is None:
                results.append(ProcessVersionView(process.process_id, process.name, 1, process.content_hash,
                                                  process.source.name, core.now(), changed=True))
                continue
            view = version_view(session, latest, changed=latest.content_hash != process.content_hash)
            new_spec = definitions.deserialize_spec(process.spec_json)[0]
            view.changes = migration.diff_specs(core.specs_for(session, latest.id).spec, new_spec).to_dict()
            results.append(view)
    return DeployResult(results)


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


def list_start_timers(core: EngineCore, state: str) -> list[dict[str, Any]]:
    with core.db.read() as session:
        stmt = select(StartTimer).order_by(StartTimer.next_due_at)
        if state != "all":
            stmt = stmt.where(StartTimer.state == state)
        return [
            {"process_id": r.process_id, "element_id": r.element_id, "kind": r.kind, "expression": r.expression,
             "next_due_at": r.next_due_at.isoformat() if r.next_due_at else None, "state": r.state,
             "last_fired_at": r.last_fired_at.isoformat() if r.last_fired_at else None}
            for r in session.scalars(stmt)
        ]


def diff_versions(core: EngineCore, process_id: str, from_version: int, to_version: int) -> migration.VersionDiff:
    """What changed between two deployed versions of a process."""
    with core.db.read() as session:
        a = version_row(session, process_id, from_version)
        b = version_row(session, process_id, to_version)
        return migration.diff_specs(core.specs_for(session, a.id).spec, core.specs_for(session, b.id).spec)


def version_row(session: Session, process_id: str, version: int | None) -> ProcessVersion:
    """A deployed version (None: the latest), or NotFound."""
    stmt = select(ProcessVersion).where(ProcessVersion.process_id == process_id)
    stmt = stmt.where(ProcessVersion.version == version) if version else stmt.order_by(
        ProcessVersion.version.desc()
    )
    row = session.scalars(stmt).first()
    if row is None:
        raise NotFound(f"process '{process_id}' version {version or 'latest'} is not deployed")
    return row


def _file_row(session: Session, source: definitions.SourceFile, now: datetime) -> DefinitionFile:
    row = session.scalars(select(DefinitionFile).where(DefinitionFile.content_hash == source.content_hash)).first()
    if row is None:
        row = DefinitionFile(
            name=source.name, kind=source.kind, content_hash=source.content_hash, content=source.content,
            deployed_at=now,
        )
        session.add(row)
        session.flush()
    return row


def latest_version(session: Session, process_id: str) -> ProcessVersion | None:
    return session.scalars(
        select(ProcessVersion)
        .where(ProcessVersion.process_id == process_id)
        .order_by(ProcessVersion.version.desc())
    ).first()


def latest_versions(session: Session) -> list[ProcessVersion]:
    """The newest version of every deployed process (message and signal starts look here)."""
    newest = (
        select(ProcessVersion.process_id, func.max(ProcessVersion.version).label("v"))
        .group_by(ProcessVersion.process_id)
        .subquery()
    )
    stmt = select(ProcessVersion).join(
        newest, (ProcessVersion.process_id == newest.c.process_id) & (ProcessVersion.version == newest.c.v)
    )
    return list(session.scalars(stmt))


def version_view(session: Session, version: ProcessVersion, changed: bool = False) -> ProcessVersionView:
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


def list_definitions(core: EngineCore, process_id: str | None) -> list[ProcessVersionView]:
    with core.db.read() as session:
        stmt = select(ProcessVersion).order_by(ProcessVersion.process_id, ProcessVersion.version)
        if process_id:
            stmt = stmt.where(ProcessVersion.process_id == process_id)
        return [version_view(session, v) for v in session.scalars(stmt)]


def diagram_source(core: EngineCore, process_id: str, version: int | None) -> bytes:
    """The BPMN XML a version was deployed from (for drawing)."""
    with core.db.read() as session:
        row = version_row(session, process_id, version)
        return session.scalar(select(DefinitionFile.content).where(DefinitionFile.id == row.file_id))
