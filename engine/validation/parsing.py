"""Loading diagram files for the validator, and a small read-only model over the XML.

Files are parsed by the engine's hardened loader (`engine.xml`), so a hostile file is refused
here exactly as deploy would refuse it, and nothing it references is ever read. The model is
deliberately thin: rules work on lxml elements (which keep their `sourceline`) through the
helpers below, so any vendor's extra elements and attributes simply pass through.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from engine import camunda
from engine.errors import DefinitionError
from engine.xml import DIAGRAM_SUFFIXES, XmlRefused, is_diagram, parse_file  # noqa: F401 (re-exported)

from .diagnostics import ERROR, Diagnostic

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI_NS = "http://www.omg.org/spec/BPMN/20100524/DI"
DC_NS = "http://www.omg.org/spec/DD/20100524/DC"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
ZEEBE_NS = "http://camunda.org/schema/zeebe/1.0"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
DMN_NAMESPACES = frozenset({
    "http://www.omg.org/spec/DMN/20151101/dmn.xsd",
    "http://www.omg.org/spec/DMN/20180521/MODEL/",
    "https://www.omg.org/spec/DMN/20191111/MODEL/",
    "https://www.omg.org/spec/DMN/20230324/MODEL/",
})
SKIPPED_DIRS = frozenset({"node_modules", "__pycache__"})

START_EVENTS = frozenset({"startEvent"})
EVENTS = frozenset({
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "implicitThrowEvent",
})
CATCH_EVENTS = frozenset({"startEvent", "intermediateCatchEvent", "boundaryEvent"})
THROW_EVENTS = frozenset({"endEvent", "intermediateThrowEvent", "implicitThrowEvent"})
TASKS = frozenset({
    "task", "userTask", "manualTask", "serviceTask", "scriptTask", "businessRuleTask", "sendTask", "receiveTask",
})
SUBPROCESSES = frozenset({"subProcess", "transaction", "adHocSubProcess"})
ACTIVITIES = TASKS | SUBPROCESSES | {"callActivity"}
GATEWAYS = frozenset({"exclusiveGateway", "parallelGateway", "inclusiveGateway", "eventBasedGateway", "complexGateway"})
FLOW_NODES = EVENTS | ACTIVITIES | GATEWAYS
CONTAINERS = frozenset({"process"}) | SUBPROCESSES
GLOBAL_KINDS = {"message": "messageRef", "error": "errorRef", "signal": "signalRef", "escalation": "escalationRef"}


def bpmn(tag: str) -> str:
    return f"{{{BPMN_NS}}}{tag}"


def spiff(tag: str) -> str:
    return f"{{{SPIFF_NS}}}{tag}"


def local(el: etree._Element) -> str | None:
    """The local name of a BPMN-namespace element, else None (vendor extensions, comments)."""
    tag = el.tag
    if isinstance(tag, str) and tag.startswith(f"{{{BPMN_NS}}}"):
        return tag[len(BPMN_NS) + 2:]
    return None


def bpmn_children(el: etree._Element, *names: str) -> list[etree._Element]:
    wanted = set(names)
    return [c for c in el if (n := local(c)) is not None and (not wanted or n in wanted)]


def text_of(el: etree._Element | None) -> str:
    """All text inside an element (CDATA included), stripped; '' for None."""
    if el is None:
        return ""
    return "".join(el.itertext()).strip()


def event_definitions(el: etree._Element) -> list[etree._Element]:
    return [c for c in el if (n := local(c)) is not None and n.endswith("EventDefinition")]


def definition_kinds(el: etree._Element) -> list[str]:
    """['message', 'timer', ...] for an event's definitions (eventDefinitionRef counted as 'ref')."""
    kinds = [str(local(d))[: -len("EventDefinition")] for d in event_definitions(el)]
    kinds += ["ref"] * len(bpmn_children(el, "eventDefinitionRef"))
    return kinds


def is_true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


@dataclass
class Container:
    """A process or sub-process: its direct flow nodes and sequence flows, wired by sourceRef/targetRef."""

    el: etree._Element
    process: etree._Element
    nodes: list[etree._Element] = field(default_factory=list)
    flows: list[etree._Element] = field(default_factory=list)
    incoming: dict[str, list[etree._Element]] = field(default_factory=dict)
    outgoing: dict[str, list[etree._Element]] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(local(self.el))

    @property
    def executable(self) -> bool:
        return is_true(self.process.get("isExecutable"))

    def ins(self, node: etree._Element) -> list[etree._Element]:
        return self.incoming.get(node.get("id") or "", [])

    def outs(self, node: etree._Element) -> list[etree._Element]:
        return self.outgoing.get(node.get("id") or "", [])


@dataclass
class Bounds:
    x: float
    y: float
    width: float
    height: float
    expanded: bool = False

    def collides(self, other: Bounds) -> bool:
        return (self.x + self.width >= other.x and other.x + other.width >= self.x
                and self.y + self.height >= other.y and other.y + other.height >= self.y)

    def contains(self, other: Bounds) -> bool:
        return (other.x >= self.x and other.y >= self.y and other.x + other.width <= self.x + self.width
                and other.y + other.height <= self.y + self.height)


@dataclass
class Document:
    """One parsed diagram file."""

    path: Path
    file: str
    kind: str  # "bpmn" | "dmn"
    root: etree._Element
    by_id: dict[str, etree._Element] = field(default_factory=dict)
    _containers: list[Container] | None = None
    _bounds: dict[str, Bounds] | None = None
    _di_refs: set[str] | None = None

    def __post_init__(self) -> None:
        for el in self.root.iter():
            if isinstance(el.tag, str) and (ident := el.get("id")) and ident not in self.by_id:
                self.by_id[ident] = el

    @property
    def folder(self) -> Path:
        return self.path.parent

    def diag(self, rule: str, message: str, el: etree._Element | None = None, *, severity: str = ERROR,
             hint: str | None = None, element_id: str | None = None,
             at: etree._Element | None = None) -> Diagnostic:
        """A diagnostic on `el` (its line, id and name), or on the file when `el` is None;
        `at` points the line at a part of the element (its script, say)."""
        spot = at if at is not None else el
        line = (spot.sourceline or 0) if spot is not None else 1
        ident = element_id if element_id is not None else (el.get("id") if el is not None else None)
        name = el.get("name") if el is not None else None
        return Diagnostic(self.file, line, 0, severity, rule, message, ident, (name or "").strip() or None, hint)

    # -- model ---------------------------------------------------------------------------
    def processes(self) -> list[etree._Element]:
        return bpmn_children(self.root, "process")

    def containers(self) -> list[Container]:
        if self._containers is None:
            self._containers = []
            for process in self.processes():
                self._collect(process, process)
        return self._containers

    def _collect(self, el: etree._Element, process: etree._Element) -> None:
        container = Container(el, process)
        for child in el:
            name = local(child)
            if name in FLOW_NODES:
                container.nodes.append(child)
            elif name == "sequenceFlow":
                container.flows.append(child)
        for flow in container.flows:
            container.outgoing.setdefault(flow.get("sourceRef") or "", []).append(flow)
            container.incoming.setdefault(flow.get("targetRef") or "", []).append(flow)
        self._containers.append(container)  # type: ignore[union-attr]
        for node in container.nodes:
            if local(node) in SUBPROCESSES:
                self._collect(node, process)

    def flow_nodes(self, executable_only: bool = False) -> Iterator[tuple[Container, etree._Element]]:
        for container in self.containers():
            if executable_only and not container.executable:
                continue
            for node in container.nodes:
                yield container, node

    def globals(self, kind: str) -> list[etree._Element]:
        return bpmn_children(self.root, kind)

    def message_name(self, ref: str | None) -> str | None:
        """A message's name from its id (the id itself when the message has no name)."""
        if not ref:
            return None
        el = self.by_id.get(ref)
        if el is None or local(el) != "message":
            return None
        return (el.get("name") or "").strip() or ref

    # -- diagram interchange -------------------------------------------------------------------
    def has_di(self) -> bool:
        return any(True for _ in self.root.iter(f"{{{BPMNDI_NS}}}BPMNDiagram"))

    def di_refs(self) -> set[str]:
        if self._di_refs is None:
            self._di_refs = {
                ref for el in self.root.iter(f"{{{BPMNDI_NS}}}BPMNShape", f"{{{BPMNDI_NS}}}BPMNEdge")
                if (ref := el.get("bpmnElement"))
            }
        return self._di_refs

    def bounds(self) -> dict[str, Bounds]:
        if self._bounds is None:
            self._bounds = {}
            for shape in self.root.iter(f"{{{BPMNDI_NS}}}BPMNShape"):
                ref = shape.get("bpmnElement")
                box = shape.find(f"{{{DC_NS}}}Bounds")
                if not ref or box is None or ref in self._bounds:
                    continue
                try:
                    values = [float(box.get(k, "")) for k in ("x", "y", "width", "height")]
                except ValueError:
                    continue
                self._bounds[ref] = Bounds(*values, expanded=is_true(shape.get("isExpanded")))
        return self._bounds


# -- loading ---------------------------------------------------------------------------------


def collect_files(paths: Iterable[Path]) -> tuple[list[Path], list[Diagnostic]]:
    """Diagram files under the given paths (directories searched for .bpmn/.dmn), and path problems."""
    found: list[Path] = []
    problems: list[Diagnostic] = []
    for path in paths:
        if path.is_dir():
            files = sorted(
                p for p in path.rglob("*")
                if is_diagram(p) and p.is_file()
                and not any(part.startswith(".") or part in SKIPPED_DIRS for part in p.relative_to(path).parts[:-1])
            )
            if not files:
                problems.append(Diagnostic(str(path), 0, 0, ERROR, "crmflow/not-bpmn",
                                           "no .bpmn, .bpmn20.xml or .dmn files in this directory"))
            found.extend(files)
        elif path.is_file():
            found.append(path)
        else:
            problems.append(Diagnostic(str(path), 0, 0, ERROR, "crmflow/not-bpmn", "no such file or directory"))
    unique: list[Path] = []
    seen: set[Path] = set()
    for path in found:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(path)
    return unique, problems


def load(path: Path) -> Document | Diagnostic:
    """Parse one file with the hardened loader; a refusal becomes one diagnostic."""
    file = str(path)
    try:
        tree, _ = parse_file(path)
    except XmlRefused as err:
        return Diagnostic(file, err.line or 0, err.column or 0, ERROR, "crmflow/xml", err.reason, hint=err.hint)
    except DefinitionError as err:
        return Diagnostic(file, 0, 0, ERROR, "crmflow/xml", str(err))
    root = tree.getroot()
    tag = root.tag if isinstance(root.tag, str) else ""
    namespace, _, name = tag[1:].partition("}") if tag.startswith("{") else ("", "", tag)
    if name == "definitions" and namespace == BPMN_NS:
        camunda.adopt(tree)  # Camunda user-task attributes are checked as the properties they become
        return Document(path, file, "bpmn", root)
    if name == "definitions" and namespace in DMN_NAMESPACES:
        return Document(path, file, "dmn", root)
    return Diagnostic(
        file, root.sourceline or 1, 0, ERROR, "crmflow/not-bpmn",
        f"root element is <{name}> in namespace {namespace or '(none)'!r}, not a BPMN 2.0 or DMN <definitions>",
        hint=f"BPMN 2.0 diagrams use namespace {BPMN_NS}; export the model as BPMN 2.0 XML",
    )
