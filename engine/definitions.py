"""Loading diagrams into executable specs, and the spec (de)serialization kept per version.

All `.bpmn` and `.dmn` files given to one deploy are parsed together, so call activities
and business-rule tasks resolve across files. Each executable process becomes a
`ParsedProcess` whose spec is serialized once; its content hash is the hash of that
serialization, so a new version appears exactly when what would run has changed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException

from . import camunda
from .element_rewrites import prepare_bpmn
from .errors import DefinitionError
from .model_tree import ModelTree, find_tree
from .spiff.parser import VALIDATOR, BpmnParser
from .spiff.serializer import REGISTRY, SERIALIZER_VERSION
from .xml import DIAGRAM_SUFFIXES, diagram_kind, is_diagram, parse_bytes, parse_file

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


@dataclass
class SourceFile:
    name: str
    kind: str
    content: bytes

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class ParsedProcess:
    process_id: str
    name: str | None
    source: SourceFile
    spec_json: str
    message_starts: list[str] = field(default_factory=list)
    timer_starts: list[tuple[str, str]] = field(default_factory=list)

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.spec_json.encode()).hexdigest()


class ParsedSet(list):  # type: ignore[type-arg]
    """The executable processes of one parse, plus the DMN files given (deploy stores them, so a
    later deploy of a diagram alone can resolve its decisions against them)."""

    dmn_files: list[SourceFile]

    def __init__(self, processes: Iterable[ParsedProcess] = (), dmn_files: Iterable[SourceFile] = ()) -> None:
        super().__init__(processes)
        self.dmn_files = list(dmn_files)


def find_diagram_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories into their diagram files; keep explicit files as given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if is_diagram(p) and p.is_file()))
        elif path.exists():
            if not is_diagram(path):
                raise DefinitionError(f"{path}: not a diagram (expected a .bpmn, .bpmn20.xml or .dmn file)")
            found.append(path)
        else:
            raise DefinitionError(f"{path}: no such file or directory")
    if not found:
        raise DefinitionError("no .bpmn or .dmn files found in " + ", ".join(str(p) for p in paths))
    return found


def describe_validation_error(err: Exception, fallback_file: str | None = None, tree: Any = None) -> str:
    """`file:line: message (element id 'name')` for SpiffWorkflow's validation errors.

    SpiffWorkflow looks for a `line_number` lxml never sets; the line is found again from the
    element id in the parsed file."""
    file_name = getattr(err, "file_name", None) or fallback_file or "?"
    element = getattr(err, "id", None) or getattr(err, "task_id", None)
    name = getattr(err, "name", None)
    message = str(getattr(err, "message", None) or err).strip().splitlines()[0] if str(err).strip() else repr(err)
    if not element and tree is not None and (called := re.search(r"The process '([^']+)' was not found", message)):
        found = tree.getroot().xpath("//*[@calledElement=$c]", c=called[1])
        if found:
            element, name = found[0].get("id"), found[0].get("name")
    line = getattr(err, "line_number", None) or getattr(err, "sourceline", None) or _line_of(tree, element) or "?"
    message = _plain_words(message, getattr(err, "tag", "") or "")
    where = f" (element {element}{' ' + repr(name) if name else ''})" if element else ""
    return f"{file_name}:{line}: {message}{where}"


def _plain_words(message: str, tag: str) -> str:
    """SpiffWorkflow's refusals in words an analyst can act on (issue 22 item 10)."""
    kind = tag.split(":")[-1] or "element"
    if "no support implemented for this task type" in message:
        return f"the engine cannot execute a {kind}; replace it (see `crmflow validate` for the element's hint)"
    if 'No DMN Diagram available with id "None"' in message:
        return ("business rule task names no decision: add <spiffworkflow:calledDecisionId> with the DMN "
                "decision id (camunda:decisionRef is Camunda-specific)")
    if (missing := re.search(r'No DMN Diagram available with id "([^"]+)"', message)) is not None:
        return (f"decision {missing[1]!r} is not in the deployed files nor among those given: deploy its .dmn "
                "file with this diagram, or first")
    if (called := re.search(r"The process '([^']+)' was not found", message)) is not None:
        return (f"called process {called[1]!r} is not among the files given: deploy the diagram that defines it "
                "together with this one")
    return message


def called_decisions(tree: Any) -> set[str]:
    """Decision ids a BPMN file's business-rule tasks call (spiffworkflow:calledDecisionId)."""
    return {text for el in tree.getroot().iter(f"{{{SPIFF_NS}}}calledDecisionId")
            if (text := "".join(el.itertext()).strip())}


def _line_of(tree: Any, element_id: str | None) -> int | None:
    if tree is None or not element_id:
        return None
    found = tree.getroot().xpath("//*[@id=$id]", id=element_id)
    return found[0].sourceline if found else None


def parse_diagrams(paths: Iterable[Path], deployed_dmn: dict[str, tuple[str, bytes]] | None = None) -> ParsedSet:
    """Parse and validate diagram files; raise one `DefinitionError` naming file and element.

    A business-rule task calling a decision that none of the given `.dmn` files defines is
    resolved against `deployed_dmn` (decision id → latest deployed DMN file), so a diagram
    can be redeployed alone.
    """
    paths = list(paths)
    if (tree := find_tree(paths)) is not None:  # a spiff-arena process-model tree (issue 19)
        return parse_tree(tree, paths)
    files = find_diagram_files(paths)
    parser = BpmnParser(validator=VALIDATOR)
    sources: dict[str, SourceFile] = {}
    trees: dict[str, Any] = {}
    for path in files:
        tree, content = parse_file(path)
        kind = diagram_kind(path) or "bpmn"
        if path.name in sources:
            raise DefinitionError(f"{path}: a second diagram file named {path.name!r}; file names must be unique")
        sources[path.name] = SourceFile(path.name, kind, content)
        trees[path.name] = tree
        if kind == "bpmn":
            prepare_bpmn(tree, str(path))
        try:
            # The bare file name goes into the spec, so the same diagram deployed from
            # another folder or machine hashes the same.
            if kind == "dmn":
                parser.add_dmn_xml(tree.getroot(), filename=path.name)
            else:
                mark_not_executable(tree)
                camunda.adopt(tree)
                parser.add_bpmn_xml(tree, filename=path.name)
        except (ValidationException, SpiffWorkflowException) as err:
            raise DefinitionError(describe_validation_error(err, str(path), tree)) from None
        except Exception as err:  # lxml schema errors and parser bugs on odd input
            raise DefinitionError(f"{path}: {type(err).__name__}: {err}") from None
    add_deployed_decisions(parser, sources, trees, deployed_dmn or {})

    processes: list[ParsedProcess] = []
    for process_id in parser.get_process_ids():
        process_parser = parser.get_process_parser(process_id)
        filename = process_parser.filename
        try:
            spec = parser.get_spec(process_id)
            subprocess_specs = parser.get_subprocess_specs(process_id)
        except (ValidationException, SpiffWorkflowException) as err:
            raise DefinitionError(describe_validation_error(err, filename, trees.get(filename))) from None
        processes.append(
            ParsedProcess(
                process_id=process_id,
                name=process_parser.get_name(),
                source=sources[filename],
                spec_json=serialize_spec(spec, subprocess_specs),
                message_starts=message_start_names(spec),
                timer_starts=timer_start_events(spec),
            )
        )
    dmn_files = [s for s in sources.values() if s.kind == "dmn"]
    if not processes and not dmn_files:  # DMN files alone deploy: later diagrams call their decisions
        raise DefinitionError(nothing_executable(trees))
    return ParsedSet(processes, dmn_files)


def mark_not_executable(tree: Any) -> None:
    """The one isExecutable rule (validate's): a process runs only when marked "true".

    SpiffWorkflow treats a missing attribute as "true", so a documentation-only pool drawn
    without it was parsed, and could block a deploy with an error validate never showed."""
    for process in tree.getroot().iter(f"{{{BPMN_NS}}}process"):
        if process.get("isExecutable") is None:
            process.set("isExecutable", "false")


def nothing_executable(trees: dict[str, Any]) -> str:
    """The refusal of a deploy with no executable process, naming each pool that is not."""
    pools = []
    for name, tree in trees.items():
        root = tree.getroot()
        names = {p.get("processRef"): (p.get("name") or "").strip()
                 for p in root.iter(f"{{{BPMN_NS}}}participant")}
        for process in root.iter(f"{{{BPMN_NS}}}process"):
            pid = process.get("id") or "?"
            label = names.get(pid) or (process.get("name") or "").strip()
            pools.append(f"{name}:{process.sourceline}: {'pool ' + repr(label) if label else 'process'} ({pid})")
    listing = "; ".join(pools) or "the files hold no process"
    return (f"no executable process found: {listing} — set isExecutable=\"true\" on the process to run "
            "(in the modeler: the pool's or process's 'Executable' checkbox)")


def add_deployed_decisions(parser: BpmnParser, sources: dict[str, SourceFile], trees: dict[str, Any],
                           deployed_dmn: dict[str, tuple[str, bytes]]) -> None:
    """Give the parser the deployed DMN file of each called decision the given files lack."""
    given = {d for name, s in sources.items() if s.kind == "dmn" for d in _decisions_in(trees[name])}
    wanted = {d for name, s in sources.items() if s.kind == "bpmn" for d in called_decisions(trees[name])}
    added: set[bytes] = set()
    for decision in sorted(wanted - given):
        if decision not in deployed_dmn:
            continue
        name, content = deployed_dmn[decision]
        if content in added:
            continue
        added.add(content)
        parser.add_dmn_xml(parse_bytes(content, name).getroot(), filename=name)


def _decisions_in(tree: Any) -> set[str]:
    return {el.get("id") for el in tree.getroot().iter()
            if isinstance(el.tag, str) and el.tag.endswith("}decision") and el.get("id")}


def message_start_names(spec: Any) -> list[str]:
    names = []
    for task_spec in spec.task_specs.values():
        if not isinstance(task_spec, StartEvent):
            continue
        definition = task_spec.event_definition  # a multiple start event starts on any of its messages
        for sub in getattr(definition, "event_definitions", None) or [definition]:
            if isinstance(sub, MessageEventDefinition):
                names.append(sub.name)
    return sorted(set(names))


def timer_start_events(spec: Any) -> list[tuple[str, str]]:
    """(element id, timer expression) of the process's own timer start events."""
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

    found = []
    for task_spec in spec.task_specs.values():
        definition = getattr(task_spec, "event_definition", None)
        if isinstance(task_spec, StartEvent) and isinstance(definition, TimerEventDefinition):
            found.append((task_spec.bpmn_id, definition.expression))
    return sorted(found)


def serialize_spec(spec: Any, subprocess_specs: dict[str, Any]) -> str:
    document = {
        "spec": REGISTRY.convert(spec),
        "subprocess_specs": {name: REGISTRY.convert(s) for name, s in sorted(subprocess_specs.items())},
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def deserialize_spec(spec_json: str) -> tuple[Any, dict[str, Any]]:
    document = json.loads(spec_json)
    spec = REGISTRY.restore(document["spec"])
    subprocess_specs = {name: REGISTRY.restore(s) for name, s in document["subprocess_specs"].items()}
    return spec, subprocess_specs


__all__ = [
    "DIAGRAM_SUFFIXES",
    "SERIALIZER_VERSION",
    "ParsedProcess",
    "deserialize_spec",
    "parse_diagrams",
    "serialize_spec",
]


def parse_tree(tree: ModelTree, paths: Iterable[Path]) -> list[Any]:
    """The ParsedProcess of every executable process under `paths` in a spiff-arena model tree
    (engine/model_tree.py), with every diagram of the tree they call."""
    chosen = tree.selected(paths)
    files = tree.with_dependencies(chosen)
    parser = BpmnParser(validator=VALIDATOR)
    sources: dict[str, SourceFile] = {}
    for path in files:
        xml, content = parse_file(path)
        name = tree.identifier(path)
        kind = diagram_kind(path) or "bpmn"
        sources[name] = SourceFile(name, kind, content)
        if kind == "bpmn":
            prepare_bpmn(xml, str(path))
        try:
            if kind == "dmn":
                parser.add_dmn_xml(xml.getroot(), filename=name)
            else:
                tree.rename_forms(xml, path)
                parser.add_bpmn_xml(xml, filename=name)
        except (ValidationException, SpiffWorkflowException) as err:
            raise DefinitionError(describe_validation_error(err, str(path))) from None
        except Exception as err:  # lxml schema errors and parser bugs on odd input
            raise DefinitionError(f"{path}: {type(err).__name__}: {err}") from None
    tree.check_primary_processes(chosen, parser)
    wanted = {tree.identifier(p) for p in chosen}
    processes = []
    for process_id in parser.get_process_ids():
        filename = parser.get_process_parser(process_id).filename
        if filename not in wanted:
            continue
        processes.append(_parsed_process(parser, process_id, sources[filename]))
    if not processes:
        raise DefinitionError("no executable process found (is isExecutable=\"true\" set on the process?)")
    return processes


def _parsed_process(parser: BpmnParser, process_id: str, source: Any) -> ParsedProcess:
    """One process's spec, serialized as definitions does for a plain folder."""
    process_parser = parser.get_process_parser(process_id)
    try:
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except (ValidationException, SpiffWorkflowException) as err:
        raise DefinitionError(describe_validation_error(err, process_parser.filename)) from None
    return ParsedProcess(
        process_id=process_id,
        name=process_parser.get_name(),
        source=source,
        spec_json=serialize_spec(spec, subprocess_specs),
        message_starts=message_start_names(spec),
        timer_starts=timer_start_events(spec),
    )
