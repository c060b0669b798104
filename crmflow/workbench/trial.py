"""Test in place: the process's YAML scenarios (`processes/scenarios/*.yaml`, as `crmflow test`
runs them) against the draft instead of the file, each step marked passed, failed or not run."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from crmflow.scenarios import run_scenario
from crmflow.scenarios.files import load_all
from crmflow.scenarios.run import Result

from .workspace import with_draft

SCENARIOS_FOLDER = "scenarios"


def run(processes: Path, process_id: str, file_name: str, content: bytes) -> dict[str, Any]:
    """Every scenario of `process_id`, run on fresh in-memory databases with the draft deployed."""
    found, errors = load_all([processes / SCENARIOS_FOLDER]) if (processes / SCENARIOS_FOLDER).is_dir() \
        else ([], [])
    mine = [s for s in found if s.process == process_id]
    results = []
    with with_draft(processes, file_name, content) as folder:
        for scn in mine:
            moved = dataclasses.replace(scn, deploy=[_moved(p, processes, folder) for p in scn.deploy])
            results.append(_result(run_scenario(moved)))
    passed = sum(r["outcome"] == "passed" for r in results)
    return {"process_id": process_id, "passed": passed, "failed": len(results) - passed, "scenarios": results,
            "invalid_files": [str(e) for e in errors]}


def _moved(path: Path, processes: Path, folder: Path) -> Path:
    """Where a scenario's deploy entry is in the draft's folder (files elsewhere stay put)."""
    resolved = path.resolve()
    root = processes.resolve()
    if resolved == root:
        return folder
    if resolved.parent == root:
        return folder / resolved.name
    return path


def _result(result: Result) -> dict[str, Any]:
    failing = result.step.number if result.step is not None and not result.passed else None
    steps = []
    for step in result.scenario.steps:
        if failing is None and result.passed:
            state = "passed"
        elif failing is not None and step.number < failing:
            state = "passed"
        elif step.number == failing:
            state = "failed"
        else:
            state = "not run"
        steps.append({"number": step.number, "kind": step.kind, "yaml": step.source, "state": state})
    out: dict[str, Any] = {"name": result.scenario.name, "outcome": result.outcome, "steps": steps,
                           "seconds": round(result.seconds, 2)}
    if not result.passed:
        out["failure"] = {"stage": result.stage, "expected": result.expected, "found": result.found}
    return out
