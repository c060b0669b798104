"""`crmflow validate` through its command line: formats, exit codes, every problem in one run,
the context it builds (handlers, lane map, deployed definitions, read-only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bpmn_builder import Process, service, timer_duration
from typer.testing import CliRunner
from validation_helpers import FIXTURES, baseline, write

from crmflow.cli import app
from engine import Engine

LINE = r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning) (?P<rule>\S+) (?P<el>\S+)"


def run(*args: str, cwd: Path | None = None, monkeypatch: pytest.MonkeyPatch | None = None):
    if cwd is not None and monkeypatch is not None:
        monkeypatch.chdir(cwd)
    return CliRunner().invoke(app, ["validate", *args])


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No default crmflow.db or processes/ of the developer's checkout leaks into these runs."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CRMFLOW_DB", raising=False)


def three_problems() -> Process:
    """An unquoted timer, a script that imports os, and an unregistered handler."""
    p = Process("three", "Three problems")
    p.node("start", "startEvent", "Start").node("wait", "intermediateCatchEvent", "Wait", timer_duration("P3D"))
    p.node("calc", "scriptTask", "Calc", "<bpmn:script>import os</bpmn:script>")
    p.node("call", "serviceTask", "Call", service("nobody/knows_this"))
    p.node("end", "endEvent", "End")
    return p.chain("start", "wait", "calc", "call", "end")


def test_clean_diagram_exits_0(tmp_path: Path) -> None:
    result = run(str(write(tmp_path / "d", baseline())))
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "1 file checked: 0 errors, 0 warnings"


def test_all_problems_in_one_run_text(tmp_path: Path) -> None:
    import re

    path = write(tmp_path / "d", three_problems())
    result = run(str(path))
    assert result.exit_code == 1
    lines = [m for line in result.output.splitlines() if (m := re.match(LINE, line))]
    assert sorted((m["rule"], m["el"]) for m in lines) == [
        ("crmflow/expression", "calc"), ("crmflow/timer", "wait"), ("crmflow/unknown-handler", "call"),
    ]
    assert all(m["file"] == str(path) and int(m["line"]) > 0 for m in lines)
    assert '"Wait": timer duration: P3D is not quoted' in result.output
    assert '(write "P3D" with the quotes)' in result.output
    assert result.output.strip().endswith("1 file checked: 3 errors, 0 warnings")


def test_json_format(tmp_path: Path) -> None:
    result = run(str(write(tmp_path / "d", three_problems())), "--format", "json")
    assert result.exit_code == 1
    document = json.loads(result.output)
    assert document["files"] == 1 and document["errors"] == 3 and document["warnings"] == 0
    first = document["diagnostics"][0]
    assert set(first) == {"file", "line", "column", "severity", "rule", "message", "element_id", "name", "hint"}
    assert {d["rule"] for d in document["diagnostics"]} == {"crmflow/timer", "crmflow/expression",
                                                            "crmflow/unknown-handler"}


def test_global_json_flag_means_json(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["--json", "validate", str(write(tmp_path / "d", baseline()))])
    assert result.exit_code == 0 and json.loads(result.output)["errors"] == 0


def test_warnings_alone_exit_0() -> None:
    result = run(str(FIXTURES / "signavio.bpmn"))
    assert result.exit_code == 0
    assert "warning crmflow/not-executable" in result.output


def test_bad_format_is_a_usage_error(tmp_path: Path) -> None:
    assert run(str(write(tmp_path / "d", baseline())), "--format", "xml").exit_code == 2


def test_default_path_is_processes(tmp_path: Path) -> None:
    write(tmp_path / "processes", baseline())
    result = run()
    assert result.exit_code == 0 and "1 file checked" in result.output


def test_registered_handlers_are_known(tmp_path: Path) -> None:
    from crmflow.settings import build_registry

    names = build_registry().names()
    if not names:
        pytest.skip("no handlers registered in this checkout")
    p = Process("svc", "Svc")
    p.node("start", "startEvent", "Start").node("call", "serviceTask", "Call", service(names[0]))
    p.node("end", "endEvent", "End").chain("start", "call", "end")
    result = run(str(write(tmp_path / "d", p)))
    assert "crmflow/unknown-handler" not in result.output, result.output


def test_lane_map_found_beside_the_diagrams(tmp_path: Path) -> None:
    folder = tmp_path / "procs"
    folder.mkdir()
    for name in ("spiff_arena.bpmn", "call-schema.json", "call-uischema.json"):
        (folder / name).write_text((FIXTURES / name).read_text())
    (folder / "lanes.json").write_text(json.dumps({"Marketing": {"queue": "mkt", "groups": ["mkt"]}}))
    result = run(str(folder), "--format", "json")
    rules = {d["rule"] for d in json.loads(result.output)["diagnostics"]}
    assert "crmflow/lane-unmapped" in rules
    (folder / "lanes.json").write_text(json.dumps({"Sales": {"queue": "sales", "groups": ["sales"]}}))
    result = run(str(folder), "--format", "json")
    assert "crmflow/lane-unmapped" not in {d["rule"] for d in json.loads(result.output)["diagnostics"]}


def test_broken_lane_map_is_reported(tmp_path: Path) -> None:
    (tmp_path / "lanes.json").write_text("{broken")
    result = run(str(write(tmp_path / "d", baseline())), "--lanes", str(tmp_path / "lanes.json"))
    assert result.exit_code == 1 and "crmflow/lane-map" in result.output


MESSAGES = '<bpmn:message id="m_paid" name="order_paid"/>'
MESSAGE_DEF = '<bpmn:messageEventDefinition messageRef="m_paid"/>'


def thrower() -> Process:
    p = Process("thrower", "Thrower", root_elements=MESSAGES)
    p.node("start", "startEvent", "Start").node("tell", "intermediateThrowEvent", "Tell", MESSAGE_DEF)
    return p.node("end", "endEvent", "End").chain("start", "tell", "end")


def catcher() -> Process:
    p = Process("catcher", "Catcher", root_elements=MESSAGES)
    p.node("start", "startEvent", "Paid", MESSAGE_DEF).node("book", "userTask", "Book")
    return p.node("end", "endEvent", "End").chain("start", "book", "end")


def test_deployed_catchers_and_processes_count_when_a_db_is_given(tmp_path: Path) -> None:
    db = tmp_path / "deployed.db"
    eng = Engine(f"sqlite:///{db}")
    try:
        eng.deploy([write(tmp_path / "deployed", catcher())])
    finally:
        eng.close()
    path = write(tmp_path / "new", thrower())
    assert "crmflow/message-no-catcher" in run(str(path)).output
    before = db.stat().st_mtime_ns
    result = run(str(path), "--db", f"sqlite:///{db}")
    assert result.exit_code == 0 and "crmflow/message-no-catcher" not in result.output, result.output
    assert db.stat().st_mtime_ns == before


def test_default_db_file_is_used_only_when_it_exists(tmp_path: Path) -> None:
    path = write(tmp_path / "new", thrower())
    assert run(str(path)).exit_code == 0
    assert not (tmp_path / "crmflow.db").exists()  # validation never creates a database
    eng = Engine(f"sqlite:///{tmp_path / 'crmflow.db'}")
    try:
        eng.deploy([write(tmp_path / "deployed", catcher())])
    finally:
        eng.close()
    assert "crmflow/message-no-catcher" not in run(str(path)).output


def test_unreadable_db_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "crmflow.db").write_bytes(b"not a database")
    result = run(str(write(tmp_path / "d", baseline())))
    assert result.exit_code == 0 and "crmflow/context" in result.output
