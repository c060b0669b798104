"""Build small BPMN test diagrams (with BPMNDI) from a compact description.

Tests describe a process as nodes and flows; the builder lays the nodes out left to right
so every generated file also opens in a modeler.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

NS = (
    'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
    'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
    'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"'
)
SIZES = {"startEvent": (36, 36), "endEvent": (36, 36), "exclusiveGateway": (50, 50), "parallelGateway": (50, 50),
         "intermediateCatchEvent": (36, 36), "intermediateThrowEvent": (36, 36)}


@dataclass
class Node:
    id: str
    kind: str
    name: str = ""
    body: str = ""
    row: int = 0
    attrs: str = ""


@dataclass
class Flow:
    id: str
    source: str
    target: str
    condition: str | None = None


@dataclass
class Process:
    id: str
    name: str = ""
    nodes: list[Node] = field(default_factory=list)
    flows: list[Flow] = field(default_factory=list)
    defaults: dict[str, str] = field(default_factory=dict)
    root_elements: str = ""

    def node(self, id: str, kind: str, name: str = "", body: str = "", row: int = 0, attrs: str = "") -> Process:
        self.nodes.append(Node(id, kind, name or id, body, row, attrs))
        return self

    def flow(self, source: str, target: str, condition: str | None = None, default: bool = False) -> Process:
        fid = f"f_{source}_{target}"
        self.flows.append(Flow(fid, source, target, condition))
        if default:
            self.defaults[source] = fid
        return self

    def chain(self, *ids: str) -> Process:
        for a, b in zip(ids, ids[1:], strict=False):
            self.flow(a, b)
        return self

    def xml(self) -> str:
        out = [f'<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions {NS} id="defs_{self.id}" '
               'targetNamespace="http://crmflow.test">']
        out.append(self.root_elements)
        out.append(f'<bpmn:process id="{self.id}" name={quoteattr(self.name or self.id)} isExecutable="true">')
        for n in self.nodes:
            incoming = "".join(f"<bpmn:incoming>{f.id}</bpmn:incoming>" for f in self.flows if f.target == n.id)
            outgoing = "".join(f"<bpmn:outgoing>{f.id}</bpmn:outgoing>" for f in self.flows if f.source == n.id)
            default = f' default="{self.defaults[n.id]}"' if n.id in self.defaults else ""
            # XSD order: extensionElements, incoming, outgoing, then the element's own parts.
            ext, rest = "", n.body
            if rest.startswith("<bpmn:extensionElements>"):
                cut = rest.index("</bpmn:extensionElements>") + len("</bpmn:extensionElements>")
                ext, rest = rest[:cut], rest[cut:]
            out.append(f'<bpmn:{n.kind} id="{n.id}" name={quoteattr(n.name)}{default}{n.attrs}>{ext}{incoming}'
                       f"{outgoing}{rest}</bpmn:{n.kind}>")
        for f in self.flows:
            cond = (f'<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">{escape(f.condition)}'
                    "</bpmn:conditionExpression>") if f.condition else ""
            label = f" name={quoteattr(f.condition)}" if f.condition else ""  # a condition is labelled (validate)
            out.append(f'<bpmn:sequenceFlow id="{f.id}"{label} sourceRef="{f.source}" targetRef="{f.target}">{cond}'
                       "</bpmn:sequenceFlow>")
        out.append("</bpmn:process>")
        out.append(self._di())
        out.append("</bpmn:definitions>")
        return "\n".join(out)

    def _di(self) -> str:
        pos: dict[str, tuple[int, int, int, int]] = {}
        for i, n in enumerate(self.nodes):
            w, h = SIZES.get(n.kind, (100, 80))
            x, y = 100 + i * 150, 100 + n.row * 140 + (80 - h) // 2
            pos[n.id] = (x, y, w, h)
        out = [
            f'<bpmndi:BPMNDiagram id="dia_{self.id}">'
            f'<bpmndi:BPMNPlane id="plane_{self.id}" bpmnElement="{self.id}">'
        ]
        for n in self.nodes:
            x, y, w, h = pos[n.id]
            out.append(f'<bpmndi:BPMNShape id="{n.id}_di" bpmnElement="{n.id}"><dc:Bounds x="{x}" y="{y}" '
                       f'width="{w}" height="{h}"/></bpmndi:BPMNShape>')
        for f in self.flows:
            sx, sy, sw, sh = pos[f.source]
            tx, ty, tw, th = pos[f.target]
            out.append(f'<bpmndi:BPMNEdge id="{f.id}_di" bpmnElement="{f.id}"><di:waypoint x="{sx + sw}" '
                       f'y="{sy + sh // 2}"/><di:waypoint x="{tx}" y="{ty + th // 2}"/></bpmndi:BPMNEdge>')
        out.append("</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>")
        return "".join(out)

    def write(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.id}.bpmn"
        path.write_text(self.xml())
        return path


def script(text: str) -> str:
    return f"<bpmn:script>{escape(text)}</bpmn:script>"


def service(operation: str, result: str = "", **params: str) -> str:
    ps = "".join(
        f'<spiffworkflow:parameter id="{k}" type="any" value={quoteattr(v)}/>' for k, v in params.items()
    )
    return (f'<bpmn:extensionElements><spiffworkflow:serviceTaskOperator id="{operation}" '
            f'resultVariable="{result}"><spiffworkflow:parameters>{ps}</spiffworkflow:parameters>'
            "</spiffworkflow:serviceTaskOperator></bpmn:extensionElements>")


def props(**values: str) -> str:
    """spiffworkflow:property extension elements (values are expressions, e.g. '"PT4H"')."""
    inner = "".join(f"<spiffworkflow:property name={quoteattr(k)} value={quoteattr(v)}/>" for k, v in values.items())
    return ("<bpmn:extensionElements><spiffworkflow:properties>"
            f"{inner}</spiffworkflow:properties></bpmn:extensionElements>")


def timer_duration(expr: str) -> str:
    return (f'<bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">{escape(expr)}'
            "</bpmn:timeDuration></bpmn:timerEventDefinition>")


def timer_cycle(expr: str) -> str:
    return (f'<bpmn:timerEventDefinition><bpmn:timeCycle xsi:type="bpmn:tFormalExpression">{escape(expr)}'
            "</bpmn:timeCycle></bpmn:timerEventDefinition>")


def linear_service_process(pid: str = "linear") -> Process:
    """start → script → service → script → end: the throughput benchmark's shape."""
    p = Process(pid, "Linear")
    p.node("start", "startEvent")
    p.node("prepare", "scriptTask", "Prepare", script("amount = 100\nrate = 0.2"))
    p.node("call", "serviceTask", "Call service", service("bench/echo", "echo", value="amount"))
    p.node("finish", "scriptTask", "Finish", script("total = amount * (1 + rate)"))
    p.node("end", "endEvent")
    return p.chain("start", "prepare", "call", "finish", "end")


def loop_process(pid: str = "loop", target: str = "target", with_user_task: bool = False) -> Process:
    """A follow-up loop: count rounds until `round >= target` (optionally a user task per round)."""
    p = Process(pid, "Loop")
    p.node("start", "startEvent")
    p.node("init", "scriptTask", "Init", script("round = 0"))
    p.node("step", "scriptTask", "Count", script("round += 1"))
    if with_user_task:
        p.node("follow_up", "userTask", "Follow up")
    p.node("more", "exclusiveGateway", "More?")
    p.node("end", "endEvent")
    p.chain("start", "init", "step")
    if with_user_task:
        p.chain("step", "follow_up", "more")
    else:
        p.flow("step", "more")
    p.flow("more", "step", condition=f"round < {target}")
    p.flow("more", "end", default=True)
    return p
