"""Forms: JSON Schema files prefilled and rendered from task data, validated field by field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from worklist_support import FORMS, start_deal

from engine import InvalidInput, NotFound
from worklists.forms import FormInvalid, Forms, coerce_values, field_errors, render_text

REPO_FORMS = Path(__file__).resolve().parents[2] / "processes"


@pytest.fixture
def forms() -> Forms:
    return Forms(FORMS)


def test_render_fills_defaults_data_and_texts(forms):
    shown = forms.render("discount.json", {"customer": "ACME", "note": "vip", "other": 1}, "Call {{ customer }}")
    assert shown.title == "Discount for ACME"
    assert shown.schema["properties"]["discount_percent"]["title"] == "Discount for ACME (%)"
    assert shown.instructions == "Call ACME"
    assert shown.values == {"note": "vip", "discount_percent": 5}, "task data over defaults, only form fields"


def test_templates_are_sandboxed_and_never_break_the_page():
    assert render_text("{{ ''.__class__.__mro__[1].__subclasses__() }}", {}) == (
        "{{ ''.__class__.__mro__[1].__subclasses__() }}"
    ), "unsafe attribute access is refused, the text is shown as written"
    assert render_text("{{ broken", {"x": 1}) == "{{ broken"
    assert render_text("Hello {{ missing }}!", {}) == "Hello !"
    assert render_text("{{ lead.email }}", {"lead": {"email": "a@b.c"}}) == "a@b.c"


def test_validate_fills_defaults_and_names_fields(forms):
    assert forms.validate("discount.json", {"decision": "reject"}) == {"decision": "reject", "discount_percent": 5}
    with pytest.raises(FormInvalid) as err:
        forms.validate("discount.json", {"decision": "maybe", "note": "x" * 30})
    assert {e.field: e.message for e in err.value.errors} == {
        "decision": 'must be one of "approve", "reject"',
        "note": "must be at most 20 characters",
    }
    assert isinstance(err.value, InvalidInput) and "decision: must be one of" in str(err.value)


def test_nested_defaults_and_no_form_means_no_checks(forms):
    out = forms.validate("discount.json", {"decision": "approve", "contact": {"email": "a@b.co"}})
    assert out["contact"] == {"email": "a@b.co", "phone": "n/a"}
    assert forms.validate(None, {"anything": 1}) == {"anything": 1}


def test_form_files_are_checked(forms, tmp_path):
    with pytest.raises(NotFound, match="form 'absent.json' not found"):
        forms.schema("absent.json")
    with pytest.raises(InvalidInput, match="outside the forms folder"):
        forms.schema("../lanes.json")
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "wrong.json").write_text(json.dumps({"type": "nonsense"}))
    local = Forms(tmp_path)
    with pytest.raises(InvalidInput, match="bad.json: not valid JSON"):
        local.schema("bad.json")
    with pytest.raises(InvalidInput, match="wrong.json: not a valid JSON Schema"):
        local.schema("wrong.json")


def test_html_strings_are_coerced_to_the_schema_types(forms):
    schema = forms.schema("discount.json")
    assert coerce_values(schema, {"discount_percent": "12.5", "decision": "approve", "note": ""}) == {
        "discount_percent": 12.5, "decision": "approve", "note": "",
    }
    assert coerce_values(schema, {"discount_percent": "lots"}) == {"discount_percent": "lots"}
    assert coerce_values(schema, {"discount_percent": " "}) == {}
    assert [e.field for e in field_errors(schema, {"decision": "approve", "discount_percent": "lots"})] == [
        "discount_percent"
    ]


def test_the_projects_forms_are_valid_schemas():
    repo = Forms(REPO_FORMS)
    names = sorted(p.name for p in (REPO_FORMS / "forms").glob("*.json"))
    assert names, "processes/forms has forms"
    for name in names:
        assert repo.schema(f"forms/{name}")["type"] == "object"


def test_worklist_form_of_a_task(wl, wl_engine, deal):
    task = start_deal(wl_engine, "F-1", customer="Globex")
    shown = wl.form(task)
    assert shown.form == "discount.json" and shown.title == "Discount for Globex"
    assert shown.instructions == "Call Globex about pricing"
    assert shown.values == {"discount_percent": 5}
    with pytest.raises(Exception, match="sam may not see"):
        wl.form(task, "sam")


def test_instructions_never_show_python_booleans_or_none():
    """Task texts are for people: a flag reads Yes/No, a missing value nothing (issue 13, bug 9)."""
    data = {"lead": {"duplicate": False, "vip": True, "phone": None}}
    text = "Duplicate: {{ lead.duplicate }}, VIP: {{ lead.vip }}, phone: {{ lead.phone }}."
    assert render_text(text, data) == "Duplicate: No, VIP: Yes, phone: ."


def test_lookup_fields_are_checked_against_their_records(tmp_path):
    """`x-lookup` names a record source the server provides; values outside it are field errors."""
    from worklists.lookups import Option

    class Accounts:
        noun = "account"

        def options(self, limit=500):
            return [Option(7, "Contoso"), Option(9, "Fabrikam")]

        def find(self, value):
            return next((o for o in self.options() if str(o.value) == str(value)), None)

    (tmp_path / "f.json").write_text(json.dumps({
        "type": "object", "properties": {
            "account_id": {"type": "integer", "x-lookup": "accounts"},
            "others": {"type": "array", "items": {"type": "integer", "x-lookup": "accounts"}}}}))
    forms = Forms(tmp_path, lookups={"accounts": Accounts()})
    assert forms.validate("f.json", {"account_id": 7, "others": [9]}) == {"account_id": 7, "others": [9]}
    with pytest.raises(FormInvalid) as err:
        forms.validate("f.json", {"account_id": 8, "others": [9, 1]})
    assert [(e.field, e.message) for e in err.value.errors] == [
        ("account_id", "is not a known account: 8 (choose one from the list)"),
        ("others.1", "is not a known account: 1 (choose one from the list)")]
    assert forms.render("f.json", {}).lookups == {"accounts": Accounts().options()}
    with pytest.raises(InvalidInput, match="names lookup\\(s\\) accounts that this server does not provide"):
        Forms(tmp_path, lookups={}).validate("f.json", {"account_id": 7})
    assert Forms(tmp_path).validate("f.json", {"account_id": 8}) == {"account_id": 8}, "no lookups: not checked"
