"""Live checks: `crmflow validate`'s rules over a draft, the draft among the other files.

The context is built as the CLI builds it (registered operations, the lane map, what is
deployed), so the page and `crmflow validate` agree; only the draft's own findings are
returned, each with its element id for the canvas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crmflow.commands.validate import caught_messages
from engine import Engine
from engine.validation import ValidationContext, load_lane_map, validate
from engine.validation.diagnostics import summary

from .workspace import with_draft


def context_for(engine: Engine, folder: Path) -> ValidationContext:
    """What the validator knows beyond the files, from the running server."""
    context = ValidationContext(processes_root=folder, operations=frozenset(engine.registry.names()))
    lanes = folder / "lanes.json"
    if lanes.is_file():
        context.lanes, problem = load_lane_map(lanes)
        if problem is not None:
            context.problems.append(problem)
    latest = {v.process_id: v for v in engine.list_definitions()}
    context.deployed_processes = frozenset(latest)
    context.deployed_messages = frozenset(caught_messages({pid: engine.diagram_source(pid) for pid in latest}))
    return context


def check(engine: Engine, processes: Path, file_name: str, content: bytes) -> dict[str, Any]:
    """{"errors": n, "warnings": n, "diagnostics": [...]} for the draft named `file_name`."""
    with with_draft(processes, file_name, content) as folder:
        report = validate([folder], context_for(engine, folder))
        mine = [d for d in report.diagnostics if Path(d.file).name == file_name]
    counts = summary(mine)
    return {**counts, "diagnostics": [{**d.to_dict(), "file": file_name} for d in mine]}
