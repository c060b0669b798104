"""Issue 22, the definition side: a message event without messageRef (item 2), `.bpmn20.xml`
files (4), one isExecutable rule naming the pool (5), clear deploy refusals (10), draw's plane
(11), validate on a fresh database (12)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from bpmn_builder import Process, timer_duration
from typer.testing import CliRunner
from validation_helpers import write

from crmflow.cli import app
from engine import Engine
from engine.drawing import render_svg
from engine.errors import DefinitionError, DeployRefused
from engine.validation import validate

ELEMENTS = Path(__file__).parents[1] / "diagrams" / "elements"


@pytest.fixture
def eng(db_url: str):
    engine = Engine(db_url)  # SQLite, or PostgreSQL with CRMFLOW_TEST_DB
    yield engine
    engine.close()


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CRMFLOW_DB", raising=False)
    return tmp_path


def line_of(path: Path, element_id: str) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), 1) if f'id="{element_id}"' in text)


# -- item 2: message event without messageRef ------------------------------------------------------

NO_REF = {
    "catch": ("intermediateCatchEvent", "wait", "<bpmn:messageEventDefinition/>"),
    "start": ("startEvent", "start", '<bpmn:messageEventDefinition id="med"/>'),
    "end": ("endEvent", "end", "<bpmn:messageEventDefinition/>"),
}


@pytest.mark.parametrize("where", sorted(NO_REF))
def test_message_event_without_message_ref_is_refused_with_element_and_line(
        where: str, eng: Engine, tmp_path: Path) -> None:
    kind, element_id, body = NO_REF[where]
    p = Process("no_ref", "No message ref")
    p.node("start", "startEvent", "Start", body if kind == "startEvent" else "")
    hour = ('<bpmn:timerEventDefinition><bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT1H"'
            "</bpmn:timeDuration></bpmn:timerEventDefinition>")
    p.node("wait", "intermediateCatchEvent", "Wait", body if element_id == "wait" else hour)
    p.node("end", "endEvent", "End", body if kind == "endEvent" else "").chain("start", "wait", "end")
    path = write(tmp_path / "d", p)
    found = [d for d in validate([path]).diagnostics if d.rule == "crmflow/message-ref"]
    assert [(d.element_id, d.line) for d in found] == [(element_id, line_of(path, element_id))]
    with pytest.raises(DeployRefused, match=rf"no_ref\.bpmn:{found[0].line}:0: error crmflow/message-ref "
                                            rf"{element_id} .*names no message"):
        eng.deploy([path])
    assert eng.list_definitions() == []


# -- item 4: .bpmn20.xml ----------------------------------------------------------------------------


def activiti_file(tmp_path: Path) -> Path:
    p = Process("activiti_style", "Exported by Activiti")
    p.node("start", "startEvent", "Start").node("work", "userTask", "Work").node("end", "endEvent", "End")
    target = tmp_path / "export" / "order.bpmn20.xml"
    target.parent.mkdir(parents=True)
    target.write_text(p.chain("start", "work", "end").xml(), encoding="utf-8")
    return target


def test_bpmn20_xml_deploys_validates_draws_and_is_found_in_folders(eng: Engine, tmp_path: Path,
                                                                    cli_home: Path) -> None:
    path = activiti_file(tmp_path)
    assert [v.process_id for v in eng.deploy([path]).versions] == ["activiti_style"]
    assert [v.process_id for v in eng.deploy([path.parent]).versions] == ["activiti_style"]  # folder scan
    assert validate([path.parent]).files == 1
    assert "<svg" in render_svg(path.read_bytes(), filename=str(path))
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    for args in (["validate", str(path)], ["validate", str(path.parent)], ["deploy", str(path), "--db", db],
                 ["draw", str(path), "--svg", str(tmp_path / "out.svg")]):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
    assert (tmp_path / "out.svg").read_text().startswith("<svg")


def test_a_non_diagram_file_still_names_the_accepted_kinds(eng: Engine, tmp_path: Path) -> None:
    other = tmp_path / "notes.xml"
    other.write_text("<notes/>")
    with pytest.raises(DefinitionError, match=r"\.bpmn20\.xml"):
        eng.deploy([other], force=True)


# -- item 5: one isExecutable rule --------------------------------------------------------------------

POOLS = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI" id="defs" targetNamespace="http://example.com">
  <bpmn:collaboration id="collab">
    <bpmn:participant id="p_run" name="Our side" processRef="run"/>
    <bpmn:participant id="p_doc" name="Customer" processRef="doc"/>
  </bpmn:collaboration>
  <bpmn:process id="run" name="Run" isExecutable="true">
    <bpmn:startEvent id="s" name="Start"/><bpmn:endEvent id="e" name="End"/>
    <bpmn:sequenceFlow id="f" sourceRef="s" targetRef="e"/>
  </bpmn:process>
  <bpmn:process id="doc" name="Customer side"{attr}>
    <bpmn:startEvent id="ds" name="Asks"/>
    <bpmn:serviceTask id="pay" name="Pays by card"/>
    <bpmn:endEvent id="de" name="Done"/>
    <bpmn:sequenceFlow id="df" sourceRef="ds" targetRef="pay"/>
    <bpmn:sequenceFlow id="df2" sourceRef="pay" targetRef="de"/>
  </bpmn:process>
{di}
</bpmn:definitions>
"""


def pools_di() -> str:
    """Shapes and edges for every element of POOLS (no-bpmndi is an error too)."""
    shapes = [("p_run", 0, 0, 400, 100), ("p_doc", 0, 120, 400, 100), ("s", 40, 30, 36, 36), ("e", 300, 30, 36, 36),
              ("ds", 40, 150, 36, 36), ("pay", 150, 130, 100, 80), ("de", 300, 150, 36, 36)]
    edges = [("f", 76, 48, 300, 48), ("df", 76, 168, 150, 168), ("df2", 250, 168, 300, 168)]
    out = ['<bpmndi:BPMNDiagram id="dia"><bpmndi:BPMNPlane id="plane" bpmnElement="collab">']
    horizontal = ' isHorizontal="true"'
    out += [f'<bpmndi:BPMNShape id="{i}_di" bpmnElement="{i}"{horizontal if i.startswith("p_") else ""}>'
            f'<dc:Bounds x="{x}" y="{y}" width="{w}" height="{h}"/></bpmndi:BPMNShape>' for i, x, y, w, h in shapes]
    out += [f'<bpmndi:BPMNEdge id="{i}_di" bpmnElement="{i}"><di:waypoint x="{a}" y="{b}"/><di:waypoint x="{c}" '
            f'y="{d}"/></bpmndi:BPMNEdge>' for i, a, b, c, d in edges]
    return "\n".join([*out, "</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>"])


def pools(attr: str) -> str:
    return POOLS.format(attr=attr, di=pools_di())


@pytest.mark.parametrize("attr", ["", ' isExecutable="false"'])
def test_a_documentation_pool_is_judged_the_same_by_validate_and_deploy(attr: str, eng: Engine,
                                                                         tmp_path: Path) -> None:
    path = tmp_path / "pools.bpmn"
    path.write_text(pools(attr))
    report = validate([path])
    assert [d.rule for d in report.diagnostics if d.is_error] == []
    [idle] = [d for d in report.diagnostics if d.rule == "crmflow/not-executable"]
    assert idle.element_id == "doc" and "pool 'Customer' (process doc) is not executable" in idle.message
    result = eng.deploy([path])  # the unconfigured service task of the customer's pool blocks nothing
    assert [v.process_id for v in result.versions] == ["run"]
    assert idle in result.warnings


def test_a_file_with_no_executable_process_names_its_pools(eng: Engine, tmp_path: Path) -> None:
    path = tmp_path / "pools.bpmn"
    path.write_text(pools("").replace(' isExecutable="true"', ""))
    [warning] = [d for d in validate([path]).diagnostics if d.rule == "crmflow/not-executable"]
    assert "pool 'Our side' (process run)" in warning.message and "pool 'Customer'" in warning.message
    with pytest.raises(DefinitionError, match=r"pools\.bpmn:\d+: pool 'Our side' \(run\).*isExecutable=\"true\""):
        eng.deploy([path])


# -- item 11: draw picks the main plane ----------------------------------------------------------------

TWO_PLANES = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    id="defs" targetNamespace="http://example.com">
  <bpmn:process id="main" name="Main" isExecutable="true">
    <bpmn:startEvent id="s" name="Start"/>
    <bpmn:subProcess id="sub" name="Sub">
      <bpmn:startEvent id="ss" name="Sub start"/><bpmn:endEvent id="se" name="Sub end"/>
      <bpmn:sequenceFlow id="sf" sourceRef="ss" targetRef="se"/>
    </bpmn:subProcess>
    <bpmn:endEvent id="e" name="End"/>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="sub"/><bpmn:sequenceFlow id="f2" sourceRef="sub" targetRef="e"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="drill"><bpmndi:BPMNPlane id="drill_plane" bpmnElement="sub">
    <bpmndi:BPMNShape id="ss_di" bpmnElement="ss"><dc:Bounds x="10" y="10" width="36" height="36"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="se_di" bpmnElement="se"><dc:Bounds x="110" y="10" width="36" height="36"/></bpmndi:BPMNShape>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
  <bpmndi:BPMNDiagram id="whole"><bpmndi:BPMNPlane id="whole_plane" bpmnElement="main">
    <bpmndi:BPMNShape id="s_di" bpmnElement="s"><dc:Bounds x="10" y="10" width="36" height="36"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="sub_di" bpmnElement="sub"><dc:Bounds x="80" y="0" width="100" height="80"/></bpmndi:BPMNShape>
    <bpmndi:BPMNShape id="e_di" bpmnElement="e"><dc:Bounds x="220" y="10" width="36" height="36"/></bpmndi:BPMNShape>
  </bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def test_draw_picks_the_main_process_plane_and_diagram_chooses(tmp_path: Path, cli_home: Path) -> None:
    xml = TWO_PLANES.encode()
    drawn = set(re.findall(r'data-element-id="([^"]+)"', render_svg(xml)))
    assert {"s", "sub", "e"} <= drawn and "ss" not in drawn  # the whole process, not the drill-down
    chosen = render_svg(xml, diagram_id="drill")
    assert {"ss", "se"} <= set(re.findall(r'data-element-id="([^"]+)"', chosen))
    with pytest.raises(DefinitionError, match="no diagram 'nope' in this file \\(diagrams: drill, whole\\)"):
        render_svg(xml, diagram_id="nope")
    path = tmp_path / "two.bpmn"
    path.write_bytes(xml)
    result = CliRunner().invoke(app, ["draw", str(path), "--svg", str(tmp_path / "d.svg"), "--diagram", "drill"])
    assert result.exit_code == 0, result.output
    assert "ss" in re.findall(r'data-element-id="([^"]+)"', (tmp_path / "d.svg").read_text())


# -- item 12: validate on a fresh database ----------------------------------------------------------------


def test_validate_on_a_fresh_database_prints_no_sql_error(tmp_path: Path, cli_home: Path) -> None:
    path = shutil.copy(ELEMENTS / "business_rule.bpmn", tmp_path)
    shutil.copy(ELEMENTS / "discount.dmn", tmp_path)
    (tmp_path / "crmflow.db").touch()  # the default database file exists, but was never migrated
    result = CliRunner().invoke(app, ["validate", str(path), str(tmp_path / "discount.dmn")])
    assert result.exit_code == 0, result.output
    assert "no such table" not in result.output and "OperationalError" not in result.output
    assert "crmflow/context" not in result.output


# -- item 10: clear messages --------------------------------------------------------------------------


@pytest.mark.parametrize("expression", ["timedelta(days=3)", "timedelta(hours=1) * 2"])
def test_a_timer_giving_a_timedelta_is_named_at_validate(expression: str, eng: Engine, tmp_path: Path) -> None:
    p = Process("td", "Timedelta timer")
    p.node("start", "startEvent", "Start").node("wait", "intermediateCatchEvent", "Wait", timer_duration(expression))
    p.node("end", "endEvent", "End").chain("start", "wait", "end")
    path = write(tmp_path / "d", p)
    [found] = [d for d in validate([path]).diagnostics if d.rule == "crmflow/timer"]
    assert "gives a timedelta" in found.message and found.element_id == "wait" and found.line > 0
    with pytest.raises(DeployRefused, match="gives a timedelta"):
        eng.deploy([path])


FORCED = {
    "complex": ("cx", "complexGateway", "", "", r"the engine cannot execute a complex ?gateway"),
    "decision": ("rule", "businessRuleTask", "", ' xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
                 'camunda:decisionRef="d1"', r"business rule task names no decision: add <spiffworkflow:calledDec"),
    "call": ("callit", "callActivity", "", ' calledElement="nowhere"', r"called process 'nowhere' is not among"),
}


@pytest.mark.parametrize("case", sorted(FORCED))
def test_parser_refusals_name_file_line_element_and_what_to_do(case: str, eng: Engine, tmp_path: Path) -> None:
    element_id, kind, body, attrs, words = FORCED[case]
    p = Process("forced", "Forced")
    p.node("start", "startEvent", "Start").node(element_id, kind, "Thing", body, attrs=attrs)
    p.node("end", "endEvent", "End").chain("start", element_id, "end")
    path = write(tmp_path / "d", p)
    line = line_of(path, element_id)
    with pytest.raises(DefinitionError, match=rf"forced\.bpmn:{line}: {words}.*\(element {element_id}\b"):
        eng.deploy([path], force=True)  # past validate's refusal: the parser's own words, made plain


# -- item 13: map() and filter() -------------------------------------------------------------------------


def test_map_and_filter_pass_validate_and_run(eng: Engine, tmp_path: Path) -> None:
    script = "doubled = list(map(lambda v: v * 2, items))\nkept = list(filter(None, items))"
    p = Process("mapper", "Mapper")
    p.node("start", "startEvent", "Start").node("calc", "scriptTask", "Calc", f"<bpmn:script>{script}</bpmn:script>")
    p.node("end", "endEvent", "End").chain("start", "calc", "end")
    path = write(tmp_path / "d", p)
    assert [d for d in validate([path]).diagnostics if d.is_error] == []
    eng.deploy([path])
    data = eng.get_instance(eng.start("mapper", {"items": [0, 1, 2]}).id).data
    assert data["doubled"] == [0, 2, 4] and data["kept"] == [1, 2]
