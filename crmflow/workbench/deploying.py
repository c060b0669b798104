"""Deploy from the workbench: refused while the draft has validate errors; shows the element diff
against the deployed version first, and afterwards the migration dry run of the running instances
(which could move to the new version, which could not and why).

The deploy set is the draft, every decision table and the diagrams its call activities call (they
are parsed together). A deploy that would also give another process a new version (its file in
`processes/` differs from what is deployed) needs `deploy` on that process too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine import Conflict, Engine, NotFound

from . import catalog
from .checks import check
from .drafts import DraftStore
from .workspace import safe_file_name, with_draft

_CALLED = re.compile(r'calledElement="([^"]+)"')


def deploy_set(engine: Engine, folder: Path, file_name: str) -> list[Path]:
    """The draft, every decision table, and the processes its call activities call (transitively):
    as deployed when they are (so deploying a caller never re-deploys a callee), else their file."""
    files = catalog.diagram_files(folder)
    deployed = {v.process_id for v in engine.list_definitions()}
    called_folder = folder / "_called"
    chosen = [folder / file_name]
    seen: set[str] = set()
    pending = list(chosen)
    while pending:
        text = pending.pop().read_text(encoding="utf-8", errors="replace")
        for called in _CALLED.findall(text):
            if called in seen:
                continue
            seen.add(called)
            if called in deployed:
                called_folder.mkdir(exist_ok=True)
                path = called_folder / f"{called}.bpmn"
                path.write_bytes(engine.diagram_source(called))
            elif called in files:
                path = files[called]
            else:
                continue  # the live check reports the missing called process
            if path not in chosen:
                chosen.append(path)
                pending.append(path)
    return [*chosen, *sorted(folder.glob("*.dmn"))]


def preview(engine: Engine, processes: Path, process_id: str, file_name: str, content: bytes) -> dict[str, Any]:
    """The checks, and (when there are no errors) the element diff against the latest deployed version."""
    checked = check(engine, processes, file_name, content)
    out: dict[str, Any] = {"checks": checked, "previous_version": None, "changes": None, "changed": None}
    if checked["errors"]:
        return out
    with with_draft(processes, file_name, content) as folder:
        result = engine.preview_deploy(deploy_set(engine, folder, file_name))
    view = next((v for v in result.versions if v.process_id == process_id), None)
    if view is None:
        raise NotFound(f"the draft defines no executable process '{process_id}'")
    out.update(previous_version=view.version if view.changes is not None else None, changes=view.changes,
               changed=view.changed)
    return out


def deploy(engine: Engine, drafts: DraftStore, processes: Path, process_id: str, file_name: str, content: bytes,
           user: str, may_deploy: Callable[[str], None]) -> dict[str, Any]:
    """Save the XML as a draft, deploy it unless validate finds errors, record who deployed it.
    `may_deploy(process_id)` raises Forbidden for a process the user may not deploy."""
    checked = check(engine, processes, file_name, content)
    if checked["errors"]:
        raise Conflict(f"{file_name} has {checked['errors']} validate error(s); fix those marked on the diagram "
                       "before deploying")
    with with_draft(processes, file_name, content) as folder:
        files = deploy_set(engine, folder, file_name)
        planned = engine.preview_deploy(files)
        if process_id not in {v.process_id for v in planned.versions}:
            raise NotFound(f"the draft defines no executable process '{process_id}'; open the process it defines "
                           "in the workbench to deploy it")
        for other in planned.changed:
            may_deploy(other.process_id)
        draft = drafts.save(process_id, file_name, "bpmn", content.decode("utf-8"), user)
        # The draft passed the deploy check just above; the set adds only decision tables and the
        # sources of deployed callees (checked when they were deployed; their forms live elsewhere).
        result = engine.deploy(files, force=True)
    view = next((v for v in result.versions if v.process_id == process_id), None)
    if view is None:
        raise NotFound(f"the draft defines no executable process '{process_id}'")
    drafts.mark_deployed(draft.id, view.version, user)
    dry_run = [plan.to_dict() for plan in engine.migrate_all(process_id, view.version, dry_run=True)] \
        if view.changed else []
    return {"draft_id": draft.id, "process_id": process_id, "version": view.version, "changed": view.changed,
            "changes": view.changes, "deployed_by": user, "migration_dry_run": dry_run, "checks": checked}


_DECISION = re.compile(r'<(?:\w+:)?decision\b[^>]*\bid="([^"]+)"')
_CALLS_DECISION = re.compile(r"calledDecisionId>\s*([^<\s]+)\s*<")


def deploy_decision(engine: Engine, drafts: DraftStore, processes: Path, name: str, content: bytes,
                    user: str) -> dict[str, Any]:
    """Deploy a decision table draft, refused while validate finds errors in it. A process version
    holds the tables it calls as they were when it was deployed, so every deployed process calling
    one of this file's decisions is deployed again from its deployed source with the new table:
    its new instances decide with the new rules (running ones keep theirs until migrated)."""
    file_name = f"{name}.dmn"
    checked = check(engine, processes, file_name, content)
    if checked["errors"]:
        first = [str(d.get("message")) + (f" ({d['hint']})" if d.get("hint") else "")
                 for d in checked["diagnostics"] if d.get("severity") == "error"][:3]
        raise Conflict(f"{file_name} has {checked['errors']} validate error(s), fix them before deploying: "
                       + "; ".join(first))
    decisions = set(_DECISION.findall(content.decode("utf-8", errors="replace")))
    latest: dict[str, Any] = {}
    for v in engine.list_definitions():
        if v.process_id not in latest or v.version > latest[v.process_id].version:
            latest[v.process_id] = v
    with with_draft(processes, file_name, content) as folder:
        files: list[Path] = [folder / file_name]
        callers = []
        for pid, version in sorted(latest.items()):
            source = engine.diagram_source(pid)
            if decisions & set(_CALLS_DECISION.findall(source.decode("utf-8", errors="replace"))):
                callers.append(pid)
                # as deployed, under its own file name beside its forms (overwriting the folder's copy)
                try:
                    caller_file = safe_file_name(Path(version.file).name, ".bpmn")
                except ValueError:
                    caller_file = f"{pid}.bpmn"
                (folder / caller_file).write_bytes(source)
                files += [p for p in deploy_set(engine, folder, caller_file) if p not in files]
        draft = drafts.save(f"dmn:{name}", file_name, "dmn", content.decode("utf-8"), user)
        result = engine.deploy(files)
    drafts.mark_deployed(draft.id, None, user)
    versions = [{"process_id": v.process_id, "version": v.version, "changed": v.changed} for v in result.versions
                if v.process_id in callers]
    return {"draft_id": draft.id, "table": name, "deployed_by": user, "decisions": sorted(decisions),
            "callers": versions, "checks": checked}
