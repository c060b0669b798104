"""Deploy from the workbench: refused while the draft has validate errors; shows the element diff
against the deployed version first, and afterwards the migration dry run of the running instances
(which could move to the new version, which could not and why)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine import Conflict, Engine, NotFound

from .checks import check
from .drafts import DraftStore
from .workspace import with_draft


def _deploy_set(folder: Path, file_name: str) -> list[Path]:
    """The draft and every decision table (business-rule tasks resolve across files)."""
    return [folder / file_name, *sorted(folder.glob("*.dmn"))]


def preview(engine: Engine, processes: Path, process_id: str, file_name: str, content: bytes) -> dict[str, Any]:
    """The checks, and (when there are no errors) the element diff against the latest deployed version."""
    checked = check(engine, processes, file_name, content)
    out: dict[str, Any] = {"checks": checked, "previous_version": None, "changes": None, "changed": None}
    if checked["errors"]:
        return out
    with with_draft(processes, file_name, content) as folder:
        result = engine.preview_deploy(_deploy_set(folder, file_name))
    view = next((v for v in result.versions if v.process_id == process_id), None)
    if view is None:
        raise NotFound(f"the draft defines no executable process '{process_id}'")
    out.update(previous_version=view.version if view.changes is not None else None, changes=view.changes,
               changed=view.changed)
    return out


def deploy(engine: Engine, drafts: DraftStore, processes: Path, process_id: str, file_name: str, content: bytes,
           user: str) -> dict[str, Any]:
    """Save the XML as a draft, deploy it unless validate finds errors, record who deployed it."""
    checked = check(engine, processes, file_name, content)
    if checked["errors"]:
        raise Conflict(f"{file_name} has {checked['errors']} validate error(s); fix those marked on the diagram "
                       "before deploying")
    draft = drafts.save(process_id, file_name, "bpmn", content.decode("utf-8"), user)
    with with_draft(processes, file_name, content) as folder:
        result = engine.deploy(_deploy_set(folder, file_name))
    view = next((v for v in result.versions if v.process_id == process_id), None)
    if view is None:
        raise NotFound(f"the draft defines no executable process '{process_id}'")
    drafts.mark_deployed(draft.id, view.version, user)
    dry_run = [plan.to_dict() for plan in engine.migrate_all(process_id, view.version, dry_run=True)] \
        if view.changed else []
    return {"draft_id": draft.id, "process_id": process_id, "version": view.version, "changed": view.changed,
            "changes": view.changes, "deployed_by": user, "migration_dry_run": dry_run, "checks": checked}
