"""crmflow's engine-aware rules: handlers, lanes, forms, timers, expressions, references,
message catchers, unsupported elements, and SpiffWorkflow's own parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bpmn_builder import Process, props, script, service, timer_cycle
from validation_helpers import (
    FIXTURES,
    baseline,
    check,
    insert_after_process_open,
    of_rule,
    rules,
    write,
)

from engine.validation import ERROR, WARNING, LaneRoute, load_lane_map

REPO = Path(__file__).resolve().parents[2]


def with_node(kind: str, body: str = "", name: str = "Step", attrs: str = "", root: str = "") -> Process:
    p = Process("p", "P", root_elements=root)
    p.node("start", "startEvent", "Start").node("step", kind, name, body, attrs=attrs).node("end", "endEvent", "End")
    return p.chain("start", "step", "end")


def timer(kind: str, expr: str) -> Process:
    from xml.sax.saxutils import escape

    body = (f'<bpmn:timerEventDefinition><bpmn:{kind} xsi:type="bpmn:tFormalExpression">{escape(expr)}'
            f"</bpmn:{kind}></bpmn:timerEventDefinition>")
    return with_node("intermediateCatchEvent", body, "Wait")


# -- handlers ------------------------------------------------------------------------------------


def test_unregistered_operation_suggests_the_closest(tmp_path: Path) -> None:
    found = of_rule(check(write(tmp_path, with_node("serviceTask", service("sales/qualify_led")))),
                    "crmflow/unknown-handler")
    assert len(found) == 1 and found[0].severity == ERROR
    assert "'sales/qualify_led'" in found[0].message and "sales/qualify_lead" in (found[0].hint or "")
    assert found[0].element_id == "step" and found[0].line > 0


def test_registered_operation_passes_and_unknown_registry_skips(tmp_path: Path) -> None:
    assert "crmflow/unknown-handler" not in rules(check(write(tmp_path, with_node("serviceTask",
                                                                                  service("sales/qualify_lead")))))
    path = write(tmp_path / "x", with_node("serviceTask", service("nobody/knows")))
    assert "crmflow/unknown-handler" not in rules(check(path, operations=None))


def test_service_task_without_operator(tmp_path: Path) -> None:
    found = of_rule(check(write(tmp_path, with_node("serviceTask"))), "crmflow/unknown-handler")
    assert found and "names no operation" in found[0].message


# -- lanes ----------------------------------------------------------------------------------------


def add_lane(name: str):
    return lambda xml: insert_after_process_open(
        xml, f'<bpmn:laneSet id="ls"><bpmn:lane id="lane_x" name="{name}"><bpmn:flowNodeRef>step</bpmn:flowNodeRef>'
             "</bpmn:lane></bpmn:laneSet>")


def test_lane_without_worklist(tmp_path: Path) -> None:
    lanes = {"sales": LaneRoute("sales", ("sales",))}
    bad = check(write(tmp_path / "a", with_node("userTask"), tweak=add_lane("Marketing")), lanes=lanes)
    found = of_rule(bad, "crmflow/lane-unmapped")
    assert len(found) == 1 and "'Marketing'" in found[0].message and found[0].element_id == "lane_x"
    assert found[0].severity == "warning" and "'unassigned' queue" in found[0].message, "the task is not lost"
    good = check(write(tmp_path / "b", with_node("userTask"), tweak=add_lane("Sales")), lanes=lanes)
    assert "crmflow/lane-unmapped" not in rules(good)
    no_map = check(write(tmp_path / "c", with_node("userTask"), tweak=add_lane("Marketing")), lanes=None)
    assert "crmflow/lane-unmapped" not in rules(no_map)


def test_lane_map_formats_and_errors(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"lanes": {"Sales": {"queue": "q", "groups": "g"}}}))
    routes, problem = load_lane_map(tmp_path / "a.json")
    assert problem is None and routes == {"sales": LaneRoute("q", ("g",))}
    (tmp_path / "b.json").write_text("{not json")
    routes, problem = load_lane_map(tmp_path / "b.json")
    assert routes is None and problem is not None and problem.rule == "crmflow/lane-map"


# -- forms ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("files", "expected"), [
    ({}, "does not exist"),
    ({"form.json": "{oops"}, "is not valid JSON"),
    ({"form.json": "[1, 2]"}, "must hold a JSON object"),
    ({"form.json": json.dumps({"type": 12})}, "is not a valid JSON Schema"),
])
def test_form_problems(tmp_path: Path, files: dict[str, str], expected: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    found = of_rule(check(write(tmp_path, with_node("userTask", props(formJsonSchemaFilename="form.json")))),
                    "crmflow/form")
    assert len(found) == 1 and expected in found[0].message, [d.text() for d in found]


def test_form_path_may_not_leave_the_folder(tmp_path: Path) -> None:
    (tmp_path / "secret.json").write_text("{}")
    found = of_rule(check(write(tmp_path / "d", with_node("userTask", props(formJsonSchemaFilename="../secret.json")))),
                    "crmflow/form")
    assert found and "leaves the diagram's folder" in found[0].message


def test_valid_form_and_ui_schema_pass(tmp_path: Path) -> None:
    (tmp_path / "form.json").write_text(json.dumps({"type": "object", "properties": {"x": {"type": "string"}}}))
    (tmp_path / "ui.json").write_text(json.dumps({"x": {"ui:widget": "textarea"}}))
    body = props(formJsonSchemaFilename="form.json", formUiSchemaFilename="ui.json")
    assert "crmflow/form" not in rules(check(write(tmp_path, with_node("userTask", body))))
    body = props(formJsonSchemaFilename="form.json", formUiSchemaFilename="missing-ui.json")
    assert "crmflow/form" in rules(check(write(tmp_path / "x", with_node("userTask", body))))


# -- timers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "expr", "expected"), [
    ("timeDuration", "P3D", "P3D is not quoted"),
    ("timeCycle", "R3/PT10M", "R3/PT10M is not quoted"),
    ("timeDate", "2026-01-31T09:00:00Z", "is not quoted"),
    ("timeDuration", '"P3X"', "not an ISO 8601 duration"),
    ("timeDuration", '"P"', "not an ISO 8601 duration"),
    ("timeDuration", '"2026-01-01"', "not an ISO 8601 duration"),
    ("timeDate", '"P3D"', "is a duration"),
    ("timeDate", '"31/01/2026"', "not a valid ISO 8601 date"),
    ("timeCycle", '"PT10M"', "not an ISO 8601 repeating interval"),
    ("timeCycle", '"R3/PT10X"', "is not an ISO 8601 duration"),
    ("timeDuration", "3600", "not an ISO 8601 string"),
    ("timeDuration", "", "empty"),
    ("timeDuration", '"P" +', "does not compile"),
    ("timeDuration", "().__class__", "does not compile"),
])
def test_bad_timers(tmp_path: Path, kind: str, expr: str, expected: str) -> None:
    found = of_rule(check(write(tmp_path, timer(kind, expr))), "crmflow/timer")
    assert len(found) == 1 and expected in found[0].message, [d.text() for d in found]
    assert found[0].element_id == "step"


def test_unquoted_timer_hint_says_add_quotes(tmp_path: Path) -> None:
    found = of_rule(check(write(tmp_path, timer("timeDuration", "P3D"))), "crmflow/timer")
    assert found[0].hint == 'write "P3D" with the quotes'


@pytest.mark.parametrize(("kind", "expr"), [
    ("timeDuration", '"P3D"'), ("timeDuration", '"PT1H30M"'), ("timeDuration", "'P1W'"),
    ("timeCycle", '"R3/PT10M"'), ("timeCycle", '"R/P1D"'), ("timeDate", '"2026-01-31T09:00:00Z"'),
    ("timeDate", '"2026-01-31"'), ("timeDuration", "follow_up_delay"), ("timeDate", "due_at"),
])
def test_good_timers(tmp_path: Path, kind: str, expr: str) -> None:
    assert "crmflow/timer" not in rules(check(write(tmp_path, timer(kind, expr))))


def test_timer_without_expression(tmp_path: Path) -> None:
    bad = with_node("intermediateCatchEvent", "<bpmn:timerEventDefinition/>", "Wait")
    assert "crmflow/timer" in rules(check(write(tmp_path, bad)))


def test_due_date_property_is_checked_like_a_timer(tmp_path: Path) -> None:
    found = of_rule(check(write(tmp_path, with_node("userTask", props(dueDate="P2D")))), "crmflow/expression")
    assert found and "P2D is not quoted" in found[0].message
    good = with_node("userTask", props(dueDate='"P2D"'))
    assert "crmflow/expression" not in rules(check(write(tmp_path / "ok", good)))


# -- scripts and expressions -----------------------------------------------------------------------


@pytest.mark.parametrize(("body", "expected"), [
    (script("import os\nos.system('x')"), "import of 'os' is not allowed"),
    (script("total = = 1"), "SyntaxError"),
    (script("x = ().__class__.__base__"), "refused"),
])
def test_bad_scripts(tmp_path: Path, body: str, expected: str) -> None:
    found = of_rule(check(write(tmp_path, with_node("scriptTask", body))), "crmflow/expression")
    assert len(found) == 1 and expected in found[0].message, [d.text() for d in found]


def test_good_script_passes(tmp_path: Path) -> None:
    body = script("import math\ntotal = math.ceil(amount * 1.2)\nlabel = f'{total} EUR'")
    assert "crmflow/expression" not in rules(check(write(tmp_path, with_node("scriptTask", body))))


def gateway(condition: str) -> Process:
    p = Process("p", "P")
    p.node("start", "startEvent", "Start").node("gw", "exclusiveGateway", "Big?")
    p.node("a", "userTask", "A").node("b", "userTask", "B").node("end", "endEvent", "End")
    p.node("end2", "endEvent", "End 2")
    return p.flow("start", "gw").flow("gw", "a", condition=condition).flow("gw", "b", default=True).flow(
        "a", "end").flow("b", "end2")


@pytest.mark.parametrize(("condition", "expected", "hint"), [
    ("${amount > 100}", "does not compile", "JUEL"),
    ("amount >", "SyntaxError", None),
    ("__import__('os')", "refused", None),
])
def test_bad_conditions(tmp_path: Path, condition: str, expected: str, hint: str | None) -> None:
    found = of_rule(check(write(tmp_path, gateway(condition))), "crmflow/expression")
    assert len(found) == 1 and expected in found[0].message and found[0].element_id == "f_gw_a"
    if hint:
        assert hint in (found[0].hint or "")


def test_good_condition_passes(tmp_path: Path) -> None:
    assert "crmflow/expression" not in rules(check(write(tmp_path, gateway("amount > 100 and region == 'EU'"))))


def test_service_parameter_and_property_expressions(tmp_path: Path) -> None:
    bad = with_node("serviceTask", service("sales/qualify_lead", lead_id="lead_id +"))
    found = of_rule(check(write(tmp_path / "a", bad)), "crmflow/expression")
    assert found and "service parameter 'lead_id'" in found[0].message
    bad = with_node("userTask", props(assignee="owner.__class__"))
    found = of_rule(check(write(tmp_path / "b", bad)), "crmflow/expression")
    assert found and "property assignee" in found[0].message
    good = with_node("serviceTask", service("sales/qualify_lead", lead_id="lead_id", source='"web"'))
    assert "crmflow/expression" not in rules(check(write(tmp_path / "c", good)))


def test_dmn_cells_are_compiled(tmp_path: Path) -> None:
    dmn = (REPO / "tests/diagrams/elements/discount.dmn").read_text()
    assert "crmflow/expression" not in rules(check(REPO / "tests/diagrams/elements/discount.dmn"))
    broken = dmn.replace("<text>", "<text>${", 1)
    (tmp_path / "broken.dmn").write_text(broken)
    found = of_rule(check(tmp_path / "broken.dmn"), "crmflow/expression")
    assert found and "DMN" in found[0].message


# -- references ------------------------------------------------------------------------------------


def test_called_process_must_exist(tmp_path: Path) -> None:
    caller = with_node("callActivity", attrs=' calledElement="child_proc"')
    found = of_rule(check(write(tmp_path / "a", caller)), "crmflow/called-element")
    assert len(found) == 1 and "'child_proc'" in found[0].message
    child = baseline("child_proc")
    both = check([write(tmp_path / "b", caller), write(tmp_path / "b", child)])
    assert "crmflow/called-element" not in rules(both)
    deployed = check(write(tmp_path / "c", caller), deployed_processes=frozenset({"child_proc"}))
    assert "crmflow/called-element" not in rules(deployed)


def test_called_process_suggests_closest(tmp_path: Path) -> None:
    caller = with_node("callActivity", attrs=' calledElement="child_proces"')
    found = of_rule(check([write(tmp_path, caller), write(tmp_path, baseline("child_process"))]),
                    "crmflow/called-element")
    assert found and "child_process" in (found[0].hint or "")


def decision_task(decision: str) -> Process:
    body = ("<bpmn:extensionElements><spiffworkflow:calledDecisionId>"
            f"{decision}</spiffworkflow:calledDecisionId></bpmn:extensionElements>")
    return with_node("businessRuleTask", body, "Decide")


def test_called_decision_must_exist(tmp_path: Path) -> None:
    dmn = REPO / "tests/diagrams/elements/discount.dmn"
    found = of_rule(check([write(tmp_path / "a", decision_task("discount_decison")), dmn]), "crmflow/called-decision")
    assert len(found) == 1 and "discount_decision" in (found[0].hint or "")
    ok = check([write(tmp_path / "b", decision_task("discount_decision")), dmn])
    assert "crmflow/called-decision" not in rules(ok)


MESSAGES = '<bpmn:message id="m_paid" name="order_paid"/>'
THROW = '<bpmn:messageEventDefinition messageRef="m_paid"/>'


def test_thrown_message_needs_a_catcher(tmp_path: Path) -> None:
    thrower = with_node("intermediateThrowEvent", THROW, "Tell billing", root=MESSAGES)
    found = of_rule(check(write(tmp_path / "a", thrower)), "crmflow/message-no-catcher")
    assert len(found) == 1 and found[0].severity == WARNING and "'order_paid'" in found[0].message
    catcher = Process("catcher", "Catcher", root_elements=MESSAGES)
    catcher.node("s", "startEvent", "Paid", THROW).node("t", "userTask", "Book").node("e", "endEvent", "End")
    catcher.chain("s", "t", "e")
    both = check([write(tmp_path / "b", thrower), write(tmp_path / "b", catcher)])
    assert "crmflow/message-no-catcher" not in rules(both)
    deployed = check(write(tmp_path / "c", thrower), deployed_messages=frozenset({"order_paid"}))
    assert "crmflow/message-no-catcher" not in rules(deployed)


# -- unsupported, not executable, SpiffWorkflow's parser ------------------------------------------------


def test_link_events_are_supported(tmp_path: Path) -> None:
    """A paired link throw/catch runs (engine.links): no unsupported-element diagnostic."""
    pair = ('<bpmn:intermediateThrowEvent id="t" name="T"><bpmn:linkEventDefinition name="x"/>'
            '</bpmn:intermediateThrowEvent><bpmn:intermediateCatchEvent id="c" name="C">'
            '<bpmn:linkEventDefinition name="x"/></bpmn:intermediateCatchEvent>')
    assert "crmflow/unsupported-element" not in rules(check(write(tmp_path, with_node("subProcess", pair))))


@pytest.mark.parametrize(("kind", "body", "attrs", "expected"), [
    ("intermediateThrowEvent", "<bpmn:compensateEventDefinition/>", "", "compensation"),
    ("task", "", ' isForCompensation="true"', "compensation"),
    ("adHocSubProcess", '<bpmn:task id="t1" name="T1"/>', ' ordering="Sequential"', "sequential ad-hoc"),
])
def test_unsupported_elements(tmp_path: Path, kind: str, body: str, attrs: str, expected: str) -> None:
    found = of_rule(check(write(tmp_path, with_node(kind, body, attrs=attrs))), "crmflow/unsupported-element")
    assert found and expected in found[0].message, [d.text() for d in found]


def test_complex_gateway_is_unsupported(tmp_path: Path) -> None:
    p = Process("p", "P")
    p.node("start", "startEvent", "Start").node("gw", "complexGateway", "Route").node("a", "userTask", "A")
    p.node("end", "endEvent", "End").flow("start", "gw").flow("gw", "a", condition="x").flow("a", "end")
    assert {"crmflow/unsupported-element", "no-complex-gateway"} <= rules(check(write(tmp_path, p)))


def test_supported_elements_pass(tmp_path: Path) -> None:
    body = timer_cycle('"R2/PT1H"')
    good = with_node("intermediateCatchEvent", body, "Hourly")
    assert "crmflow/unsupported-element" not in rules(check(write(tmp_path, good)))


def test_non_executable_is_a_warning_and_skips_engine_checks(tmp_path: Path) -> None:
    tweak = lambda xml: xml.replace('isExecutable="true"', 'isExecutable="false"')  # noqa: E731
    found = check(write(tmp_path, with_node("serviceTask", service("nobody/knows")), tweak=tweak))
    assert rules(found) == {"crmflow/not-executable"} and found[0].severity == WARNING


def test_dangling_references(tmp_path: Path) -> None:
    tweak = lambda xml: xml.replace('targetRef="end"', 'targetRef="nowhere"')  # noqa: E731
    found = of_rule(check(write(tmp_path, baseline(), tweak=tweak)), "crmflow/reference")
    assert len(found) == 1 and "'nowhere'" in found[0].message and found[0].element_id == "f_work_end"
    bad = with_node("intermediateCatchEvent", '<bpmn:messageEventDefinition messageRef="m_missing"/>', "Wait")
    found = of_rule(check(write(tmp_path / "b", bad)), "crmflow/reference")
    assert found and "'m_missing'" in found[0].message


def test_spiffworkflow_parser_refusal_is_one_diagnostic(tmp_path: Path) -> None:
    # An unqualified attribute the BPMN schema forbids: only SpiffWorkflow's validator notices.
    tweak = lambda xml: xml.replace('<bpmn:userTask id="work"', '<bpmn:userTask colour="red" id="work"')  # noqa: E731
    found = check(write(tmp_path, baseline(), tweak=tweak))
    parse = of_rule(found, "crmflow/parse")
    assert len(parse) == 1 and parse[0].severity == ERROR and "colour" in parse[0].message
    assert parse[0].file.endswith("p.bpmn") and parse[0].line > 0


def test_parser_skipped_when_disabled(tmp_path: Path) -> None:
    tweak = lambda xml: xml.replace('<bpmn:userTask id="work"', '<bpmn:userTask colour="red" id="work"')  # noqa: E731
    assert check(write(tmp_path, baseline(), tweak=tweak), engine_parse=False) == []


def test_spiff_arena_fixture_is_clean_with_its_context() -> None:
    lanes, _ = load_lane_map(FIXTURES / "lanes.json")
    assert check(FIXTURES / "spiff_arena.bpmn", lanes=lanes) == []


@pytest.mark.parametrize(("kind", "expr", "expected"), [
    ("timeDate", '"2026-02-01T09:00:00+00:00"', "for a timeDuration only"),
    ("timeCycle", '"R3/PT1H"', "for a timeDuration only"),
    ("timeDuration", '"P2D"', "takes hours and minutes, not days"),
])
def test_business_calendar_on_a_timer_it_cannot_apply_to(tmp_path: Path, kind: str, expr: str, expected: str) -> None:
    process = timer(kind, expr)
    marked = props(businessCalendar='"support"')
    found = of_rule(check(write(tmp_path, process, tweak=lambda xml: xml.replace(
        '<bpmn:timerEventDefinition>', marked + '<bpmn:timerEventDefinition>'))), "crmflow/timer")
    assert len(found) == 1 and expected in found[0].message, [d.text() for d in found]


def test_business_calendar_on_an_hours_duration_is_fine(tmp_path: Path) -> None:
    marked = props(businessCalendar='"support"')
    found = check(write(tmp_path, timer("timeDuration", '"PT4H"'), tweak=lambda xml: xml.replace(
        '<bpmn:timerEventDefinition>', marked + '<bpmn:timerEventDefinition>')))
    assert of_rule(found, "crmflow/timer") == []


def test_pre_and_post_scripts_on_a_script_task_are_warned_as_never_running(tmp_path: Path) -> None:
    ext = ('<bpmn:extensionElements><spiffworkflow:preScript>a = 1</spiffworkflow:preScript>'
           '<spiffworkflow:postScript>c = 2</spiffworkflow:postScript></bpmn:extensionElements>')
    found = of_rule(check(write(tmp_path, with_node("scriptTask", ext + script("b = 2")))),
                    "crmflow/script-task-prescript")
    assert [d.severity for d in found] == [WARNING, WARNING]
    assert "pre-script" in found[0].message and "post-script" in found[1].message
    assert all(d.element_id == "step" and d.line > 0 for d in found)
    # the same scripts on a user task run, so they are only compiled, not warned about
    assert "crmflow/script-task-prescript" not in rules(check(write(tmp_path / "u", with_node("userTask", ext))))
