"""The bpmnlint `recommended` rules: each with a diagram that breaks it and one that passes."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from bpmn_builder import Process, timer_duration
from validation_helpers import baseline, check, insert_after_process_open, of_rule, rules, write

from engine.validation import ERROR, WARNING

MESSAGE = '<bpmn:message id="m1" name="order_paid"/>'
MSG_CATCH = '<bpmn:messageEventDefinition messageRef="m1"/>'
SUB_BODY = (
    '<bpmn:startEvent id="s_start" name="Sub start"{start_attrs}>{start_def}<bpmn:outgoing>sf1</bpmn:outgoing>'
    "</bpmn:startEvent>"
    '<bpmn:task id="s_task" name="Inner"><bpmn:incoming>sf1</bpmn:incoming><bpmn:outgoing>sf2</bpmn:outgoing>'
    "</bpmn:task>"
    '<bpmn:endEvent id="s_end" name="Sub end"><bpmn:incoming>sf2</bpmn:incoming></bpmn:endEvent>'
    '<bpmn:sequenceFlow id="sf1" sourceRef="s_start" targetRef="s_task"/>'
    '<bpmn:sequenceFlow id="sf2" sourceRef="s_task" targetRef="s_end"/>'
)


def sub_body(start_def: str = "") -> str:
    return SUB_BODY.format(start_attrs="", start_def=start_def)


def three(kind_mid: str = "userTask", name: str = "Middle") -> Process:
    p = Process("p", "P")
    p.node("start", "startEvent", "Start").node("mid", kind_mid, name).node("end", "endEvent", "End")
    return p.chain("start", "mid", "end")


def exclusive(default: bool) -> Process:
    p = Process("p", "P")
    p.node("start", "startEvent", "Start").node("gw", "exclusiveGateway", "Big deal?")
    p.node("a", "userTask", "A").node("b", "userTask", "B").node("end", "endEvent", "End")
    p.node("join", "exclusiveGateway", "Join")
    p.flow("start", "gw").flow("gw", "a", condition="amount > 100").flow("gw", "b", default=default)
    return p.flow("a", "join").flow("b", "join").flow("join", "end")


def implicit_split(explicit: bool) -> Process:
    p = Process("p", "P")
    p.node("start", "startEvent", "Start").node("t", "userTask", "T")
    if explicit:
        p.node("fork", "parallelGateway", "")
    p.node("a", "userTask", "A").node("b", "userTask", "B").node("join", "parallelGateway", "")
    p.node("end", "endEvent", "End")
    p.flow("start", "t")
    src = "fork" if explicit else "t"
    if explicit:
        p.flow("t", "fork")
    return p.flow(src, "a").flow(src, "b").flow("a", "join").flow("b", "join").flow("join", "end")


def event_gateway(good: bool) -> Process:
    p = Process("p", "P", root_elements=MESSAGE)
    p.node("start", "startEvent", "Start").node("gw", "eventBasedGateway", "")
    p.node("paid", "intermediateCatchEvent", "Paid", MSG_CATCH)
    if good:
        p.node("late", "intermediateCatchEvent", "Late", timer_duration('"P3D"'))
    else:
        p.node("late", "userTask", "Chase")
    p.node("end1", "endEvent", "Done").node("end2", "endEvent", "Late end")
    return p.flow("start", "gw").flow("gw", "paid").flow("gw", "late").flow("paid", "end1").flow("late", "end2")


def gateway_shape(kind: str) -> Process:
    """kind: 'superfluous' (1 in 1 out), 'joinfork' (2 in 2 out) or 'ok'."""
    p = Process("p", "P")
    p.node("start", "startEvent", "Start").node("a", "userTask", "A").node("b", "userTask", "B")
    p.node("gw", "parallelGateway", "").node("c", "userTask", "C").node("d", "userTask", "D")
    p.node("join", "parallelGateway", "").node("end", "endEvent", "End")
    if kind == "superfluous":
        return p.chain("start", "a", "gw", "c", "end")
    p.node("fork", "parallelGateway", "")
    p.flow("start", "fork").flow("fork", "a").flow("fork", "b").flow("a", "gw").flow("b", "gw")
    if kind == "joinfork":
        return p.flow("gw", "c").flow("gw", "d").flow("c", "join").flow("d", "join").flow("join", "end")
    return p.flow("gw", "c").flow("c", "end")


def fake_join(joined: bool) -> Process:
    p = Process("p", "P")
    p.node("start", "startEvent", "Start").node("gw", "exclusiveGateway", "Which?")
    p.node("a", "userTask", "A").node("b", "userTask", "B").node("end", "endEvent", "End")
    p.flow("start", "gw").flow("gw", "a", condition="x").flow("gw", "b", default=True)
    if joined:
        p.node("join", "exclusiveGateway", "")
        return p.flow("a", "join").flow("b", "join").flow("join", "end")
    return p.flow("a", "end").flow("b", "end")


def two_starts(blank: bool) -> Process:
    p = Process("p", "P", root_elements=MESSAGE)
    p.node("s1", "startEvent", "Start one").node("s2", "startEvent", "Start two", "" if blank else MSG_CATCH)
    p.node("t", "userTask", "T").node("join", "exclusiveGateway", "").node("end", "endEvent", "End")
    return p.flow("s1", "join").flow("s2", "join").flow("join", "t").flow("t", "end")


def links(paired: bool) -> Process:
    p = Process("p", "P")
    p.node("start", "startEvent", "Start").node("go", "intermediateThrowEvent", "Go to B",
                                               '<bpmn:linkEventDefinition name="B"/>')
    if paired:
        p.node("land", "intermediateCatchEvent", "B", '<bpmn:linkEventDefinition name="B"/>')
    p.node("end", "endEvent", "End")
    p.flow("start", "go")
    if paired:
        p.flow("land", "end")
    else:
        p.flow("start", "end")
    return p


def double_definition(double: bool) -> Process:
    body = timer_duration('"P1D"') + (MSG_CATCH if double else "")
    p = Process("p", "P", root_elements=MESSAGE if double else "")
    p.node("start", "startEvent", "Start").node("wait", "intermediateCatchEvent", "Wait", body)
    p.node("end", "endEvent", "End")
    return p.chain("start", "wait", "end")


def subprocess(start_def: str, attrs: str = "") -> Process:
    p = Process("p", "P", root_elements=MESSAGE)
    p.node("start", "startEvent", "Start").node("sub", "subProcess", "Sub", sub_body(start_def), attrs=attrs)
    p.node("end", "endEvent", "End")
    return p.chain("start", "sub", "end")


def event_subprocess(start_def: str) -> Process:
    p = three()
    p.node("esp", "subProcess", "On message", sub_body(start_def), row=1, attrs=' triggeredByEvent="true"')
    p.root_elements = MESSAGE
    return p


def ad_hoc(with_start: bool) -> Process:
    inner = ('<bpmn:startEvent id="ah_start" name="AH start"/>' if with_start else "") + \
        '<bpmn:task id="ah_a" name="Do A"/><bpmn:task id="ah_b" name="Do B"/>'
    p = Process("p", "P")
    p.node("start", "startEvent", "Start").node("ah", "adHocSubProcess", "Free work", inner)
    p.node("end", "endEvent", "End")
    return p.chain("start", "ah", "end")


def complex_gw(use_complex: bool) -> Process:
    kind = "complexGateway" if use_complex else "inclusiveGateway"
    p = Process("p", "P")
    p.node("start", "startEvent", "Start").node("gw", kind, "Route").node("a", "userTask", "A")
    p.node("b", "userTask", "B").node("end", "endEvent", "End").node("end2", "endEvent", "End 2")
    return p.flow("start", "gw").flow("gw", "a", condition="x").flow("gw", "b", default=True).flow(
        "a", "end").flow("b", "end2")


def dangling(incoming: bool, outgoing: bool) -> Process:
    p = three()
    p.node("lone", "userTask", "Lone", row=1)
    p.node("end2", "endEvent", "End 2", row=1).node("start2", "startEvent", "Start 2", row=1)
    if incoming:
        p.flow("start2", "lone")
    if outgoing:
        p.flow("lone", "end2")
    return p


def terminate(superfluous: bool) -> Process:
    """One terminate end and nothing else ends: plain would do. Next to a plain end it means something."""
    term = "<bpmn:terminateEventDefinition/>"
    p = Process("p", "P")
    p.node("start", "startEvent", "Start").node("a", "userTask", "A").node("end", "endEvent", "Stop all", term)
    if superfluous:
        return p.chain("start", "a", "end")
    p.node("gw", "parallelGateway", "").node("b", "userTask", "B").node("end2", "endEvent", "End 2")
    return p.flow("start", "gw").flow("gw", "a").flow("gw", "b").flow("a", "end").flow("b", "end2")


def duplicate(dup: bool) -> Process:
    p = three()
    if dup:
        from bpmn_builder import Flow

        p.flows.append(Flow("f_dup", "mid", "end"))
    return p


def drop_shape(element: str) -> Callable[[str], str]:
    return lambda xml: re.sub(rf'<bpmndi:BPMNShape id="{element}_di".*?</bpmndi:BPMNShape>', "", xml)


def drop_all_di(xml: str) -> str:
    return re.sub(r"<bpmndi:BPMNDiagram.*</bpmndi:BPMNDiagram>", "", xml, flags=re.DOTALL)


def overlap(xml: str) -> str:
    """Move the user task onto the start event."""
    return re.sub(r'(<bpmndi:BPMNShape id="mid_di" bpmnElement="mid"><dc:Bounds) x="\d+"', r'\1 x="110"', xml)


def unnamed_message_unused(xml: str) -> str:
    return xml


def lanes(xml: str) -> str:
    return insert_after_process_open(
        xml, '<bpmn:laneSet id="ls"><bpmn:lane id="lane1"><bpmn:flowNodeRef>mid</bpmn:flowNodeRef></bpmn:lane>'
             "</bpmn:laneSet>")


Case = tuple[str, str, Callable[[], Process], Callable[[], Process], object, object]
# rule, severity, failing builder, passing builder, tweak for failing, tweak for passing
CASES: list[Case] = [
    ("start-event-required", ERROR, lambda: Process("p", "P").node("t", "userTask", "T").node(
        "end", "endEvent", "End").chain("t", "end"), baseline, None, None),
    ("end-event-required", ERROR, lambda: Process("p", "P").node("start", "startEvent", "S").node(
        "t", "userTask", "T").chain("start", "t"), baseline, None, None),
    ("no-disconnected", ERROR, lambda: dangling(False, False), lambda: dangling(True, True), None, None),
    ("no-implicit-start", ERROR, lambda: dangling(False, True), lambda: dangling(True, True), None, None),
    ("no-implicit-end", ERROR, lambda: dangling(True, False), lambda: dangling(True, True), None, None),
    ("conditional-flows", ERROR, lambda: exclusive(False), lambda: exclusive(True), None, None),
    ("no-implicit-split", ERROR, lambda: implicit_split(False), lambda: implicit_split(True), None, None),
    ("event-based-gateway", ERROR, lambda: event_gateway(False), lambda: event_gateway(True), None, None),
    ("label-required", WARNING, lambda: three(name=" "), three, None, None),
    ("superfluous-gateway", WARNING, lambda: gateway_shape("superfluous"), lambda: gateway_shape("ok"), None, None),
    ("no-gateway-join-fork", ERROR, lambda: gateway_shape("joinfork"), lambda: gateway_shape("ok"), None, None),
    ("fake-join", WARNING, lambda: fake_join(False), lambda: fake_join(True), None, None),
    ("single-blank-start-event", ERROR, lambda: two_starts(True), lambda: two_starts(False), None, None),
    ("no-duplicate-sequence-flows", ERROR, lambda: duplicate(True), lambda: duplicate(False), None, None),
    ("link-event", ERROR, lambda: links(False), lambda: links(True), None, None),
    ("no-bpmndi", WARNING, three, three, drop_shape("mid"), None),
    ("no-overlapping-elements", WARNING, three, three, overlap, None),
    ("single-event-definition", WARNING, lambda: double_definition(True), lambda: double_definition(False), None,
     None),
    ("sub-process-blank-start-event", ERROR, lambda: subprocess(MSG_CATCH), lambda: subprocess(""), None, None),
    ("event-sub-process-typed-start-event", ERROR, lambda: event_subprocess(""),
     lambda: event_subprocess(MSG_CATCH), None, None),
    ("ad-hoc-sub-process", ERROR, lambda: ad_hoc(True), lambda: ad_hoc(False), None, None),
    ("no-complex-gateway", ERROR, lambda: complex_gw(True), lambda: complex_gw(False), None, None),
    ("superfluous-termination", WARNING, lambda: terminate(True), lambda: terminate(False), None, None),
    ("label-required", WARNING, three, three, lanes, None),
]


@pytest.mark.parametrize(("rule", "severity", "failing", "passing", "tweak_fail", "tweak_pass"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_fails_and_passes(tmp_path: Path, rule, severity, failing, passing, tweak_fail, tweak_pass) -> None:
    bad = check(write(tmp_path / "bad", failing(), tweak=tweak_fail))
    good = check(write(tmp_path / "good", passing(), tweak=tweak_pass))
    hits = of_rule(bad, rule)
    assert hits, f"{rule} not reported; got {[d.text() for d in bad]}"
    assert {d.severity for d in hits} == {severity}
    assert all(d.line > 0 and d.element_id for d in hits), [d.text() for d in hits]
    assert rule not in rules(good), [d.text() for d in of_rule(good, rule)]


def test_baseline_is_clean(tmp_path: Path) -> None:
    assert check(write(tmp_path, baseline())) == []


def test_no_bpmndi_at_all_is_one_diagnostic(tmp_path: Path) -> None:
    found = of_rule(check(write(tmp_path, three(), tweak=drop_all_di)), "no-bpmndi")
    assert len(found) == 1 and "no BPMNDI" in found[0].message


def test_global_elements_named_used_unique(tmp_path: Path) -> None:
    roots = ('<bpmn:message id="m_unused" name="ghost"/><bpmn:message id="m_noname"/>'
             '<bpmn:signal id="sig_a" name="dup"/><bpmn:signal id="sig_b" name="dup"/>'
             '<bpmn:error id="err_used" name="Boom" errorCode="boom"/>')
    p = Process("p", "P", root_elements=roots)
    p.node("start", "startEvent", "Start", '<bpmn:messageEventDefinition messageRef="m_noname"/>')
    p.node("t", "userTask", "T").node("end", "endEvent", "Fail", '<bpmn:errorEventDefinition errorRef="err_used"/>')
    p.chain("start", "t", "end")
    found = of_rule(check(write(tmp_path, p)), "global")
    by_element = {(d.element_id, d.message) for d in found}
    assert ("m_unused", "Element is unused") in by_element
    assert ("m_noname", "Element is missing name") in by_element
    assert ("m_noname", "Element is unused") not in by_element
    assert ("sig_a", "Element name is not unique") in by_element
    assert not any(e == "err_used" for e, _ in by_element)
    assert all(d.severity == WARNING for d in found)


def test_duplicate_flow_reports_flow_source_and_target(tmp_path: Path) -> None:
    found = of_rule(check(write(tmp_path, duplicate(True))), "no-duplicate-sequence-flows")
    assert {d.element_id for d in found} == {"f_dup", "mid", "end"}
