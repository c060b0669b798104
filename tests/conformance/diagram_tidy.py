"""Give hand-written conformance diagrams what `crmflow validate` asks of every diagram.

Adds a name to every unnamed flow node and a simple left-to-right BPMNDI layout (sub-processes
expanded around their content, event sub-processes in a row below), so each diagram opens in
bpmn.io and deploys cleanly even where deploy runs validate's checks.
Usage: python tests/conformance/diagram_tidy.py tests/conformance/diagrams/*.bpmn
"""

from __future__ import annotations

import sys
from pathlib import Path

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DI = {"bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI", "dc": "http://www.omg.org/spec/DD/20100524/DC",
      "di": "http://www.omg.org/spec/DD/20100524/DI"}
NOT_NODES = {"sequenceFlow", "extensionElements", "incoming", "outgoing", "laneSet", "documentation",
             "boundaryEvent", "ioSpecification", "property", "dataObject", "dataObjectReference"}
SMALL = {"startEvent": (36, 36), "endEvent": (36, 36), "intermediateCatchEvent": (36, 36),
         "intermediateThrowEvent": (36, 36), "boundaryEvent": (36, 36)}
GATEWAY = (50, 50)
PAD, GAP = 30, 50


def local(el: etree._Element) -> str:
    return etree.QName(el).localname


def nodes_of(scope: etree._Element) -> list[etree._Element]:
    return [c for c in scope if isinstance(c.tag, str) and etree.QName(c).namespace == BPMN
            and local(c) not in NOT_NODES]


def size(el: etree._Element, bounds: dict[str, tuple[int, int, int, int]]) -> tuple[int, int]:
    kind = local(el)
    if kind in SMALL:
        return SMALL[kind]
    if kind.endswith("Gateway"):
        return GATEWAY
    if kind in ("subProcess", "transaction", "adHocSubProcess"):
        return layout(el, 0, 0, bounds, dry=True)
    return (100, 80)


def layout(scope: etree._Element, x0: int, y0: int, bounds: dict, dry: bool = False) -> tuple[int, int]:
    """Place the scope's nodes from (x0, y0); return the size the scope needs."""
    main = [n for n in nodes_of(scope) if n.get("triggeredByEvent") != "true"]
    events = [n for n in nodes_of(scope) if n.get("triggeredByEvent") == "true"]
    x, row_h = x0 + PAD, 0
    sizes = {n.get("id"): size(n, {}) for n in main + events}
    row_h = max([sizes[n.get("id")][1] for n in main] or [80])
    for n in main:
        w, h = sizes[n.get("id")]
        if not dry:
            place(n, x, y0 + PAD + (row_h - h) // 2, w, h, bounds)
        x += w + GAP
    width, y = x - x0, y0 + PAD + row_h + GAP + 36  # room for boundary events
    for n in events:
        w, h = sizes[n.get("id")]
        if not dry:
            place(n, x0 + PAD, y, w, h, bounds)
        width = max(width, w + 2 * PAD)
        y += h + GAP
    return width, y - y0


def place(el: etree._Element, x: int, y: int, w: int, h: int, bounds: dict) -> None:
    bounds[el.get("id")] = (x, y, w, h)
    if local(el) in ("subProcess", "transaction", "adHocSubProcess"):
        layout(el, x, y, bounds)


def tidy(path: Path) -> None:
    tree = etree.parse(str(path))
    root = tree.getroot()
    for old in root.findall("bpmndi:BPMNDiagram", DI):
        root.remove(old)
    for el in root.iter(f"{{{BPMN}}}*"):
        kind = local(el)
        if (kind not in NOT_NODES or kind == "boundaryEvent") and el.getparent() is not None and local(
            el.getparent()
        ) in ("process", "subProcess", "transaction", "adHocSubProcess") and not el.get("name"):
            el.set("name", el.get("id").replace("_", " "))
    bounds: dict[str, tuple[int, int, int, int]] = {}
    for process in root.findall(f"{{{BPMN}}}process"):
        layout(process, 100, 60, bounds)
        for boundary in process.iter(f"{{{BPMN}}}boundaryEvent"):
            hx, hy, hw, hh = bounds[boundary.get("attachedToRef")]
            bounds[boundary.get("id")] = (hx + hw - 50, hy + hh - 18, 36, 36)
    diagram = etree.SubElement(root, f"{{{DI['bpmndi']}}}BPMNDiagram", id=f"dia_{root.get('id')}", nsmap=DI)
    first = root.find(f"{{{BPMN}}}process")
    plane = etree.SubElement(diagram, f"{{{DI['bpmndi']}}}BPMNPlane", id=f"plane_{root.get('id')}",
                             bpmnElement=first.get("id"))
    for element_id, (x, y, w, h) in bounds.items():
        shape = etree.SubElement(plane, f"{{{DI['bpmndi']}}}BPMNShape", id=f"{element_id}_di",
                                 bpmnElement=element_id)
        el = root.find(f".//*[@id='{element_id}']")
        if local(el) in ("subProcess", "transaction", "adHocSubProcess"):
            shape.set("isExpanded", "true")
        etree.SubElement(shape, f"{{{DI['dc']}}}Bounds", x=str(x), y=str(y), width=str(w), height=str(h))
    for flow in root.iter(f"{{{BPMN}}}sequenceFlow"):
        sx, sy, sw, sh = bounds[flow.get("sourceRef")]
        tx, ty, tw, th = bounds[flow.get("targetRef")]
        edge = etree.SubElement(plane, f"{{{DI['bpmndi']}}}BPMNEdge", id=f"{flow.get('id')}_di",
                                bpmnElement=flow.get("id"))
        etree.SubElement(edge, f"{{{DI['di']}}}waypoint", x=str(sx + sw), y=str(sy + sh // 2))
        etree.SubElement(edge, f"{{{DI['di']}}}waypoint", x=str(tx), y=str(ty + th // 2))
    etree.cleanup_namespaces(root, top_nsmap=DI)
    tree.write(str(path), xml_declaration=True, encoding="UTF-8", pretty_print=True)


if __name__ == "__main__":
    for name in sys.argv[1:]:
        tidy(Path(name))
