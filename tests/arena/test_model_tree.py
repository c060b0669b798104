"""`crmflow deploy DIR` understands spiff-arena's process-model folder tree.

Groups (process_group.json) hold models (process_model.json with primary_process_id and
primary_file_name); a call activity or business-rule task may name a process or decision in
any other model folder; forms are named relative to their model folder.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from arena_support import MODELS, NOTIFY, QUOTE, REVIEW
from typer.testing import CliRunner

from crmflow import cli
from engine import DefinitionError, Engine
from engine.model_tree import find_root, find_tree


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the spiff-arena model tree that a test may change."""
    copy = tmp_path / "process-models"
    shutil.copytree(MODELS, copy)
    return copy


@pytest.fixture
def plain(make_engine: Callable[..., Engine]) -> Engine:
    return make_engine()


def test_the_tree_is_read_with_its_groups_and_models() -> None:
    assert find_root(MODELS) == MODELS.resolve()
    assert find_root(MODELS / "sales" / "quote") == MODELS.resolve()
    tree = find_tree([MODELS])
    assert tree is not None
    assert {m.identifier for m in tree.models} >= {"sales/quote", "shared/notify-customer", "people/review-request"}
    assert {g.identifier: g.display_name for g in tree.groups}["sales"] == "Sales"
    quote = next(m for m in tree.models if m.identifier == "sales/quote")
    assert (quote.primary_process_id, quote.primary_file_name) == (QUOTE, "quote.bpmn")


def test_crmflow_deploy_tree_from_the_command_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli.app, ["--db", f"sqlite:///{tmp_path}/cli.db", "deploy", str(MODELS), "--json"])
    assert result.exit_code == 0, result.output
    versions = {v["process_id"]: v["file"] for v in json.loads(result.output)["versions"]}
    assert versions[QUOTE] == "sales/quote/quote.bpmn"
    assert versions[NOTIFY] == "shared/notify-customer/notify-customer.bpmn"
    assert len(versions) == 9


def test_deploying_one_model_folder_resolves_calls_into_sibling_folders(plain: Engine) -> None:
    result = plain.deploy([MODELS / "sales" / "quote"])
    assert [v.process_id for v in result.versions] == [QUOTE]  # only the given model becomes a version
    started = plain.start(QUOTE, {"customer": "Ada"}, user="ann")
    [task] = started.open_tasks
    done = plain.complete_task(task.id, "ann", {"amount": 500})
    data = plain.get_instance(done.id, with_history=False).data
    assert done.status == "completed"
    assert data["discount"] == 0 and data["notice"].startswith("Dear Ada")  # shared/ decision and process


def test_a_single_diagram_file_of_a_model_deploys_too(plain: Engine) -> None:
    result = plain.deploy([MODELS / "sales" / "quote" / "quote.bpmn"])
    assert [v.process_id for v in result.versions] == [QUOTE]


def test_the_same_tree_elsewhere_is_the_same_version(plain: Engine, tree: Path) -> None:
    plain.deploy([MODELS])
    again = plain.deploy([tree])
    assert all(not v.changed for v in again.versions)


def test_equal_file_names_in_two_models_do_not_collide(plain: Engine, tree: Path) -> None:
    for model in ("sales/quote", "shared/notify-customer"):
        folder = tree / model
        diagram = next(folder.glob("*.bpmn"))
        diagram.rename(folder / "main.bpmn")
        meta = json.loads((folder / "process_model.json").read_text())
        meta["primary_file_name"] = "main.bpmn"
        (folder / "process_model.json").write_text(json.dumps(meta))
    files = {v.process_id: v.file for v in plain.deploy([tree]).versions}
    assert files[QUOTE] == "sales/quote/main.bpmn" and files[NOTIFY] == "shared/notify-customer/main.bpmn"


def test_forms_are_named_from_the_tree_root(plain: Engine) -> None:
    plain.deploy([MODELS / "people"])
    [task] = plain.start(REVIEW, {"reviewer": "bob", "title": "t"}, user="ann").open_tasks
    assert task.form == "people/review-request/review-schema.json"


def test_a_missing_called_process_names_it(plain: Engine, tree: Path) -> None:
    shutil.rmtree(tree / "shared" / "notify-customer")
    with pytest.raises(DefinitionError, match=NOTIFY):
        plain.deploy([tree / "sales"])


def test_a_process_id_defined_twice_in_the_tree_is_refused(plain: Engine, tree: Path) -> None:
    twin = tree / "other" / "notify-copy"
    shutil.copytree(tree / "shared" / "notify-customer", twin)
    with pytest.raises(DefinitionError, match=f"'{NOTIFY}' is defined in more than one diagram"):
        plain.deploy([tree / "sales" / "quote"])


def test_primary_process_id_must_be_in_the_primary_file(plain: Engine, tree: Path) -> None:
    meta_file = tree / "sales" / "quote" / "process_model.json"
    meta = json.loads(meta_file.read_text())
    meta["primary_process_id"] = "Process_missing"
    meta_file.write_text(json.dumps(meta))
    with pytest.raises(DefinitionError, match=r"process_model.json: primary_process_id 'Process_missing' is not a "
                                              rf"process of quote.bpmn \(it has {QUOTE}\)"):
        plain.deploy([tree])


def test_primary_file_name_must_exist(plain: Engine, tree: Path) -> None:
    meta_file = tree / "sales" / "quote" / "process_model.json"
    meta_file.write_text(json.dumps({"display_name": "Quote", "primary_file_name": "gone.bpmn"}))
    with pytest.raises(DefinitionError, match="primary_file_name 'gone.bpmn' is not in"):
        plain.deploy([tree])


def test_a_broken_process_model_json_names_the_file(plain: Engine, tree: Path) -> None:
    (tree / "sales" / "quote" / "process_model.json").write_text("{not json")
    with pytest.raises(DefinitionError, match=r"quote/process_model.json: not valid JSON"):
        plain.deploy([tree])


def test_paths_from_two_trees_are_refused(plain: Engine, tree: Path) -> None:
    with pytest.raises(DefinitionError, match="one spiff-arena process-model tree at a time"):
        plain.deploy([MODELS / "sales", tree / "people"])


def test_an_ordinary_folder_is_not_a_tree(tmp_path: Path) -> None:
    (tmp_path / "a.bpmn").write_text("<x/>")
    assert find_tree([tmp_path]) is None and find_root(tmp_path) is None
