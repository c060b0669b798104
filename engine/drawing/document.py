"""Which plane of a file to draw, and the SVG for a diagram with no layout."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree

from ..errors import DefinitionError
from ..xml import parse_bytes
from .glyphs import _sub
from .layout import _children, _clean, _descendants, _local, _semantic_index
from .marks import _check_marks
from .renderer import Renderer
from .style import CSS, NO_LAYOUT_MESSAGE, SVG_NS


# -- public API ---------------------------------------------------------------------------------
def render_svg(
    xml: bytes,
    marks: Mapping[str, str] | None = None,
    *,
    process_id: str | None = None,
    title: str | None = None,
    filename: str = "diagram.bpmn",
    trace_flows: bool = True,
    diagram_id: str | None = None,
) -> str:
    """SVG of the diagram's layout, with `marks` (element id -> state) styled.

    Draws the BPMNDiagram `diagram_id`, else the plane for `process_id` (or its collaboration),
    else the main plane (the collaboration's or a process's, not a sub-process drill-down). A file
    with no layout gives a small SVG that says so. Hostile or broken XML raises `DefinitionError`;
    an unknown `process_id` too. With marks, sequence flows from a done element into a marked
    one are drawn as taken unless `trace_flows` is False.
    """
    checked = _check_marks(marks)
    content = xml.encode("utf-8") if isinstance(xml, str) else xml
    root = parse_bytes(content, filename).getroot()
    if _local(root) != "definitions":
        raise DefinitionError(f"{filename}: not a BPMN file (the root element is <{_local(root) or '?'}>)")
    plane = _pick_plane(root, process_id, filename, diagram_id)
    shown_title = _clean(title) if title else _default_title(root, plane, process_id)
    if plane is None or not any(_local(el) in ("BPMNShape", "BPMNEdge") for el in plane.iter()):
        return no_layout_svg(shown_title)
    return Renderer(root, plane, checked, shown_title, trace_flows).render()


def no_layout_svg(title: str = "BPMN diagram") -> str:
    """The picture of a diagram that carries no BPMNDI: a short, clear sentence."""
    svg = etree.Element(f"{{{SVG_NS}}}svg", nsmap={None: SVG_NS})
    for key, value in {"version": "1.1", "class": "bpmn-diagram bpmn-no-layout", "role": "img",
                       "aria-label": f"{_clean(title)}: {NO_LAYOUT_MESSAGE}", "viewBox": "0 0 420 60",
                       "width": "420", "height": "60"}.items():  # fmt: skip
        svg.set(key, value)
    _sub(svg, "title", text=title)
    _sub(svg, "style", text=CSS)
    _sub(svg, "rect", {"x": "0.5", "y": "0.5", "width": "419", "height": "59", "fill": "#fafafa", "stroke": "#cccccc"})
    _sub(svg, "text", {"x": "210", "y": "35", "text-anchor": "middle", "class": "nolayout"}, text=NO_LAYOUT_MESSAGE)
    return etree.tostring(svg, encoding="unicode")


def _planes(root: Any) -> list[Any]:
    return [plane for diagram in _descendants(root, "BPMNDiagram") for plane in _children(diagram, "BPMNPlane")]


def _main_plane(root: Any, planes: list[Any]) -> Any:
    """The plane of the whole model: a collaboration's, else a top-level (executable first) process's.

    Modelers put one diagram per drilled-down sub-process in the file too, and not always last;
    the first plane is often such a small sub-diagram (issue 22)."""
    tops: dict[str, list[Any]] = {"collaboration": [], "process": []}
    kinds = {el.get("id"): _local(el) for el in root if isinstance(el.tag, str) and el.get("id")}
    executable = {el.get("id") for el in root if _local(el) == "process" and el.get("isExecutable") == "true"}
    for plane in planes:
        kind = kinds.get(plane.get("bpmnElement"))
        if kind in tops:
            tops[kind].append(plane)
    processes = sorted(tops["process"], key=lambda pl: pl.get("bpmnElement") not in executable)
    candidates = tops["collaboration"] + processes
    return candidates[0] if candidates else (planes[0] if planes else None)


def _diagram_plane(root: Any, diagram_id: str, filename: str) -> Any:
    """The plane of the BPMNDiagram (or BPMNPlane) with id `diagram_id`."""
    for diagram in _descendants(root, "BPMNDiagram"):
        for plane in _children(diagram, "BPMNPlane"):
            if diagram_id in (diagram.get("id"), plane.get("id")):
                return plane
    known = [d.get("id") for d in _descendants(root, "BPMNDiagram") if d.get("id")]
    raise DefinitionError(f"{filename}: there is no diagram {diagram_id!r} in this file "
                          f"(diagrams: {', '.join(known) or 'none'})")


def _pick_plane(root: Any, process_id: str | None, filename: str, diagram_id: str | None = None) -> Any:
    """The plane of `diagram_id`, else the one showing `process_id` (directly or as a pool), else the
    main plane (collaboration or process, not a sub-process drill-down)."""
    if diagram_id:
        return _diagram_plane(root, diagram_id, filename)
    planes = _planes(root)
    if process_id is None:
        return _main_plane(root, planes)
    index = _semantic_index(root)
    if process_id not in index:
        known = sorted(el.get("id") for el in _descendants(root, "process") if el.get("id"))
        raise DefinitionError(
            f"{filename}: there is no process {process_id!r} in this file (processes: {', '.join(known) or 'none'})"
        )
    for plane in planes:
        if plane.get("bpmnElement") == process_id:
            return plane
    collaborations = {
        p.getparent().get("id") for p in _descendants(root, "participant") if p.get("processRef") == process_id
    }
    for plane in planes:
        if plane.get("bpmnElement") in collaborations:
            return plane
    members = {el.get("id") for el in index[process_id].iter() if el.get("id")}
    for plane in planes:
        if any(el.get("bpmnElement") in members for el in plane.iter() if _local(el) == "BPMNShape"):
            return plane
    return planes[0] if planes else None


def _default_title(root: Any, plane: Any, process_id: str | None) -> str:
    index = _semantic_index(root)
    target = index.get(process_id or "") if process_id else None
    if target is None and plane is not None:
        target = index.get(plane.get("bpmnElement") or "")
    if target is None:
        target = next(_descendants(root, "process"), None)
    if target is None:
        return "BPMN diagram"
    return _clean(target.get("name") or target.get("id") or "BPMN diagram")
