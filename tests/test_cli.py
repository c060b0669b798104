"""The `crmflow` CLI, driven only through its command line.

One story runs a diagram from deploy to completion; the error tests check that every user
mistake gives one `error:` line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner, Result

from crmflow import cli, render
from engine import NotFound

REPO = Path(__file__).resolve().parents[1]

REVIEW_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="defs_review" targetNamespace="http://crmflow.example/test">
  <bpmn:process id="lead_review" name="Lead review" isExecutable="true">
    <bpmn:startEvent id="start" name="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="review" name="Review lead">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:intermediateCatchEvent id="wait_hour" name="Wait an hour">
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:timerEventDefinition id="td1">
        <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">"PT1H"</bpmn:timeDuration>
      </bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:endEvent id="end" name="End"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
    <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="wait_hour"/>
    <bpmn:sequenceFlow id="f3" sourceRef="wait_hour" targetRef="end"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram_review">
    <bpmndi:BPMNPlane id="plane_review" bpmnElement="lead_review">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="100" y="100" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="review_di" bpmnElement="review"><dc:Bounds x="190" y="78" width="100" height="80"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="wait_hour_di" bpmnElement="wait_hour">
        <dc:Bounds x="342" y="100" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_di" bpmnElement="end"><dc:Bounds x="432" y="100" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1"><di:waypoint x="136" y="118"/><di:waypoint x="190" y="118"/>
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2"><di:waypoint x="290" y="118"/><di:waypoint x="342" y="118"/>
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f3_di" bpmnElement="f3"><di:waypoint x="378" y="118"/><di:waypoint x="432" y="118"/>
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CRMFLOW_DB", "CRMFLOW_DEBUG", "CRMFLOW_HANDLERS", "CRMFLOW_USER"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


@pytest.fixture
def diagram(tmp_path: Path) -> Path:
    path = tmp_path / "processes" / "review.bpmn"
    path.parent.mkdir()
    path.write_text(REVIEW_BPMN)
    return path


def run(db: str, *args: str) -> Result:
    return CliRunner().invoke(cli.app, ["--db", db, *args])


def ok(db: str, *args: str) -> Result:
    result = run(db, *args)
    assert result.exit_code == 0, (args, result.output)
    return result


def as_json(db: str, *args: str) -> object:
    return json.loads(ok(db, *args, "--json").stdout)


def assert_one_error_line(result: Result, code: int = 1, contains: str = "") -> str:
    """Exit `code`, exactly one `error:` line on stderr, nothing on stdout, no traceback anywhere."""
    assert result.exit_code == code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert contains.lower() in lines[0].lower(), lines[0]
    return lines[0]


def pick_as(db: str, user: str, task_id: str) -> None:
    """Completing needs an active user who picked the task (one completion path: `Worklist.complete`);
    `user` is made an admin here so the test's diagram needs no lanes."""
    if user not in run(db, "users", "list").stdout:
        ok(db, "users", "add", user, "--groups", "admin")
    ok(db, "pick", task_id, "--user", user)


def history_line(text: str, *needles: str) -> str:
    """The one History line mentioning every needle (fails if none does)."""
    story = text.split("History", 1)[1]
    found = [line for line in story.splitlines() if all(n in line for n in needles)]
    assert found, f"no history line with {needles} in:\n{story}"
    return found[0]


# -- the whole story ------------------------------------------------------------------------
def test_story_deploy_start_complete_by_prefix_timer_tick_show(db: str, diagram: Path) -> None:
    deployed = ok(db, "deploy", str(diagram.parent))
    assert "lead_review" in deployed.stdout and "new version" in deployed.stdout
    again = as_json(db, "deploy", str(diagram))
    assert again["versions"][0]["version"] == 1 and again["versions"][0]["changed"] is False
    assert [d["process_id"] for d in as_json(db, "definitions")] == ["lead_review"]

    started = as_json(db, "start", "lead_review", "--key", "LEAD-7", "--data", '{"lead_id": 7}', "--user", "ann")
    instance_id = started["id"]
    assert started["status"] == "waiting" and started["business_key"] == "LEAD-7"

    open_tasks = as_json(db, "tasks", "--instance", str(instance_id))
    assert [t["element_id"] for t in open_tasks] == ["review"]
    task_id = open_tasks[0]["id"]
    assert task_id in ok(db, "tasks").stdout

    pick_as(db, "bob", task_id[:8])
    done = ok(db, "complete", task_id[:8], "--user", "bob", "--data", '{"score": 80}')
    assert f"completed task {task_id}" in done.stdout
    assert as_json(db, "tasks") == []

    pending = as_json(db, "timers")
    assert [(t["instance_id"], t["element_id"]) for t in pending] == [(instance_id, "wait_hour")]
    due = datetime.fromisoformat(pending[0]["due_at"])
    started_at = datetime.fromisoformat(started["created_at"])
    assert (
        timedelta(minutes=59)
        < due.replace(tzinfo=due.tzinfo or UTC) - started_at.replace(tzinfo=started_at.tzinfo or UTC)
        < timedelta(minutes=61)
    )

    early = as_json(db, "tick", "--now", (due - timedelta(minutes=1)).isoformat())
    assert early["timers_fired"] == []
    assert as_json(db, "show", str(instance_id))["status"] == "waiting"

    fired = as_json(db, "tick", "--now", (due + timedelta(hours=1)).isoformat())
    assert [f["element_id"] for f in fired["timers_fired"]] == ["wait_hour"]
    assert as_json(db, "timers") == []

    shown = ok(db, "show", str(instance_id)).stdout
    assert "status:       completed" in shown
    assert "LEAD-7" in shown
    assert re.search(r"^  score += 80$", shown, re.M) and re.search(r"^  lead_id += 7$", shown, re.M), shown
    assert "score=80" in history_line(shown, "completed", "Review lead", "bob")
    assert history_line(shown, "timer_fired", "wait_hour")
    assert history_line(shown, "instance_completed")

    detail = as_json(db, "show", str(instance_id))
    events = [(h["event"], h["element_id"], h["user"]) for h in detail["history"]]
    assert ("completed", "review", "bob") in events
    assert ("timer_fired", "wait_hour", None) in events
    assert events[-1][0] == "instance_completed"
    assert detail["data"] == {"lead_id": 7, "score": 80}
    assert [i["status"] for i in as_json(db, "instances", "--status", "completed")] == ["completed"]


def test_global_options_before_and_after_the_command_and_env(
    db: str, diagram: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(db, "deploy", str(diagram))
    before = CliRunner().invoke(cli.app, ["--db", db, "--json", "definitions"])
    after = CliRunner().invoke(cli.app, ["definitions", "--db", db, "--json"])
    assert before.exit_code == after.exit_code == 0, (before.output, after.output)
    assert json.loads(before.stdout) == json.loads(after.stdout)
    assert json.loads(before.stdout)[0]["process_id"] == "lead_review"
    monkeypatch.setenv("CRMFLOW_DB", db)
    from_env = CliRunner().invoke(cli.app, ["definitions", "--json"])
    assert json.loads(from_env.stdout) == json.loads(before.stdout)


def test_a_bare_path_means_a_sqlite_file(tmp_path: Path, diagram: Path) -> None:
    path = tmp_path / "bare.db"
    ok(str(path), "deploy", str(diagram))
    assert path.exists()
    assert as_json(f"sqlite:///{path}", "definitions")[0]["process_id"] == "lead_review"


def test_json_outputs_parse(db: str, diagram: Path) -> None:
    ok(db, "db", "upgrade")
    ok(db, "deploy", str(diagram))
    as_json(db, "start", "lead_review", "--key", "K1")
    for args in (
        ["definitions"],
        ["instances", "--key", "K1", "--limit", "5"],
        ["tasks", "--all"],
        ["timers"],
        ["incidents", "--all"],
        ["tick"],
        ["handlers"],
        ["show", "1"],
        ["db", "upgrade"],
    ):
        value = as_json(db, *args)
        assert isinstance(value, list | dict), args
    assert as_json(db, "instances", "--key", "nobody") == []


def test_readable_tables_are_aligned(db: str, diagram: Path) -> None:
    ok(db, "deploy", str(diagram))
    ok(db, "start", "lead_review", "--key", "K1")
    ok(db, "start", "lead_review", "--key", "A-LONGER-KEY")
    lines = ok(db, "instances").stdout.strip().splitlines()
    assert lines[0].split() == ["ID", "PROCESS", "VERSION", "KEY", "STATUS", "CREATED", "UPDATED", "ENDED"]
    status_column = lines[0].index("STATUS")
    assert all(line[status_column:].startswith("waiting") for line in lines[1:])
    assert "T" not in lines[1].split("  ")[-1]  # human dates, not raw ISO


FLAKY_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI"
    xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
    xmlns:di="http://www.omg.org/spec/DD/20100524/DI"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
    id="defs_flaky" targetNamespace="http://crmflow.example/test">
  <bpmn:process id="flaky" name="Flaky call" isExecutable="true">
    <bpmn:startEvent id="start" name="Start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:serviceTask id="call" name="Call CRM">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="test/flaky" resultVariable="answer">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="n" type="int" value="n"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end" name="End"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call"/>
    <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="end"/>
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram_flaky">
    <bpmndi:BPMNPlane id="plane_flaky" bpmnElement="flaky">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start"><dc:Bounds x="100" y="100" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="call_di" bpmnElement="call"><dc:Bounds x="190" y="78" width="100" height="80"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_di" bpmnElement="end"><dc:Bounds x="342" y="100" width="36" height="36"/>
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="f1_di" bpmnElement="f1"><di:waypoint x="136" y="118"/><di:waypoint x="190" y="118"/>
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="f2_di" bpmnElement="f2"><di:waypoint x="290" y="118"/><di:waypoint x="342" y="118"/>
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""

FLAKY_HANDLERS = """
import os


def flaky(ctx, n: int) -> int:
    if os.environ.get("CLI_TEST_CRM_DOWN"):
        raise RuntimeError("CRM is down")
    return n * 2


def register(registry):
    registry.register("test/flaky", flaky)
"""


def test_incident_listed_retried_by_tick_and_by_hand(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cli_test_flaky_mod.py").write_text(FLAKY_HANDLERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CRMFLOW_HANDLERS", "cli_test_flaky_mod")
    monkeypatch.setenv("CLI_TEST_CRM_DOWN", "1")
    (tmp_path / "flaky.bpmn").write_text(FLAKY_BPMN)
    ok(db, "deploy", str(tmp_path / "flaky.bpmn"))

    started = as_json(db, "start", "flaky", "--data", '{"n": 21}')
    assert started["status"] == "incident"
    [incident] = as_json(db, "incidents")
    assert "CRM is down" in incident["message"] and incident["attempts"] == 1
    assert "CRM is down" in ok(db, "incidents").stdout

    next_retry = datetime.fromisoformat(incident["next_retry_at"])
    tick = as_json(db, "tick", "--now", (next_retry + timedelta(seconds=1)).isoformat())
    assert tick["incidents_retried"] == [incident["id"]]
    assert as_json(db, "incidents")[0]["attempts"] == 2

    monkeypatch.delenv("CLI_TEST_CRM_DOWN")
    retried = as_json(db, "retry", str(incident["id"]))
    assert retried["status"] == "completed"
    assert as_json(db, "incidents") == []
    assert as_json(db, "incidents", "--all")[0]["state"] == "resolved"
    assert as_json(db, "show", str(started["id"]))["data"]["answer"] == 42
    assert_one_error_line(run(db, "retry", str(incident["id"])), contains="resolved")


def test_history_records_timer_fired_before_what_it_caused(db: str, diagram: Path) -> None:
    ok(db, "deploy", str(diagram))
    instance_id = as_json(db, "start", "lead_review")["id"]
    task_id = as_json(db, "tasks")[0]["id"]
    pick_as(db, "bob", task_id)
    ok(db, "complete", task_id, "--user", "bob")
    due = datetime.fromisoformat(as_json(db, "timers")[0]["due_at"])
    ok(db, "tick", "--now", (due + timedelta(minutes=1)).isoformat())
    events = [(h["event"], h["element_id"]) for h in as_json(db, "show", str(instance_id))["history"]]
    assert events.index(("timer_fired", "wait_hour")) < events.index(("completed", "wait_hour"))


# -- error paths: one line, non-zero, no traceback -------------------------------------------
def test_bad_json_in_data(db: str, diagram: Path) -> None:
    ok(db, "deploy", str(diagram))
    assert_one_error_line(run(db, "start", "lead_review", "--data", "{not json"), contains="--data is not valid JSON")
    assert_one_error_line(run(db, "start", "lead_review", "--data", "[1, 2]"), contains="JSON object")
    assert as_json(db, "instances") == []


def test_unknown_process(db: str, diagram: Path) -> None:
    ok(db, "deploy", str(diagram))
    assert_one_error_line(run(db, "start", "no_such_process"), contains="no_such_process")


def test_unknown_task(db: str) -> None:
    assert_one_error_line(run(db, "complete", "deadbeef", "--user", "bob"), contains="deadbeef")


def test_completing_twice(db: str, diagram: Path) -> None:
    ok(db, "deploy", str(diagram))
    ok(db, "start", "lead_review")
    task_id = as_json(db, "tasks")[0]["id"]
    pick_as(db, "bob", task_id)
    ok(db, "users", "add", "carol", "--groups", "admin")
    ok(db, "complete", task_id, "--user", "bob")
    line = assert_one_error_line(run(db, "complete", task_id, "--user", "carol"), contains="already completed")
    assert "bob" in line
    assert_one_error_line(run(db, "complete", task_id[:6], "--user", "carol"), contains="already completed")


def test_message_nobody_waits_for(db: str) -> None:
    assert_one_error_line(run(db, "message", "nobody"), contains="nobody")


def test_signal_broadcast(db: str) -> None:
    """`crmflow signal NAME --data` reaches every waiting instance and starts signal-start processes."""
    diagrams = REPO / "tests" / "conformance" / "diagrams"
    ok(db, "deploy", str(diagrams / "signal_catch_broadcast.bpmn"), str(diagrams / "signal_start.bpmn"))
    first = as_json(db, "start", "signal_catch_broadcast")["id"]
    sent = as_json(db, "signal", "price_list_changed", "--data", '{"list_name": "2027"}')
    assert sent["delivered"] == [first] and len(sent["started"]) == 1
    assert "caught by instances" in ok(db, "signal", "price_list_changed", "--data", '{"list_name": "x"}').output
    assert_one_error_line(run(db, "signal", "x", "--data", "[1]"), contains="--data")


def test_retry_unknown_incident(db: str) -> None:
    assert_one_error_line(run(db, "retry", "4242"), contains="4242")


def test_deploy_malformed_xml(db: str, tmp_path: Path) -> None:
    bad = tmp_path / "broken.bpmn"
    bad.write_text("<bpmn:definitions xmlns:bpmn='http://www.omg.org/spec/BPMN/20100524/MODEL'><oops>")
    assert_one_error_line(run(db, "deploy", str(bad)), contains="broken.bpmn")
    assert as_json(db, "definitions") == []


def test_deploy_missing_default_directory(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert_one_error_line(run(db, "deploy"), contains="processes")


def test_bad_now_and_due_before(db: str) -> None:
    assert_one_error_line(run(db, "tick", "--now", "tomorrow-ish"), contains="--now")
    assert_one_error_line(run(db, "timers", "--due-before", "soon"), contains="--due-before")


def test_unknown_instance(db: str) -> None:
    assert_one_error_line(run(db, "show", "99"), contains="99")


def test_usage_errors_exit_2(db: str) -> None:
    result = run(db, "show", "not-a-number")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert run(db, "no-such-command").exit_code == 2


def test_unexpected_exception_is_one_line_exit_3(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("engine.Engine.list_instances", boom)
    line = assert_one_error_line(run(db, "instances"), code=3, contains="internal error: RuntimeError: disk on fire")
    assert "CRMFLOW_DEBUG=1" in line
    monkeypatch.setenv("CRMFLOW_DEBUG", "1")
    debug = run(db, "instances")
    assert isinstance(debug.exception, RuntimeError)  # the traceback is there for whoever asked


# -- task id prefixes -----------------------------------------------------------------------
class FakeTasks:
    """Just enough of the engine for prefix resolution."""

    def __init__(self, open_ids: list[str], done_ids: list[str] = ()) -> None:  # type: ignore[assignment]
        self.open = [SimpleNamespace(id=i) for i in open_ids]
        self.done = [SimpleNamespace(id=i) for i in done_ids]

    def get_task(self, task_id: str) -> SimpleNamespace:
        for task in self.open + self.done:
            if task.id == task_id:
                return task
        raise NotFound(f"task {task_id} does not exist")

    def list_tasks(self, state: str = "open", limit: int | None = 100) -> list[SimpleNamespace]:
        return self.open if state == "open" else self.open + self.done


def test_prefix_resolution() -> None:
    eng = FakeTasks(["abc123", "abd456"], done_ids=["abc999", "zz1"])
    assert cli.resolve_task_id(eng, "abd") == "abd456"
    assert cli.resolve_task_id(eng, "abc") == "abc123"  # open tasks win over completed ones
    assert cli.resolve_task_id(eng, "abc999") == "abc999"  # exact id, even when completed
    assert cli.resolve_task_id(eng, "zz") == "zz1"  # the engine then says it was completed
    with pytest.raises(cli.CliError, match="ambiguous.*abc123.*abd456"):
        cli.resolve_task_id(eng, "ab")
    with pytest.raises(cli.CliError, match="no task id starts with 'q'"):
        cli.resolve_task_id(eng, "q")
    with pytest.raises(cli.CliError, match="required"):
        cli.resolve_task_id(eng, "  ")


def test_ambiguous_prefix_through_the_cli(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeTasks(["abc123", "abc456"])
    monkeypatch.setattr(cli.Engine, "get_task", lambda self, task_id: fake.get_task(task_id))
    monkeypatch.setattr(cli.Engine, "list_tasks", lambda self, state="open", **kw: fake.list_tasks(state))
    assert_one_error_line(run(db, "complete", "abc", "--user", "bob"), contains="ambiguous")


# -- handler registry composition -----------------------------------------------------------
def test_handlers_from_env_modules(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "cli_test_handlers_mod.py").write_text(
        "def echo(ctx, text: str) -> str:\n    return text\n\n"
        "def register(registry):\n    registry.register('test/echo', echo)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CRMFLOW_HANDLERS", " cli_test_handlers_mod , ")
    rows = as_json(db, "handlers")
    assert {"operation": "test/echo", "function": "cli_test_handlers_mod.echo"} in rows
    assert "test/echo" in ok(db, "handlers").stdout


def test_broken_handler_module_is_one_line(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMFLOW_HANDLERS", "no_such_handler_module_xyz")
    assert_one_error_line(run(db, "handlers"), contains="CRMFLOW_HANDLERS")
    assert as_json(db, "instances") == []  # read-only commands do not need the handlers


# -- rendering ------------------------------------------------------------------------------
def test_render_dates_and_deltas() -> None:
    assert render.when(datetime(2026, 1, 5, 9, 0)) == "2026-01-05 09:00:00Z"
    assert render.when("2026-01-05T10:00:00+01:00") == "2026-01-05 09:00:00Z"
    assert render.when(None) == "-"
    assert render.delta({"set": {"a": 1, "b": "x"}, "removed": ["c"]}) == 'set a=1, b="x"; removed c'
    assert render.delta({"code": "E1"}) == 'code="E1"'
    assert render.delta(None) == "-"
    assert render.table([], [("A", lambda r: r)], empty="(nothing)") == "(nothing)"
    assert render.table([1, 22], [("A", lambda r: r), ("B", lambda r: "x")]).splitlines() == [
        "A   B",
        "1   x",
        "22  x",
    ]


# -- the real entry point ---------------------------------------------------------------------
def test_python_dash_m_crmflow(db: str, diagram: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("CRMFLOW_DEBUG", None)

    def crmflow(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "crmflow", "--db", db, *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=diagram.parent.parent,
            timeout=120,
        )

    deployed = crmflow("deploy", "--json")  # default path: processes/
    assert deployed.returncode == 0, deployed.stderr
    assert json.loads(deployed.stdout)["versions"][0]["process_id"] == "lead_review"
    nobody = crmflow("message", "nobody")
    assert nobody.returncode == 1 and nobody.stdout == ""
    assert nobody.stderr.startswith("error: ") and nobody.stderr.count("\n") == 1
    assert "Traceback" not in nobody.stderr
