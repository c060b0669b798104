"""Deploy runs the checks of `crmflow validate` (issue 15): the same findings, refused on errors
unless forced, warnings handed back; decisions resolve against deployed DMN; what validate
refuses (compensation, complex gateway, a garbage timer) deploy refuses with the same line."""

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
from engine.errors import DefinitionError, DeployRefused
from engine.validation import ValidationContext, validate

ELEMENTS = Path(__file__).parents[1] / "diagrams" / "elements"


@pytest.fixture
def eng(db_url: str):
    engine = Engine(db_url)  # SQLite, or PostgreSQL with CRMFLOW_TEST_DB
    yield engine
    engine.close()


def scripted(script: str, pid: str = "scripted") -> Process:
    p = Process(pid, "Scripted")
    p.node("start", "startEvent", "Start").node("calc", "scriptTask", "Calc", f"<bpmn:script>{script}</bpmn:script>")
    p.node("end", "endEvent", "End")
    return p.chain("start", "calc", "end")


def test_deploy_refuses_what_validate_reports_naming_file_line_and_element(eng: Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "d", scripted("import os"))
    with pytest.raises(DeployRefused) as caught:
        eng.deploy([path])
    message = str(caught.value)
    assert "deploy refused: 1 error" in message and "--force" in message
    assert re.search(rf"{re.escape(str(path))}:\d+:0: error crmflow/expression calc \"Calc\"", message)
    assert [d.rule for d in caught.value.diagnostics if d.is_error] == ["crmflow/expression"]
    assert validate([path]).diagnostics == caught.value.diagnostics  # the very same findings
    assert eng.list_definitions() == []


def test_force_deploys_anyway_and_returns_the_findings(eng: Engine, tmp_path: Path) -> None:
    path = write(tmp_path / "d", scripted("import os"))
    result = eng.deploy([path], force=True)
    assert [v.process_id for v in result.versions] == ["scripted"]
    assert [d.rule for d in result.warnings] == ["crmflow/expression"]


def test_warnings_come_back_with_a_clean_deploy(eng: Engine, tmp_path: Path) -> None:
    p = Process("thrower", "Thrower", root_elements='<bpmn:message id="m" name="nobody_listens"/>')
    p.node("start", "startEvent", "Start")
    p.node("tell", "intermediateThrowEvent", "Tell", '<bpmn:messageEventDefinition messageRef="m"/>')
    p.node("end", "endEvent", "End").chain("start", "tell", "end")
    result = eng.deploy([write(tmp_path / "d", p)])
    assert result.versions[0].changed
    assert [d.rule for d in result.warnings] == ["crmflow/message-no-catcher"]
    assert result.to_dict()["warnings"][0]["element_id"] == "tell"


def test_cli_deploy_prints_the_errors_and_exits_1_unless_forced(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CRMFLOW_DB", raising=False)
    path = write(tmp_path / "d", scripted("import os"))
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    refused = CliRunner().invoke(app, ["deploy", str(path), "--db", db])
    assert refused.exit_code == 1, refused.output
    assert re.search(r"scripted\.bpmn:\d+:0: error crmflow/expression calc", refused.output)
    assert refused.output.count("error crmflow/expression") == 1 and "deploy refused" in refused.output
    assert "Traceback" not in refused.output
    forced = CliRunner().invoke(app, ["deploy", str(path), "--db", db, "--force"])
    assert forced.exit_code == 0, forced.output
    assert "scripted" in forced.output and "crmflow/expression" in forced.output


def test_a_diagram_deployed_alone_uses_the_deployed_dmn(eng: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "set"
    folder.mkdir()
    dmn = shutil.copy(ELEMENTS / "discount.dmn", folder)
    bpmn = shutil.copy(ELEMENTS / "business_rule.bpmn", tmp_path)
    assert eng.deploy([dmn]).versions == []  # decisions only: stored for later diagrams
    eng.deploy([bpmn])
    iid = eng.start("el_dmn", {"customer_type": "gold", "amount": 5000}).id
    assert eng.get_instance(iid).data["discount"] == 15


def test_validate_knows_deployed_decisions_too(eng: Engine, tmp_path: Path) -> None:
    bpmn = shutil.copy(ELEMENTS / "business_rule.bpmn", tmp_path)
    with pytest.raises(DeployRefused, match="decision 'discount_decision' is not in any validated"):
        eng.deploy([bpmn])
    eng.deploy([ELEMENTS / "discount.dmn"])
    assert [d for d in eng.check([bpmn]).diagnostics if d.is_error] == []


UNSUPPORTED = {
    "complex": ('<bpmn:complexGateway id="cx" name="Complex"/>', "cx", "complex gateway"),
    "compensation": ('<bpmn:intermediateThrowEvent id="undo" name="Undo">'
                     "<bpmn:compensateEventDefinition/></bpmn:intermediateThrowEvent>", "undo", "compensation"),
}


@pytest.mark.parametrize("kind", sorted(UNSUPPORTED))
def test_unsupported_elements_same_refusal_with_line_in_validate_and_deploy(
        kind: str, eng: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    element, element_id, words = UNSUPPORTED[kind]
    p = Process("odd", "Odd")
    p.node("start", "startEvent", "Start").node("end", "endEvent", "End").chain("start", "end")
    path = write(tmp_path / "d", p, tweak=lambda xml: xml.replace('<bpmn:endEvent id="end"',
                                                                  element + '<bpmn:endEvent id="end"'))
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if f'id="{element_id}"' in text)
    validated = [d for d in validate([path], ValidationContext()).diagnostics
                 if d.rule == "crmflow/unsupported-element"]
    assert [(d.element_id, d.line) for d in validated] == [(element_id, line)]
    assert words in validated[0].message
    with pytest.raises(DeployRefused) as caught:
        eng.deploy([path])
    assert validated[0].text() in str(caught.value)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CRMFLOW_DB", raising=False)
    cli = CliRunner().invoke(app, ["validate", str(path)])
    assert validated[0].text() in cli.output


@pytest.mark.parametrize("expression", ['"soon"', "soon(", '"P3X"', "P3D"])
def test_a_garbage_timer_is_refused_at_validate_and_deploy(expression: str, eng: Engine, tmp_path: Path) -> None:
    p = Process("waits", "Waits")
    p.node("start", "startEvent", "Start").node("wait", "intermediateCatchEvent", "Wait", timer_duration(expression))
    p.node("end", "endEvent", "End").chain("start", "wait", "end")
    path = write(tmp_path / "d", p)
    assert [d.element_id for d in validate([path]).diagnostics if d.rule == "crmflow/timer"] == ["wait"]
    with pytest.raises(DeployRefused, match=r"waits\.bpmn:\d+:0: error crmflow/timer wait \"Wait\""):
        eng.deploy([path])


def test_a_refusal_is_a_definition_error_for_existing_callers(eng: Engine, tmp_path: Path) -> None:
    with pytest.raises(DefinitionError):
        eng.deploy([write(tmp_path / "d", scripted("import os"))])
