"""Camunda generated forms (camunda:formData) are the task's form, and `spiffworkflow:variableName`
prefills the form from the values kept under that variable (issue 22 items 8 and 7)."""

from __future__ import annotations

from pathlib import Path

import pytest
from worklist_support import lane_process

from engine import Engine
from worklists.forms import FormInvalid
from worklists.service import Worklist

OFFER = Path(__file__).parents[1] / "diagrams" / "camunda" / "offer_review.bpmn"


def _task(wl_engine: Engine, iid: int) -> str:
    [task] = wl_engine.list_tasks(instance_id=iid)
    return task.id


def test_generated_form_fields_are_served_and_checked(wl: Worklist, wl_engine: Engine) -> None:
    wl_engine.deploy([OFFER])
    iid = wl_engine.start("Process_offer_review", {"owner": "ann", "followUp": None}).id
    task_id = _task(wl_engine, iid)
    shown = wl.form(task_id, "ann")
    assert shown.form == "camunda:formData"
    assert list(shown.schema["properties"]) == ["amount", "channel"]
    assert shown.schema["properties"]["channel"]["enum"] == ["mail", "phone"]
    assert shown.values == {"amount": 100}, "the field's defaultValue prefills it"
    with pytest.raises(FormInvalid) as err:
        wl.complete(task_id, "ann", {"amount": 0, "channel": "fax"})
    assert {e.field for e in err.value.errors} == {"amount", "channel"}
    done = wl.complete(task_id, "ann", {"channel": "mail"})
    assert done.data["amount"] == 100 and done.data["channel"] == "mail"


def test_variable_name_prefills_from_the_nested_values(wl: Worklist, wl_engine: Engine, tmp_path: Path) -> None:
    nested = tmp_path / "offer_nested.bpmn"
    nested.write_text(OFFER.read_text().replace(
        'xmlns:camunda=', 'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" xmlns:camunda=', 1
    ).replace("<camunda:formData>", "<spiffworkflow:variableName>offer</spiffworkflow:variableName><camunda:formData>"))
    wl_engine.deploy([nested])
    data = {"owner": "ann", "followUp": None, "amount": 1, "offer": {"amount": 7, "channel": "phone"}}
    iid = wl_engine.start("Process_offer_review", data).id
    task_id = _task(wl_engine, iid)
    assert wl.form(task_id, "ann").values == {"amount": 7, "channel": "phone"}
    done = wl.complete(task_id, "ann", {"amount": 8, "channel": "mail"})
    assert done.data["offer"] == {"amount": 8, "channel": "mail"} and done.data["amount"] == 1


def test_variable_name_prefills_a_file_form_too(wl: Worklist, wl_engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "nested_deal.bpmn"
    diagram = lane_process("nested_deal", [("qualify", "Sales", {"formJsonSchemaFilename": "discount.json"})])
    variable = "<spiffworkflow:variableName>offer</spiffworkflow:variableName>"
    path.write_text(diagram.replace("<bpmn:extensionElements>", "<bpmn:extensionElements>" + variable, 1))
    wl_engine.deploy([path], force=True)
    data = {"customer": "ACME", "note": "top level", "offer": {"note": "kept", "discount_percent": 9}}
    iid = wl_engine.start("nested_deal", data).id
    shown = wl.form(_task(wl_engine, iid), "ann")
    assert shown.values == {"note": "kept", "discount_percent": 9}, "the values under the variable, not the top level"
    assert shown.title == "Discount for ACME", "texts still see the whole case"
    fresh = wl_engine.start("nested_deal", {"customer": "ACME", "note": "top level"}).id
    assert wl.form(_task(wl_engine, fresh), "ann").values == {"discount_percent": 5}, "nothing kept yet: defaults"
