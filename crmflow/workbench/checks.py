"""Live checks: `crmflow validate`'s rules over a draft, the draft among the other files.

They are the engine's own deploy check (`Engine.check`: registered operations, what is
deployed), with the processes folder's lane map, so the page, `crmflow validate` and deploy
agree; only the draft's own findings are returned, each with its element id for the canvas.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine import Engine
from engine.validation import ValidationContext, load_lane_map
from engine.validation.diagnostics import summary

from .workspace import with_draft


def context_for(engine: Engine, folder: Path) -> ValidationContext:
    """What the validator knows beyond the files and the engine: the folder's lane map."""
    context = ValidationContext(processes_root=folder)
    lanes = folder / "lanes.json"
    if lanes.is_file():
        context.lanes, problem = load_lane_map(lanes)
        if problem is not None:
            context.problems.append(problem)
    return context


def check(engine: Engine, processes: Path, file_name: str, content: bytes) -> dict[str, Any]:
    """{"errors": n, "warnings": n, "diagnostics": [...]} for the draft named `file_name`."""
    with with_draft(processes, file_name, content) as folder:
        report = engine.check([folder], context_for(engine, folder))
        mine = [d for d in report.diagnostics if Path(d.file).name == file_name]
    counts = summary(mine)
    return {**counts, "diagnostics": [{**d.to_dict(), "file": file_name} for d in mine]}
