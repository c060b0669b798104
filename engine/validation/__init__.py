"""`crmflow validate`'s engine side: every problem in a set of diagram files, in one run.

`validate_paths(paths, context)` loads each file with the hardened XML loader, runs the
bpmnlint `recommended` rules (`rules_structure`), crmflow's engine-aware rules
(`rules_engine`, `rules_expressions`), and finally SpiffWorkflow's own parser over the whole
set (rule `crmflow/parse`). A rule that trips over an odd file reports `crmflow/internal`
instead of raising, so no input ever ends in a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import spiff
from engine.errors import DefinitionError
from engine.xml import is_diagram

from . import rules_engine, rules_expressions, rules_structure
from .context import LaneRoute, ValidationContext, Workspace, load_lane_map
from .diagnostics import ERROR, WARNING, Diagnostic, format_json, format_text, sort_key
from .parsing import Document, collect_files, load

__all__ = [
    "ERROR",
    "WARNING",
    "Diagnostic",
    "LaneRoute",
    "Report",
    "ValidationContext",
    "format_json",
    "format_text",
    "load_lane_map",
    "refusal_message",
    "validate",
    "validate_paths",
]

PARSE_MESSAGE = re.compile(r"^(?P<file>.+?):(?P<line>\d+|\?): (?P<message>.*)$", re.DOTALL)
PARSE_ELEMENT = re.compile(r"\s*\(element (?P<id>\S+?)(?: '(?P<name>.*)')?\)$")


@dataclass
class Report:
    files: int
    diagnostics: list[Diagnostic]
    parsed: Any = None
    """The engine parser's `ParsedSet` when it ran and accepted the set (deploy stores it), else None."""

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)


def validate_paths(paths: Iterable[Path], context: ValidationContext | None = None) -> list[Diagnostic]:
    """All diagnostics for the diagram files in `paths` (directories are searched), sorted by place."""
    return validate(paths, context).diagnostics


def validate(paths: Iterable[Path], context: ValidationContext | None = None) -> Report:
    """Every diagnostic for `paths`; `crmflow validate` prints them, `Engine.deploy` refuses on errors."""
    spiff.install()  # timers are parsed with the bounded durations (engine/spiff/timer_durations.py)
    context = context or ValidationContext()
    paths = [Path(p) for p in paths]
    files, diagnostics = collect_files(paths)
    diagnostics.extend(context.problems)
    documents: list[Document] = []
    for path in files:
        loaded = load(path)
        if isinstance(loaded, Diagnostic):
            diagnostics.append(loaded)
        else:
            documents.append(loaded)
    workspace = Workspace(documents, context)
    for doc in documents:
        diagnostics.extend(_run_rules(doc, workspace))
    parsed = None
    if _in_model_tree(paths):  # the tree's parser resolves calls and decisions across its folders itself
        diagnostics = [d for d in diagnostics if not _resolved_reference(d)]
    if context.engine_parse:
        found, parsed = engine_parse(documents, diagnostics, context, paths)
        diagnostics.extend(found)
        if parsed is not None:  # the parser resolved every call and decision (a model tree reaches further)
            diagnostics = [d for d in diagnostics if not _resolved_reference(d)]
    return Report(len(files), _dedupe(sorted(diagnostics, key=sort_key)), parsed)


def _in_model_tree(paths: list[Path]) -> bool:
    from engine.model_tree import find_tree

    try:
        return find_tree(paths) is not None
    except DefinitionError:  # paths from two trees: the parse step reports it
        return True


def _resolved_reference(d: Diagnostic) -> bool:
    """A 'not among the validated files' finding the engine's parser has since resolved."""
    return d.rule in ("crmflow/called-element", "crmflow/called-decision") and (
        "not among the validated files" in d.message or "is not in any validated" in d.message)


def refusal_message(errors: list[Diagnostic]) -> str:
    """Deploy's refusal: a count, what to do, then every error as `crmflow validate` prints it."""
    count = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
    head = (f"deploy refused: {count} (the ones `crmflow validate` reports); fix them in the diagram, "
            "or deploy with --force (API: force=True) to store it anyway")
    return "\n".join([head, *(d.text() for d in errors)])


def _run_rules(doc: Document, ws: Workspace) -> list[Diagnostic]:
    found: list[Diagnostic] = []
    runs: list[tuple[str, object]] = []
    if doc.kind == "bpmn":
        runs += [(rule_id, lambda rule=rule: rule(doc)) for rule_id, rule in rules_structure.RULES]
        runs += [(rule_id, lambda rule=rule: rule(doc, ws)) for rule_id, rule in rules_engine.RULES]
    runs += [(rule_id, lambda rule=rule: rule(doc, ws)) for rule_id, rule in rules_expressions.RULES]
    for rule_id, run in runs:
        try:
            found.extend(run())  # type: ignore[operator]
        except Exception as err:  # a rule bug must not hide the other findings
            found.append(doc.diag("crmflow/internal", f"rule {rule_id} failed on this file: "
                                  f"{type(err).__name__}: {err}", None,
                                  hint="please report this; the other rules ran"))
    return found


def _dedupe(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    seen: set[Diagnostic] = set()
    unique = []
    for d in diagnostics:
        if d not in seen:
            seen.add(d)
            unique.append(d)
    return unique


def engine_parse(documents: list[Document], found: list[Diagnostic],
                 context: ValidationContext | None = None,
                 paths: list[Path] | None = None) -> tuple[list[Diagnostic], Any]:
    """Run SpiffWorkflow's parser (via `engine.definitions`) over the set; its refusal is one diagnostic.

    Returns (diagnostics, the parsed set or None). Skipped when nothing in the set is executable
    (the not-executable warning says so), and silent when the refusal is about an element
    another rule already reported as an error.
    """
    from engine.definitions import parse_diagrams

    deployable = [d for d in documents if is_diagram(d.path)]
    if not any(d.kind == "bpmn" and any(p.get("isExecutable") == "true" for p in d.processes()) for d in deployable):
        return [], None
    # The paths as given when they are folders and diagrams (what deploy has always parsed: a
    # spiff-arena model tree is recognised from them), else the diagram files found.
    given = paths and all(p.is_dir() or is_diagram(p) for p in paths)
    targets = paths if given else [d.path for d in deployable]
    try:
        parsed = parse_diagrams(targets, context.deployed_dmn if context else None)
    except DefinitionError as err:
        diagnostic = _parse_diagnostic(str(err), deployable)
    except Exception as err:  # a SpiffWorkflow bug on odd input is still a finding, not a traceback
        diagnostic = Diagnostic(deployable[0].file, 0, 0, ERROR, "crmflow/parse",
                                f"SpiffWorkflow's parser failed: {type(err).__name__}: {err}")
    else:
        return [], parsed
    if _already_reported(diagnostic, found):
        return [], None
    return [diagnostic], None


REFERENCE_RULES = frozenset({"crmflow/called-element", "crmflow/called-decision", "crmflow/reference"})


def _already_reported(parse: Diagnostic, found: list[Diagnostic]) -> bool:
    """The parser stops at its first complaint; when a rule already named that element, or the
    missing process/decision the parser cannot find, a second diagnostic would only repeat it."""
    errors = [d for d in found if d.is_error]
    if parse.element_id and any(d.file == parse.file and d.element_id == parse.element_id for d in errors):
        return True
    names = {name for d in errors if d.rule in REFERENCE_RULES for name in re.findall(r"'([^']+)'", d.message)}
    return any(f"'{name}'" in parse.message for name in names)


def _parse_diagnostic(message: str, documents: list[Document]) -> Diagnostic:
    first = message.strip().splitlines()[0] if message.strip() else message
    match = PARSE_MESSAGE.match(first)
    file, line, text = (documents[0].file, 0, first) if not match else (
        match["file"], int(match["line"]) if match["line"].isdigit() else 0, match["message"])
    by_name = {d.path.name: d for d in documents} | {d.file: d for d in documents} | {str(d.path): d for d in documents}
    doc = by_name.get(file) or by_name.get(Path(file).name)
    element_id = name = None
    if (element := PARSE_ELEMENT.search(text)) is not None:
        element_id, name = element["id"], element["name"]
        text = text[: element.start()]
    if doc is not None and element_id and not line and (el := doc.by_id.get(element_id)) is not None:
        line = el.sourceline or 0
    if doc is not None and line and not element_id:
        at_line = [el for el in doc.by_id.values() if el.sourceline == line]
        if at_line:
            element_id, name = at_line[0].get("id"), at_line[0].get("name")
    return Diagnostic(doc.file if doc else file, line, 0, ERROR, "crmflow/parse",
                      f"SpiffWorkflow's parser refuses it: {text.strip()}", element_id, name,
                      "the engine cannot deploy this set until it is fixed")
