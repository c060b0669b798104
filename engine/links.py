"""Link events, executed as the sequence flow they stand for.

SpiffWorkflow 3.2 reads a link throw/catch pair as two plain events: the throw ends its
path and the catch, having no incoming flow, is never reached. A link pair is only a
drawing convenience (an "off-page connector"), so before parsing each throw event is
joined to its catch event by a generated sequence flow in the same process or
sub-process; both events then run (and show in the history) like none events.
A throw whose catch cannot be found is refused, naming its line.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

from .errors import DefinitionError

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
NS = {"bpmn": BPMN_NS}
FLOW_PREFIX = "crmflow_link_"


def _link(event: Any) -> Any | None:
    found = event.find(f"{{{BPMN_NS}}}linkEventDefinition")
    return found


def _link_name(event: Any, definition: Any) -> str:
    return (definition.get("name") or event.get("name") or "").strip()


def _scopes(root: Any) -> list[Any]:
    return root.xpath("//bpmn:process | //bpmn:subProcess | //bpmn:transaction", namespaces=NS)


def join_link_pairs(tree: Any, filename: str) -> int:
    """Add a sequence flow from every link throw event to its catch event; return how many.

    The catch is the link catch event of the same scope with the same link name (or the
    one a `target` reference names)."""
    joined = 0
    for scope in _scopes(tree.getroot()):
        throws, catches, by_definition_id = [], {}, {}
        for child in scope:
            if not isinstance(child.tag, str):
                continue
            definition = _link(child)
            if definition is None:
                continue
            local = etree.QName(child).localname
            if local == "intermediateThrowEvent":
                throws.append((child, definition))
            elif local == "intermediateCatchEvent":
                catches.setdefault(_link_name(child, definition), child)
                if definition.get("id"):
                    by_definition_id[definition.get("id")] = child
        for throw, definition in throws:
            target = None
            target_ref = definition.findtext(f"{{{BPMN_NS}}}target")
            if target_ref:
                target = by_definition_id.get(target_ref.strip())
            name = _link_name(throw, definition)
            target = target if target is not None else catches.get(name)
            if target is None:
                raise DefinitionError(
                    f"{filename}:{throw.sourceline}: link throw event {throw.get('id')!r} links to "
                    f"{name!r}, but no link catch event of that name is in the same "
                    f"{etree.QName(scope).localname} (element {throw.get('id')}); name the catch event's "
                    "link the same, or draw a sequence flow"
                )
            flow_id = f"{FLOW_PREFIX}{throw.get('id')}_{target.get('id')}"
            flow = etree.Element(f"{{{BPMN_NS}}}sequenceFlow")
            throw.addnext(flow)  # among the flow elements, where the schema wants it
            flow.set("id", flow_id)
            flow.set("sourceRef", throw.get("id"))
            flow.set("targetRef", target.get("id"))
            joined += 1
    return joined
