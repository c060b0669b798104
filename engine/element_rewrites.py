"""What the diagram says that SpiffWorkflow 3.2's parser drops, carried into the spec.

Each `.bpmn` tree is adjusted here, just before parsing, so both deploy paths (plain files
and process-model trees) run the same elements:

- link throw/catch pairs become the sequence flow they stand for (`links`);
- a start event inside an event sub-process keeps its `isInterrupting` (the parser
  ignores it) as the `spiffworkflow:interrupting` extension, read by `event_subprocesses`.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from .errors import DefinitionError
from .links import BPMN_NS, NS, join_link_pairs

SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"


def mark_event_subprocess_starts(tree: Any) -> None:
    """Store each event sub-process start event's `isInterrupting` (default true) as an extension."""
    for esp in tree.getroot().xpath("//bpmn:subProcess[@triggeredByEvent='true']", namespaces=NS):
        _extension(esp, "eventSubprocess", "true")  # the serializer restores it as a plain sub-process
    for start in tree.getroot().xpath("//bpmn:subProcess[@triggeredByEvent='true']/bpmn:startEvent", namespaces=NS):
        interrupting = (start.get("isInterrupting") or "true").strip().lower() != "false"
        _extension(start, "interrupting", "true" if interrupting else "false")


def _extension(node: Any, name: str, value: str) -> None:
    """Add `<spiffworkflow:name>value</...>`, which the parser keeps in the spec's `extensions`."""
    ext = node.find(f"{{{BPMN_NS}}}extensionElements")
    if ext is None:
        ext = etree.Element(f"{{{BPMN_NS}}}extensionElements")
        node.insert(0, ext)  # extensionElements comes first in every flow node
    mark = etree.SubElement(ext, f"{{{SPIFF_NS}}}{name}")
    mark.text = value


REFUSED = {
    "complexGateway": ("the engine cannot execute a complex gateway",
                       "use an inclusive gateway (conditions on the flows) or an exclusive one"),
    "compensateEventDefinition": ("the engine does not execute compensation",
                                  "model the undo step explicitly, e.g. after an error boundary event"),
}


def refuse_unsupported(tree: Any, filename: str) -> None:
    """Refuse, with file, line and element, what the engine would skip or mis-run
    (the same elements and words as validate's crmflow/unsupported-element rule)."""
    problems = []
    for el in tree.getroot().iter(f"{{{BPMN_NS}}}*"):
        kind = etree.QName(el).localname
        if kind in REFUSED or (kind != "association" and el.get("isForCompensation") == "true"):
            node = el.getparent() if kind == "compensateEventDefinition" else el
            message, hint = REFUSED.get(kind, REFUSED["compensateEventDefinition"])
            problems.append(f"{filename}:{node.sourceline}: {message} (element {node.get('id')}); {hint}")
    if problems:
        raise DefinitionError("\n".join(problems))


def prepare_bpmn(tree: Any, filename: str) -> None:
    """Adjust a parsed `.bpmn` tree in place before SpiffWorkflow parses it."""
    refuse_unsupported(tree, filename)
    join_link_pairs(tree, filename)
    mark_event_subprocess_starts(tree)
