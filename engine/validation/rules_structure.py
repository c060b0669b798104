"""The bpmnlint `recommended` rules, re-implemented over the lxml model (same rule ids, same
severities as bpmnlint's config/recommended.js), so analysts' findings match what bpmn.io's
linter shows them in the modeler.

Three differ, because `crmflow deploy` refuses on validate's errors and these do not stop a
diagram from running: `label-required` and `no-bpmndi` are warnings (a diagram from another tool
with an unnamed start event or no layout runs unchanged; the warning still asks for a name or a
layout), and `single-event-definition` is a warning since the engine runs multiple and parallel
multiple events.

Not ported: `no-inclusive-gateway` (crmflow executes inclusive gateways, so discouraging them
would only be noise) and `conditional-event` (not in `recommended`; crmflow's own expression
rule checks conditional events).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator

from lxml import etree

from .diagnostics import WARNING, Diagnostic
from .parsing import (
    ACTIVITIES,
    EVENTS,
    GATEWAYS,
    GLOBAL_KINDS,
    SUBPROCESSES,
    Container,
    Document,
    bpmn,
    bpmn_children,
    definition_kinds,
    event_definitions,
    is_true,
    local,
    text_of,
)

Rule = Callable[[Document], Iterator[Diagnostic]]
DOCS = "https://github.com/bpmn-io/bpmnlint/blob/main/docs/rules"


def _has_condition(flow: etree._Element) -> bool:
    return bool(bpmn_children(flow, "conditionExpression"))


def _is_default(node: etree._Element, flow: etree._Element) -> bool:
    return bool(node.get("default")) and node.get("default") == flow.get("id")


def _is_event_subprocess(node: etree._Element) -> bool:
    return local(node) in SUBPROCESSES and is_true(node.get("triggeredByEvent"))


def _in_ad_hoc(container: Container) -> bool:
    return container.kind == "adHocSubProcess"


def _only_kind(node: etree._Element, kind: str) -> bool:
    kinds = definition_kinds(node)
    return bool(kinds) and all(k == kind for k in kinds)


def _kind_label(container: Container) -> str:
    return "Sub process" if container.kind != "process" else "Process"


# -- rules -------------------------------------------------------------------------------------


def start_event_required(doc: Document) -> Iterator[Diagnostic]:
    for c in doc.containers():
        if c.kind == "adHocSubProcess":
            continue
        if not any(local(n) == "startEvent" for n in c.nodes):
            yield doc.diag("start-event-required", f"{_kind_label(c)} is missing start event", c.el,
                           hint="add a start event so the engine knows where the process begins")


def end_event_required(doc: Document) -> Iterator[Diagnostic]:
    for c in doc.containers():
        if c.kind == "adHocSubProcess":
            continue
        if not any(local(n) == "endEvent" for n in c.nodes):
            yield doc.diag("end-event-required", f"{_kind_label(c)} is missing end event", c.el,
                           hint="end every path with an end event")


def _compensation_linked(node: etree._Element) -> bool:
    if is_true(node.get("isForCompensation")):
        return True
    return local(node) == "boundaryEvent" and definition_kinds(node) == ["compensate"]


def no_disconnected(doc: Document) -> Iterator[Diagnostic]:
    for c, node in doc.flow_nodes():
        if _is_event_subprocess(node) or _compensation_linked(node) or _in_ad_hoc(c):
            continue
        if not c.ins(node) and not c.outs(node):
            yield doc.diag("no-disconnected", "Element is not connected", node,
                           hint="connect it with sequence flows or remove it")


def conditional_flows(doc: Document) -> Iterator[Diagnostic]:
    for c, node in doc.flow_nodes():
        outs = c.outs(node)
        if not (node.get("default") or any(_has_condition(f) for f in outs)):
            continue
        for flow in outs:
            if not _has_condition(flow) and not _is_default(node, flow):
                yield doc.diag("conditional-flows", "Sequence flow is missing condition", flow,
                               hint="add a condition or make it the default flow")


def no_implicit_split(doc: Document) -> Iterator[Diagnostic]:
    for c, node in doc.flow_nodes():
        if local(node) not in ACTIVITIES | EVENTS:
            continue
        plain = [f for f in c.outs(node) if not _has_condition(f) and not _is_default(node, f)]
        if len(plain) > 1:
            yield doc.diag("no-implicit-split", "Flow splits implicitly", node,
                           hint="split with an explicit parallel or exclusive gateway")


EVENT_GATEWAY_TARGET_KINDS = {"message", "timer", "signal", "conditional"}


def event_based_gateway(doc: Document) -> Iterator[Diagnostic]:
    for c, node in doc.flow_nodes():
        if local(node) != "eventBasedGateway":
            continue
        outs = c.outs(node)
        if len(outs) < 2:
            yield doc.diag("event-based-gateway",
                           "An <Event-based Gateway> must have at least 2 outgoing <Sequence Flows>", node)
        for flow in outs:
            if _has_condition(flow):
                yield doc.diag("event-based-gateway",
                               "A <Sequence Flow> outgoing from an <Event-based Gateway> must not be conditional",
                               flow)
            target = doc.by_id.get(flow.get("targetRef") or "")
            if target is None:
                continue
            kinds = definition_kinds(target)
            good = local(target) == "receiveTask" or (
                local(target) == "intermediateCatchEvent" and len(kinds) == 1 and kinds[0] in EVENT_GATEWAY_TARGET_KINDS
            )
            if not good:
                yield doc.diag("event-based-gateway",
                               "An <Event-based Gateway> may only lead to a receive task or an intermediate "
                               "message, timer, signal or conditional catch event", target)


def label_required(doc: Document) -> Iterator[Diagnostic]:
    def missing(el: etree._Element) -> Diagnostic | None:
        if (el.get("name") or "").strip():
            return None
        return doc.diag("label-required", "Element is missing label/name", el, severity=WARNING,
                        hint="name it so people reading the diagram, worklists and history know what it is")

    for c, node in doc.flow_nodes():
        kind = local(node)
        if kind in ("parallelGateway", "eventBasedGateway") or kind in SUBPROCESSES:
            continue
        if kind in GATEWAYS and len(c.outs(node)) <= 1:
            continue
        if (d := missing(node)) is not None:
            yield d
    for c in doc.containers():
        for flow in c.flows:
            if _has_condition(flow) and (d := missing(flow)) is not None:
                yield d
    for el in doc.root.iter(bpmn("participant"), bpmn("lane")):
        if (d := missing(el)) is not None:
            yield d


def superfluous_gateway(doc: Document) -> Iterator[Diagnostic]:
    for c, node in doc.flow_nodes():
        if local(node) in GATEWAYS and len(c.ins(node)) == 1 and len(c.outs(node)) == 1:
            yield doc.diag("superfluous-gateway", "Gateway is superfluous. It only has one source and target.",
                           node, severity=WARNING, hint="remove it and connect the flows directly")


def fake_join(doc: Document) -> Iterator[Diagnostic]:
    for c, node in doc.flow_nodes():
        if local(node) in ACTIVITIES | EVENTS and len(c.ins(node)) > 1:
            yield doc.diag("fake-join", "Incoming flows do not join", node, severity=WARNING,
                           hint="join the flows with a gateway first (parallel to wait for all, exclusive for any)")


def single_blank_start_event(doc: Document) -> Iterator[Diagnostic]:
    for c in doc.containers():
        blank = [n for n in c.nodes if local(n) == "startEvent" and not event_definitions(n)]
        if len(blank) > 1:
            yield doc.diag("single-blank-start-event", f"{_kind_label(c)} has multiple blank start events", c.el,
                           hint="keep one blank start event; give the others a message, timer or signal")


def no_duplicate_sequence_flows(doc: Document) -> Iterator[Diagnostic]:
    seen: set[str] = set()
    reported: set[tuple[str, str]] = set()
    for c in doc.containers():
        for flow in c.flows:
            condition = text_of(bpmn_children(flow, "conditionExpression")[0]) if _has_condition(flow) else ""
            source, target = flow.get("sourceRef") or "", flow.get("targetRef") or ""
            key = f"{source}#{target}#{condition}"
            if key not in seen:
                seen.add(key)
                continue
            yield doc.diag("no-duplicate-sequence-flows", "SequenceFlow is a duplicate", flow,
                           hint="delete one of the two identical flows")
            for role, ident, message in (("out", source, "Duplicate outgoing sequence flows"),
                                         ("in", target, "Duplicate incoming sequence flows")):
                if (role, ident) not in reported and (el := doc.by_id.get(ident)) is not None:
                    reported.add((role, ident))
                    yield doc.diag("no-duplicate-sequence-flows", message, el)


def no_gateway_join_fork(doc: Document) -> Iterator[Diagnostic]:
    for c, node in doc.flow_nodes():
        if local(node) in GATEWAYS and len(c.ins(node)) > 1 and len(c.outs(node)) > 1:
            yield doc.diag("no-gateway-join-fork", "Gateway forks and joins", node,
                           hint="use one gateway to join and a second one to fork")


def link_event(doc: Document) -> Iterator[Diagnostic]:
    for c in doc.containers():
        links = [n for n in c.nodes if local(n) in EVENTS and "link" in definition_kinds(n)]
        groups: dict[str, list[etree._Element]] = defaultdict(list)
        for node in links:
            definition = next(d for d in event_definitions(node) if local(d) == "linkEventDefinition")
            name = (definition.get("name") or "").strip()
            if not name:
                yield doc.diag("link-event", "Link event is missing link name", node)
            else:
                groups[name].append(node)
        for name, events in groups.items():
            catches = [e for e in events if local(e) == "intermediateCatchEvent"]
            if len(events) == 1:
                other = "catch" if not catches else "throw"
                yield doc.diag("link-event", f"Link {other} event with link name <{name}> missing in scope", events[0])
            elif len(catches) > 1:
                for e in catches:
                    yield doc.diag("link-event", f"Duplicate link catch event with link name <{name}> in scope", e)
            elif not catches:
                for e in events:
                    yield doc.diag("link-event", f"Link catch event with link name <{name}> missing in scope", e)


VISUAL_FLOW_ELEMENTS = ACTIVITIES | EVENTS | GATEWAYS | {"sequenceFlow", "dataObjectReference", "dataStoreReference"}
ARTIFACTS = frozenset({"textAnnotation", "association", "group"})


def _visual_elements(doc: Document) -> Iterator[etree._Element]:
    for root_el in bpmn_children(doc.root):
        yield from _visual_below(root_el)


def _visual_below(el: etree._Element) -> Iterator[etree._Element]:
    for child in el:
        kind = local(child)
        if kind in VISUAL_FLOW_ELEMENTS or kind in ARTIFACTS or kind in ("participant", "messageFlow"):
            yield child
            if kind in SUBPROCESSES:
                yield from _visual_below(child)
        elif kind in ("laneSet", "childLaneSet"):
            for lane in bpmn_children(child, "lane"):
                yield lane
                yield from _visual_below(lane)


def no_bpmndi(doc: Document) -> Iterator[Diagnostic]:
    if not doc.has_di():
        if any(True for _ in _visual_elements(doc)):
            yield doc.diag("no-bpmndi", "Diagram has no BPMNDI (no bpmndi:BPMNDiagram): it cannot be drawn",
                           doc.root, severity=WARNING, hint="open and save it in a modeler (bpmn.io) to add the layout")
        return
    refs = doc.di_refs()
    for el in _visual_elements(doc):
        if el.get("id") and el.get("id") not in refs:
            yield doc.diag("no-bpmndi", "Element is missing bpmndi", el, severity=WARNING,
                           hint="the element exists in the XML but has no shape or edge; redraw it in the modeler")


def no_overlapping_elements(doc: Document) -> Iterator[Diagnostic]:
    bounds = doc.bounds()
    overlaps: dict[str, etree._Element] = {}
    outside: dict[str, etree._Element] = {}

    def check_group(elements: list[etree._Element]) -> None:
        # sweep along x (sorted by left edge): only shapes whose x ranges meet are compared, so a
        # large diagram costs about n log n, not n² (a 6000-task chain took minutes)
        boxed = sorted((e for e in elements if e.get("id") in bounds), key=lambda e: bounds[e.get("id")].x)  # type: ignore[index]
        for i, a in enumerate(boxed):
            box = bounds[a.get("id")]  # type: ignore[index]
            right = box.x + max(box.width, 0.0)
            for b in boxed[i + 1:]:
                if bounds[b.get("id")].x > right:  # type: ignore[index]
                    break  # every later shape starts further right
                if a.get("attachedToRef") == b.get("id") or b.get("attachedToRef") == a.get("id"):
                    continue
                if box.collides(bounds[b.get("id")]):  # type: ignore[index]
                    overlaps[a.get("id")] = a  # type: ignore[index]
                    overlaps[b.get("id")] = b  # type: ignore[index]

    def check_container(el: etree._Element, parent_id: str | None) -> None:
        elements = [c for c in el if local(c) in ACTIVITIES | EVENTS | GATEWAYS | {"dataObjectReference",
                                                                                   "dataStoreReference"}]
        check_group(elements)
        parent = bounds.get(parent_id or "")
        for e in elements:
            box = bounds.get(e.get("id") or "")
            if parent is not None and box is not None and local(e) != "dataStoreReference" and not parent.contains(box):
                outside[e.get("id")] = e  # type: ignore[index]
        for e in elements:
            if local(e) in SUBPROCESSES:
                box = bounds.get(e.get("id") or "")
                check_container(e, e.get("id") if box is not None and box.expanded else None)

    pool_of: dict[str, str] = {}
    for collaboration in bpmn_children(doc.root, "collaboration"):
        participants = bpmn_children(collaboration, "participant")
        check_group(participants)
        for p in participants:
            if p.get("processRef") and p.get("id"):
                pool_of[p.get("processRef")] = p.get("id")  # type: ignore[index]
    for process in doc.processes():
        check_container(process, pool_of.get(process.get("id") or ""))
    for el in overlaps.values():
        yield doc.diag("no-overlapping-elements", "Element overlaps with other element", el, severity=WARNING,
                       hint="move it apart in the modeler so the drawing reads clearly")
    for el in outside.values():
        yield doc.diag("no-overlapping-elements", "Element is outside of parent boundary", el, severity=WARNING)


def global_elements(doc: Document) -> Iterator[Diagnostic]:
    refs: dict[str, set[str]] = {kind: set() for kind in GLOBAL_KINDS}
    for el in doc.root.iter():
        if not isinstance(el.tag, str):
            continue
        for kind, attr in GLOBAL_KINDS.items():
            if (value := el.get(attr)) and local(el) != kind:
                refs[kind].add(value)
    for kind in GLOBAL_KINDS:
        elements = doc.globals(kind)
        names: dict[str, int] = defaultdict(int)
        for el in elements:
            names[(el.get("name") or "").strip()] += 1
        for el in elements:
            name = (el.get("name") or "").strip()
            if not name:
                yield doc.diag("global", "Element is missing name", el, severity=WARNING,
                               hint=f"the engine matches {kind}s by name")
            elif names[name] > 1:
                yield doc.diag("global", "Element name is not unique", el, severity=WARNING,
                               hint=f"two {kind}s named {name!r} cannot be told apart")
            if el.get("id") not in refs[kind]:
                yield doc.diag("global", "Element is unused", el, severity=WARNING,
                               hint=f"no event or task refers to this {kind}; remove it or use it")


def single_event_definition(doc: Document) -> Iterator[Diagnostic]:
    for _, node in doc.flow_nodes():
        if local(node) in EVENTS and len(definition_kinds(node)) > 1:
            if (node.get("parallelMultiple") or "").strip().lower() == "true":
                # The engine runs it (it waits for every one of its events): say so, do not refuse.
                yield doc.diag("single-event-definition", "Event has multiple event definitions; it waits for "
                               "all of them (parallel multiple)", node, severity=WARNING,
                               hint="fine if every trigger must have come; otherwise split it")
                continue
            # The engine runs it too (whichever of its events comes first): a warning, not a refusal.
            yield doc.diag("single-event-definition", "Event has multiple event definitions; the first of them "
                           "to happen triggers it (multiple)", node, severity=WARNING,
                           hint="fine if any one trigger will do; otherwise split it into one event per trigger")


def sub_process_blank_start_event(doc: Document) -> Iterator[Diagnostic]:
    for c in doc.containers():
        if c.kind == "process" or _is_event_subprocess(c.el):
            continue
        for node in c.nodes:
            if local(node) == "startEvent" and definition_kinds(node):
                yield doc.diag("sub-process-blank-start-event", "Start event must be blank", node,
                               hint="a sub-process starts when it is reached; remove the event definition")


def event_sub_process_typed_start_event(doc: Document) -> Iterator[Diagnostic]:
    for c in doc.containers():
        if not _is_event_subprocess(c.el):
            continue
        for node in c.nodes:
            if local(node) == "startEvent" and not definition_kinds(node):
                yield doc.diag("event-sub-process-typed-start-event", "Start event is missing event definition",
                               node, hint="an event sub-process starts on a message, timer, signal, error or "
                                          "escalation; pick one")


def ad_hoc_sub_process(doc: Document) -> Iterator[Diagnostic]:
    for c in doc.containers():
        if c.kind != "adHocSubProcess":
            continue
        for node in c.nodes:
            if local(node) == "startEvent":
                yield doc.diag("ad-hoc-sub-process", "A <Start Event> is not allowed in <Ad Hoc Sub Process>", node)
            elif local(node) == "endEvent":
                yield doc.diag("ad-hoc-sub-process", "An <End Event> is not allowed in <Ad Hoc Sub Process>", node)


def no_complex_gateway(doc: Document) -> Iterator[Diagnostic]:
    for _, node in doc.flow_nodes():
        if local(node) == "complexGateway":
            yield doc.diag("no-complex-gateway", "Element type <bpmn:ComplexGateway> is discouraged", node)


def no_implicit_start(doc: Document) -> Iterator[Diagnostic]:
    for c, node in doc.flow_nodes():
        kind = local(node)
        if (kind in ("startEvent", "boundaryEvent") or is_true(node.get("isForCompensation")) or _in_ad_hoc(c)
                or _is_event_subprocess(node) or (kind == "intermediateCatchEvent" and _only_kind(node, "link"))):
            continue
        if not c.ins(node):
            yield doc.diag("no-implicit-start", "Element is an implicit start", node,
                           hint="nothing leads here; connect it or start the path with a start event")


def no_implicit_end(doc: Document) -> Iterator[Diagnostic]:
    for c, node in doc.flow_nodes():
        kind = local(node)
        if (kind == "endEvent" or _is_event_subprocess(node) or _in_ad_hoc(c)
                or is_true(node.get("isForCompensation"))
                or (kind == "intermediateThrowEvent" and _only_kind(node, "link"))
                or (kind == "boundaryEvent" and _only_kind(node, "compensate"))):
            continue
        if not c.outs(node):
            yield doc.diag("no-implicit-end", "Element is an implicit end", node,
                           hint="end the path with an end event")


def superfluous_termination(doc: Document) -> Iterator[Diagnostic]:
    def is_terminate_end(n: etree._Element) -> bool:
        return local(n) == "endEvent" and "terminate" in definition_kinds(n)

    def is_interrupting_event_sub(n: etree._Element) -> bool:
        return _is_event_subprocess(n) and any(
            local(s) == "startEvent" and s.get("isInterrupting", "true").strip().lower() != "false" for s in n
        )

    for c in doc.containers():
        ends = [n for n in c.nodes if not c.outs(n)]
        terminates = [n for n in ends if is_terminate_end(n)]
        if len(terminates) == 1 and all(is_terminate_end(n) or is_interrupting_event_sub(n) for n in ends):
            yield doc.diag("superfluous-termination", "Termination is superfluous.", terminates[0], severity=WARNING,
                           hint="a plain end event ends the process just as well here")


RULES: list[tuple[str, Rule]] = [
    ("ad-hoc-sub-process", ad_hoc_sub_process),
    ("conditional-flows", conditional_flows),
    ("end-event-required", end_event_required),
    ("event-based-gateway", event_based_gateway),
    ("event-sub-process-typed-start-event", event_sub_process_typed_start_event),
    ("fake-join", fake_join),
    ("global", global_elements),
    ("label-required", label_required),
    ("link-event", link_event),
    ("no-bpmndi", no_bpmndi),
    ("no-complex-gateway", no_complex_gateway),
    ("no-disconnected", no_disconnected),
    ("no-duplicate-sequence-flows", no_duplicate_sequence_flows),
    ("no-gateway-join-fork", no_gateway_join_fork),
    ("no-implicit-split", no_implicit_split),
    ("no-implicit-end", no_implicit_end),
    ("no-implicit-start", no_implicit_start),
    ("no-overlapping-elements", no_overlapping_elements),
    ("single-blank-start-event", single_blank_start_event),
    ("single-event-definition", single_event_definition),
    ("start-event-required", start_event_required),
    ("sub-process-blank-start-event", sub_process_blank_start_event),
    ("superfluous-gateway", superfluous_gateway),
    ("superfluous-termination", superfluous_termination),
]

__all__ = ["DOCS", "RULES"]
