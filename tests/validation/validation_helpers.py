"""Small helpers for the validator tests: build a diagram with the shared builder, tweak its
XML where the builder has no knob, validate it, and look at rule ids."""

from __future__ import annotations

import re
from pathlib import Path

from bpmn_builder import Process

from engine.validation import Diagnostic, ValidationContext, validate_paths

FIXTURES = Path(__file__).parent / "fixtures"
OPERATIONS = frozenset({"sales/qualify_lead", "sales/create_quote", "test/log_call"})


def baseline(pid: str = "p") -> Process:
    """start → user task → end: clean under every rule."""
    p = Process(pid, "Baseline")
    p.node("start", "startEvent", "Start").node("work", "userTask", "Work").node("end", "endEvent", "End")
    return p.chain("start", "work", "end")


def name_flows(xml: str) -> str:
    """The builder leaves flows unnamed; conditional flows need a label (label-required)."""
    return re.sub(r'<bpmn:sequenceFlow id="([^"]+)"(?! name=)', r'<bpmn:sequenceFlow id="\1" name="\1"', xml)


def write(folder: Path, process: Process | str, name: str | None = None, tweak=None) -> Path:
    xml = process if isinstance(process, str) else name_flows(process.xml())
    if tweak is not None:
        xml = tweak(xml)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or (f"{process.id}.bpmn" if isinstance(process, Process) else "diagram.bpmn"))
    path.write_text(xml, encoding="utf-8")
    return path


def context(**kw) -> ValidationContext:
    kw.setdefault("operations", OPERATIONS)
    return ValidationContext(**kw)


def check(paths: list[Path] | Path, **kw) -> list[Diagnostic]:
    return validate_paths(paths if isinstance(paths, list) else [paths], context(**kw))


def rules(diagnostics: list[Diagnostic]) -> set[str]:
    return {d.rule for d in diagnostics}


def of_rule(diagnostics: list[Diagnostic], rule: str) -> list[Diagnostic]:
    return [d for d in diagnostics if d.rule == rule]


def insert_after_process_open(xml: str, fragment: str) -> str:
    return re.sub(r"(<bpmn:process [^>]*>)", lambda m: m.group(1) + fragment, xml, count=1)
