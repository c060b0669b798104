"""Loading diagrams into executable specs, and the spec (de)serialization kept per version.

All `.bpmn` and `.dmn` files given to one deploy are parsed together, so call activities
and business-rule tasks resolve across files. Each executable process becomes a
`ParsedProcess` whose spec is serialized once; its content hash is the hash of that
serialization, so a new version appears exactly when what would run has changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SERIALIZER_VERSION
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from .element_rewrites import prepare_bpmn
from .errors import DefinitionError
from .model_tree import find_tree
from .xml import parse_file

REGISTRY = BpmnWorkflowSerializer.configure(SPIFF_CONFIG)
SERIALIZER = BpmnWorkflowSerializer(REGISTRY)
DIAGRAM_SUFFIXES = (".bpmn", ".dmn")


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


def find_diagram_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories into their diagram files; keep explicit files as given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in DIAGRAM_SUFFIXES))
        elif path.exists():
            if path.suffix not in DIAGRAM_SUFFIXES:
                raise DefinitionError(f"{path}: not a diagram (expected a .bpmn or .dmn file)")
            found.append(path)
        else:
            raise DefinitionError(f"{path}: no such file or directory")
    if not found:
        raise DefinitionError("no .bpmn or .dmn files found in " + ", ".join(str(p) for p in paths))
    return found


def describe_validation_error(err: Exception, fallback_file: str | None = None) -> str:
    """`file:line: message (element id)` for SpiffWorkflow's validation errors."""
    file_name = getattr(err, "file_name", None) or fallback_file or "?"
    line = getattr(err, "line_number", None) or getattr(err, "sourceline", None) or "?"
    element = getattr(err, "id", None) or getattr(err, "task_id", None)
    name = getattr(err, "name", None)
    message = str(getattr(err, "message", None) or err).strip().splitlines()[0] if str(err).strip() else repr(err)
    where = f" (element {element}{' ' + repr(name) if name else ''})" if element else ""
    return f"{file_name}:{line}: {message}{where}"


def parse_diagrams(paths: Iterable[Path]) -> list[ParsedProcess]:
    """Parse and validate diagram files; raise one `DefinitionError` naming file and element."""
    paths = list(paths)
    if (tree := find_tree(paths)) is not None:  # a spiff-arena process-model tree (issue 19)
        return tree.parse(paths)
    files = find_diagram_files(paths)
    parser = SpiffBpmnParser(validator=VALIDATOR)
    sources: dict[str, SourceFile] = {}
    for path in files:
        tree, content = parse_file(path)
        kind = "dmn" if path.suffix == ".dmn" else "bpmn"
        if path.name in sources:
            raise DefinitionError(f"{path}: a second diagram file named {path.name!r}; file names must be unique")
        sources[path.name] = SourceFile(path.name, kind, content)
        if kind == "bpmn":
            prepare_bpmn(tree, str(path))
        try:
            # The bare file name goes into the spec, so the same diagram deployed from
            # another folder or machine hashes the same.
            if kind == "dmn":
                parser.add_dmn_xml(tree.getroot(), filename=path.name)
            else:
                parser.add_bpmn_xml(tree, filename=path.name)
        except (ValidationException, SpiffWorkflowException) as err:
            raise DefinitionError(describe_validation_error(err, str(path))) from None
        except Exception as err:  # lxml schema errors and parser bugs on odd input
            raise DefinitionError(f"{path}: {type(err).__name__}: {err}") from None

    processes: list[ParsedProcess] = []
    for process_id in parser.get_process_ids():
        process_parser = parser.get_process_parser(process_id)
        filename = process_parser.filename
        try:
            spec = parser.get_spec(process_id)
            subprocess_specs = parser.get_subprocess_specs(process_id)
        except (ValidationException, SpiffWorkflowException) as err:
            raise DefinitionError(describe_validation_error(err, filename)) from None
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
    if not processes:
        raise DefinitionError("no executable process found (is isExecutable=\"true\" set on the process?)")
    return processes


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
    "SERIALIZER_VERSION",
    "ParsedProcess",
    "deserialize_spec",
    "parse_diagrams",
    "serialize_spec",
]
