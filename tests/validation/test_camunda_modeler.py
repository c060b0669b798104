"""A diagram as Camunda Modeler writes it (issue 22 item 8): user-task attributes honoured, form
fields turned into a JSON Schema, every construct not run warned about per element and line,
scripts in other languages refused at deploy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from bpmn_builder import Process
from jsonschema.validators import Draft202012Validator
from validation_helpers import write

from engine import Engine, ManualClock
from engine.camunda import form_schema, juel_to_python
from engine.errors import DeployRefused
from engine.validation import validate
from engine.xml import parse_file

OFFER = Path(__file__).parents[1] / "diagrams" / "camunda" / "offer_review.bpmn"
START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture
def eng(db_url: str):
    engine = Engine(db_url, clock=ManualClock(START))  # SQLite, or PostgreSQL with CRMFLOW_TEST_DB
    yield engine
    engine.close()


def line_with(text: str) -> int:
    return next(n for n, line in enumerate(OFFER.read_text().splitlines(), 1) if text in line)


def test_validate_warns_per_construct_not_run_with_its_line_and_nothing_else() -> None:
    found = validate([OFFER]).diagnostics
    assert [(d.rule, d.severity, d.line, d.message.split(" ")[0]) for d in found] == [
        ("crmflow/camunda", "warning", line_with("<camunda:inputOutput>"), "camunda:inputOutput"),
        ("crmflow/camunda", "warning", line_with("<camunda:taskListener"), "camunda:taskListener"),
    ]
    assert all(d.element_id == "Activity_review" for d in found)
    # camunda:formData on a user task is not warned about: the worklists serve it as the task's form


def test_user_task_attributes_map_onto_crmflow_task_properties(eng: Engine) -> None:
    result = eng.deploy([OFFER])
    assert [d.rule for d in result.warnings] == ["crmflow/camunda"] * 2
    follow_up = START + timedelta(days=1)
    iid = eng.start("Process_offer_review", {"owner": "ann", "followUp": follow_up.isoformat()}).id
    [task] = eng.list_tasks(instance_id=iid)
    assert task.assignee == "ann"
    assert task.candidate_groups == ["sales", "managers"]
    assert task.priority == 2
    assert task.due_at == START + timedelta(days=2)
    assert task.follow_up_at == follow_up


def test_form_fields_become_a_json_schema() -> None:
    tree, _ = parse_file(OFFER)
    task = next(el for el in tree.getroot().iter() if el.get("id") == "Activity_review")
    schema = form_schema(task)
    Draft202012Validator.check_schema(schema)
    assert schema == {
        "type": "object", "title": "Review offer", "required": ["amount"],
        "properties": {
            "amount": {"type": "integer", "title": "Amount", "default": 100, "minimum": 1},
            "channel": {"type": "string", "title": "Channel", "enum": ["mail", "phone"],
                        "enumNames": ["Mail", "Phone"]},
        },
    }
    Draft202012Validator(schema).validate({"amount": 5, "channel": "mail"})


@pytest.mark.parametrize(("value", "kind", "python"), [
    ("${owner}", "assignee", "owner"), ("ann", "assignee", "'ann'"), ("2", "priority", "2"),
    ("${amount > 100 && !vip}", "priority", "amount > 100 and not vip"), ("sales,managers", "candidateGroups",
                                                                          "'sales,managers'"),
])
def test_juel_values_become_python_expressions(value: str, kind: str, python: str) -> None:
    assert juel_to_python(value, kind) == python


@pytest.mark.parametrize("language", ["javascript", "groovy"])
def test_a_script_in_another_language_is_refused_at_deploy(language: str, eng: Engine, tmp_path: Path) -> None:
    p = Process("scripted_js", "Scripted")
    p.node("start", "startEvent", "Start")
    p.node("calc", "scriptTask", "Calc", "<bpmn:script>execution.setVariable('x', 1)</bpmn:script>",
           attrs=f' scriptFormat="{language}"')
    p.node("end", "endEvent", "End").chain("start", "calc", "end")
    with pytest.raises(DeployRefused, match=rf"error crmflow/expression calc \"Calc\": script language "
                                            rf"'{language}' is not supported"):
        eng.deploy([write(tmp_path / "d", p)])
