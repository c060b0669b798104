"""SpiffWorkflow behind one adapter (engine/spiff/): importing the engine changes nothing upstream,
building an Engine installs every correction, and no other engine module replaces upstream code."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition

from engine import spiff
from engine.definitions import deserialize_spec, parse_diagrams

REPO = Path(__file__).resolve().parents[1]

_IMPORT_THEN_BUILD = """
import importlib, pkgutil
import engine
for module in pkgutil.walk_packages(engine.__path__, "engine."):
    if ".migrations" not in module.name:
        importlib.import_module(module.name)

from datetime import datetime
from SpiffWorkflow.bpmn.parser.event_parsers import EndEventParser
from SpiffWorkflow.bpmn.specs.event_definitions import timer
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import DurationTimerEventDefinition, TimerEventDefinition
from engine import Engine, spiff

upstream = {
    "timer.datetime": timer.datetime is datetime,
    "parse_iso_duration": TimerEventDefinition.parse_iso_duration.__module__.startswith("SpiffWorkflow"),
    "get_timedelta_from_start": TimerEventDefinition.get_timedelta_from_start.__module__.startswith("SpiffWorkflow"),
    "duration has_fired": DurationTimerEventDefinition.has_fired.__module__.startswith("SpiffWorkflow"),
    "multiple has_fired": MultipleEventDefinition.has_fired.__module__.startswith("SpiffWorkflow"),
    "end event parser": EndEventParser.create_task.__module__.startswith("SpiffWorkflow"),
}
assert all(upstream.values()), upstream
assert not any(c.installed() for c in spiff._CORRECTIONS), "a correction was installed on import"

Engine("sqlite://").close()
assert spiff.installed()
assert EndEventParser.create_task.__module__.startswith("SpiffWorkflow")  # corrected by subclassing
spiff.install()
assert spiff.installed()
print("ok")
"""


def test_importing_the_engine_leaves_spiffworkflow_unpatched_and_building_one_installs() -> None:
    done = subprocess.run([sys.executable, "-c", _IMPORT_THEN_BUILD], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_install_is_idempotent() -> None:
    spiff.install()
    spiff.install()
    assert spiff.installed()


SIGNAL_END = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:signal id="sig" name="done" />
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s" />
    <bpmn:sequenceFlow id="f" sourceRef="s" targetRef="e" />
    <bpmn:endEvent id="e"><bpmn:signalEventDefinition signalRef="sig" /></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""


def test_the_engines_parser_reads_a_signal_end_event(tmp_path: Path) -> None:
    path = tmp_path / "signal_end.bpmn"
    path.write_text(SIGNAL_END)
    (parsed,) = parse_diagrams([path])
    spec, _ = deserialize_spec(parsed.spec_json)
    assert isinstance(spec.task_specs["e"].event_definition, SignalEventDefinition)


def _spiff_names(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("SpiffWorkflow"):
            names.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name.startswith("SpiffWorkflow"))
    return names


def _root(node: ast.expr) -> ast.expr:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node


def test_only_engine_spiff_replaces_anything_in_spiffworkflow() -> None:
    offenders = []
    for path in sorted((REPO / "engine").rglob("*.py")):
        rel = path.relative_to(REPO)
        if rel.parts[:2] in (("engine", "spiff"), ("engine", "migrations")):
            continue
        tree = ast.parse(path.read_text())
        names = _spiff_names(tree)
        for node in ast.walk(tree):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, ast.AugAssign | ast.AnnAssign) else []
            for target in targets:
                root = _root(target)
                if target is not root and isinstance(root, ast.Name) and root.id in names:
                    offenders.append(f"{rel}:{node.lineno}")
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "setattr" \
                    and node.args and isinstance(_root(node.args[0]), ast.Name) and _root(node.args[0]).id in names:
                offenders.append(f"{rel}:{node.lineno}")
    assert offenders == [], "replace SpiffWorkflow behaviour only in engine/spiff/: " + ", ".join(offenders)
