"""Draw a BPMN diagram's layout (BPMNDI) as a standalone SVG, optionally with run states marked.

Analysts look at the picture in the CLI and agents on web pages, so the renderer must take any
modeler's export (bpmn.io/Camunda, Signavio, spiff-arena, ...) without a traceback: unknown
elements become a labelled placeholder, a file without BPMNDI becomes a small SVG that says so.
The SVG is built as an lxml tree, which escapes every name and keeps the output well-formed.
Every drawn element is a `<g data-element-id="..." class="bpmn-element bpmn-<type>">` so tests
and pages can find it; `marks` add a `state-<state>` class. Knows BPMN only, nothing of CRM.

The rooms: `style` (kinds, names, stylesheet), `layout` (reading BPMNDI), `glyphs` (SVG
primitives, event glyphs, icons, markers), `shapes` and `renderer` (one rendering), `document`
(which plane to draw; `render_svg`), `marks` (run states from an instance's history).
"""

from .document import no_layout_svg, render_svg
from .layout import wrap_text
from .marks import instance_marks, marks_from_history
from .style import NO_LAYOUT_MESSAGE, STATES

__all__ = [
    "NO_LAYOUT_MESSAGE",
    "STATES",
    "instance_marks",
    "marks_from_history",
    "no_layout_svg",
    "render_svg",
    "wrap_text",
]
