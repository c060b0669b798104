"""Analysts' scenario tests (`crmflow test`): the runner, its reports, its file checks and the CLI.

Shipped scenarios under processes/scenarios must all pass, and together they must walk
every element of the processes they cover; fixtures under tests/scenarios_fixtures show
that a broken expectation fails at the right step with what was expected and found.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from typer.testing import CliRunner

from crmflow import cli
from crmflow.scenarios import format_text, run_paths
from crmflow.scenarios.files import ScenarioFileError, load_file
from crmflow.scenarios.run import Report, Result, resolve, same
from crmflow.scenarios.schema import parse_duration

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "processes" / "scenarios"
FIXTURES = Path(__file__).parent / "scenarios_fixtures"
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"


def text_of(report: Report) -> str:
    return format_text(report)


def only(report: Report, name: str) -> Result:
    (result,) = [r for r in report.results if r.scenario.name == name]
    return result


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


# A scenario file in tmp_path that deploys the lead-to-invoice files of the repository.
L2I_HEAD = f"""
process: lead_to_invoice
business_key: L2I-9
deploy: [{ROOT}/processes/lead_to_invoice.bpmn, {ROOT}/processes/lead_scoring.dmn,
         {ROOT}/processes/discount_approval.dmn, {ROOT}/processes/territories.dmn]
seed:
  - price_list: {{name: Standard, as: std}}
  - product: {{number: CRM-PRO, name: Licence, price: "480.00"}}
  - product: {{number: CRM-ONB, name: Onboarding, prices: {{std: "3200.00"}}}}
start:
  data: {{inquiry: {{email: maria@northwind.example, company_name: Northwind, topic: CRM, lead_source: Web,
                    budget: 60000}}}}
"""


# -- the shipped scenarios -------------------------------------------------------------------
@pytest.fixture(scope="module")
def shipped() -> Report:
    return run_paths([SHIPPED])


def test_every_shipped_scenario_passes(shipped: Report) -> None:
    assert shipped.errors == []
    assert shipped.failed == 0, text_of(shipped)
    assert shipped.passed >= 27
    assert shipped.exit_code == 0


def test_shipped_lead_to_invoice_scenarios_name_every_path_of_the_issue(shipped: Report) -> None:
    names = {r.scenario.name for r in shipped.results if r.scenario.process == "lead_to_invoice"}
    for words in ("won and paid", "partial payment", "disqualified", "opportunity lost", "approved",
                  "rejected twice", "revised twice", "without revision", "validity runs out", "follow-up",
                  "repeat inquiry"):
        assert any(words in n for n in names), words


def test_shipped_scenarios_name_the_calendar_resource_and_territory_paths(shipped: Report) -> None:
    names = {r.scenario.process: set() for r in shipped.results}
    for r in shipped.results:
        names[r.scenario.process].add(r.scenario.name)
    for process, words in (("case_resolution", ("Friday-afternoon", "nobody free")),
                           ("lead_to_invoice", ("DACH", "North America", "inside sales (the default"))):
        for word in words:
            assert any(word in n for n in names[process]), (process, word)


def _flow_nodes(diagram: Path) -> tuple[set[str], dict[str, str]]:
    """Every flow node of the diagram's processes, and each boundary event's next element."""
    root = etree.parse(str(diagram)).getroot()
    nodes: set[str] = set()
    after_boundary: dict[str, str] = {}
    for process in root.iter(f"{BPMN}process"):
        flows = {f.get("sourceRef"): f.get("targetRef") for f in process.iter(f"{BPMN}sequenceFlow")}
        for el in process:
            if el.get("id") and not el.tag.endswith(("laneSet", "sequenceFlow", "textAnnotation", "association")):
                nodes.add(el.get("id"))
                if el.tag == f"{BPMN}boundaryEvent":
                    after_boundary[el.get("id")] = flows[el.get("id")]
    return nodes, after_boundary


def test_shipped_scenarios_walk_every_element_of_their_processes(shipped: Report) -> None:
    processes = {r.scenario.process for r in shipped.results}
    assert {"lead_to_invoice", "case_resolution", "campaign_execution", "quick_campaign"} <= processes
    for process in processes:
        diagram = ROOT / "processes" / f"{process}.bpmn"
        if not diagram.exists():
            continue
        covered = set().union(*(r.path for r in shipped.results if r.scenario.process == process))
        nodes, after_boundary = _flow_nodes(diagram)
        # a boundary timer leaves no 'completed' entry of its own: what follows it shows it fired
        covered |= {b for b, nxt in after_boundary.items() if nxt in covered}
        assert nodes - covered == set(), f"{process}: no scenario walks {sorted(nodes - covered)}"


# -- a failing scenario reports the failing step ------------------------------------------------
def test_a_failing_step_reports_number_yaml_expected_and_found(tmp_path: Path) -> None:
    path = write(tmp_path, "wrong_queue.yaml", L2I_HEAD + """
name: manager approval lands in the wrong queue
steps:
  - expect_task: {element: qualify_task, queue: Inside Sales}
  - complete: {element: qualify_task, user: ann, data: {decision: qualify, price_list_id: "${std.id}"}}
  - complete:
      element: work_opportunity
      user: ann
      data: {outcome: quote, discount_percent: 15, tax_rate: 20,
             quote_lines: [{product_number: CRM-PRO, quantity: 10}, {product_number: CRM-ONB, quantity: 1}]}
  - expect_task: {element: approve_discount, queue: sales}
  - expect_status: completed
""")
    line = path.read_text().splitlines().index("  - expect_task: {element: approve_discount, queue: sales}") + 1
    report = run_paths([path])
    result = report.results[0]
    assert (result.outcome, result.steps_run, report.exit_code) == ("failed", 3, 1)
    assert result.step is not None and (result.step.number, result.step.kind, result.step.line) == (
        4, "expect_task", line)
    assert result.step.source == "expect_task: {element: approve_discount, queue: sales}"
    assert result.expected == "task approve_discount with queue 'sales'".replace("'", "")
    assert result.found == "task approve_discount has queue sales-managers"
    assert result.context["open_tasks"] == ["approve_discount ('Approve discount') [queue sales-managers, "
                                            "lane Sales Manager]"]
    assert result.context["path"][-2:] == ["check_discount", "gw_approval"]
    text = text_of(report)
    assert "FAIL  " in text and f"step 4 of 5 (line {line}): expect_task" in text
    assert "| expect_task: {element: approve_discount, queue: sales}" in text
    assert "expected: task approve_discount with queue sales" in text
    assert "found:    task approve_discount has queue sales-managers" in text
    assert text.splitlines()[-1] == "0 passed, 1 failed"


@pytest.mark.parametrize(
    ("steps", "number", "expected", "found"),
    [
        ("- expect_open_tasks: [work_opportunity]", 1,
         "open tasks: work_opportunity", "open tasks: qualify_task ('Qualify lead') [queue Inside Sales, lane Sales]"),
        ("- expect_status: completed", 1, "status completed", "status waiting"),
        ("- expect_path: [record_score, capture_lead]", 1,
         "completed in this order: record_score → capture_lead",
         "'capture_lead' not completed after the elements before it (the path is below)"),
        ("- expect_not_path: [score_lead]", 1, "never completed: score_lead", "completed: score_lead"),
        ("- expect_records: [{model: Lead, fields: {score: 81}}]", 1,
         "a Lead with {score: 81}", "0 match; Lead #1: score 80"),
        ("- expect_records: [{model: Quote}]", 1, "a Quote", "0 match; no Quote records at all"),
        ("- expect_records: [{model: Lead, count: 2}]", 1, "2 Lead", "1 match; Lead #1: id 1"),
        ("- expect_timers: [{element: followup_timer, due_in: P3D}]", 1,
         "pending timers: followup_timer due_in P3D", "pending timers: qualify_task due_in PT4H"),
        ("- expect_task: {element: qualify_task, due_in: PT5H, priority: 2}", 1,
         "task qualify_task with priority 2, due_in PT5H", "task qualify_task has priority 1, due_in PT4H"),
        ("- expect_variables: {lead_score: 80, lead_rating: Cold, lead.score: 80}", 1,
         "lead_rating = Cold, lead.score = 80",
         "lead_rating = Hot, lead.score = (not set; lead has: duplicate, email, lead_id, source_campaign_id, state,"
         " status)"),
        ("- advance: P1D\n  - message: {name: quote_accepted}", 2,
         "message 'quote_accepted' (key 'L2I-9') to succeed", "the instance waits for: (nothing)"),
        ("- complete: {element: work_opportunity, user: ann}", 1,
         "one open task element 'work_opportunity'", "no such task; open tasks: qualify_task"),
        ("- complete: {element: qualify_task, user: ann, data: {decision: qualify}, expect_error: bad}", 1,
         "completing qualify_task refused with 'bad'", "it was accepted"),
    ],
)
def test_each_expectation_reports_what_it_expected_and_found(
    tmp_path: Path, steps: str, number: int, expected: str, found: str
) -> None:
    path = write(tmp_path, "one.yaml", L2I_HEAD + f"name: one\nsteps:\n  {steps}\n")
    result = run_paths([path]).results[0]
    assert result.outcome == "failed", result
    assert result.step is not None and result.step.number == number
    assert result.expected == expected
    assert found in (result.found or "")


def test_passing_expectations_of_every_kind(tmp_path: Path) -> None:
    path = write(tmp_path, "ok.yaml", L2I_HEAD + """
name: every kind passes
steps:
  - expect_open_tasks: [Qualify lead]         # by name works too
  - expect_task: {name: Qualify lead, queue: Inside Sales, lane: Sales, assignee: null, priority: 1, due_in: PT4H}
  - expect_variables: {lead_score: 80, lead_rating: Hot, lead.state: Open, inquiry.budget: 60000}
  - expect_records: [{model: Lead, where: {email_normalized: maria@northwind.example}, count: 1},
                     {model: Product, where: {number: CRM-PRO}, state: Active}]
  - expect_timers: [{element: qualify_task, due_in: PT4H}]      # the task's due-date reminder
  - expect_messages: []
  - expect_incidents: []
  - expect_status: waiting
  - complete: {name: Qualify lead, user: ann, data: {decision: qualify, price_list_id: "${std.id}"}}
  - expect_timers: [{element: followup_timer, due_at: 2026-01-08T09:00:00Z},
                    {element: work_opportunity, due_at: 2026-01-08T09:00:00Z}]
  - advance: {to: 2026-01-08T09:00:00Z}
  - expect_path: [qualify_task, log_followup]
  - expect_records: [{model: Activity, where: {regarding_id: "${vars.opportunity.opportunity_id}"}, count: 1}]
""")
    report = run_paths([path])
    assert report.failed == 0, text_of(report)
    assert report.results[0].steps_run == 13


def test_references_to_unknown_names_fail_the_step(tmp_path: Path) -> None:
    path = write(tmp_path, "ref.yaml", L2I_HEAD + """
name: typo in a reference
steps:
  - complete: {element: qualify_task, user: ann, data: {decision: qualify, price_list_id: "${standard.id}"}}
""")
    result = run_paths([path]).results[0]
    assert result.outcome == "failed" and result.step is not None and result.step.number == 1
    assert result.expected == "${standard.id} to name a value" and "std" in (result.found or "")


def test_an_engine_refusal_at_start_is_reported_as_the_start_stage(tmp_path: Path) -> None:
    path = write(tmp_path, "nope.yaml", L2I_HEAD.replace("process: lead_to_invoice", "process: no_such_process")
                 + "name: unknown process\nsteps:\n  - expect_status: completed\n")
    result = run_paths([path]).results[0]
    assert (result.outcome, result.stage, result.step, result.steps_run) == ("failed", "start", None, 0)
    assert "no_such_process" in (result.found or "")
    assert "during start" in text_of(run_paths([path]))


# -- mocks ---------------------------------------------------------------------------------------
def test_mock_fixtures_pass() -> None:
    report = run_paths([FIXTURES / "mocks.yaml"])
    assert report.errors == [] and report.failed == 0, text_of(report)
    assert report.passed == 4


def test_a_mocked_failure_is_an_incident_not_the_path_the_scenario_expected(tmp_path: Path) -> None:
    path = write(tmp_path, "boom.yaml", L2I_HEAD + """
name: sending the quote fails
mocks:
  sales/send_quote: {raise: SMTP relay refused}
steps:
  - complete: {element: qualify_task, user: ann, data: {decision: qualify, price_list_id: "${std.id}"}}
  - complete:
      element: work_opportunity
      user: ann
      data: {outcome: quote, discount_percent: 0, tax_rate: 20, quote_lines: [{product_number: CRM-PRO, quantity: 1}]}
  - expect_messages: [quote_accepted, quote_rejected]
""")
    result = run_paths([path]).results[0]
    assert result.outcome == "failed" and result.step is not None and result.step.number == 3
    assert result.found == "waiting for messages: (none)"
    assert result.context["status"] == "incident"
    assert result.context["incidents"] == ["send_quote: RuntimeError: SMTP relay refused"]
    assert "incidents: send_quote: RuntimeError: SMTP relay refused" in text_of(run_paths([path]))


def test_mocks_only_change_their_own_scenario(tmp_path: Path) -> None:
    path = write(tmp_path, "two.yaml", f"""
process: el_error_service
deploy: [{ROOT}/tests/diagrams/elements/error_boundary_service.bpmn]
start: {{data: {{amount: 5}}}}
scenarios:
  - name: mocked
    mocks: {{test/charge_card: {{raise: "BpmnError:E42"}}}}
    steps: [{{expect_open_tasks: [fix_payment]}}]
  - name: not mocked, so the operation has no handler
    steps: [{{expect_status: incident}}, {{expect_incidents: [{{element: charge_card, message: no handler}}]}}]
""")
    report = run_paths([path])
    assert report.failed == 0, text_of(report)


def test_expect_calls_counts_mocked_calls_only(tmp_path: Path) -> None:
    path = write(tmp_path, "calls.yaml", f"""
process: el_error_service
deploy: [{ROOT}/tests/diagrams/elements/error_boundary_service.bpmn]
start: {{data: {{amount: 5}}}}
mocks: {{test/charge_card: {{result: 1}}}}
scenarios:
  - name: twice
    steps: [{{expect_calls: {{test/charge_card: 2}}}}]
  - name: unmocked
    steps: [{{expect_calls: {{sales/build_quote: 0}}}}]
""")
    report = run_paths([path])
    assert only(report, "twice").found == "test/charge_card called 1x"
    assert "sales/build_quote not mocked" in (only(report, "unmocked").found or "")


# -- invalid files: exit 2, file:line and the problem ------------------------------------------
@pytest.mark.parametrize(
    ("body", "line", "problem"),
    [
        ("name: x\nprocess: p\nsteps:\n  - expect_task: {elemnt: a}\n", 4,
         "steps[1].expect_task: unknown key 'elemnt' (did you mean 'element'?)"),
        ("name: x\nprocess: p\nsteps:\n  - expect_status: done\n  - expect_taks: {element: a}\n", 4,
         "steps[1].expect_status: 'done' is not one of: waiting, completed, incident, terminated"),
        ("name: x\nprocess: p\nsteps:\n  - expect_taks: {element: a}\n", 4,
         "unknown step 'expect_taks' (did you mean 'expect_task'?)"),
        ("name: x\nprocess: p\nsteps:\n  - advance: 3 days\n", 4,
         "steps[1].advance: '3 days' is not an ISO 8601 duration"),
        ("name: x\nprocess: p\nsteps:\n  - complete: {element: a, data: {x: 1}\n", 5, "not valid YAML"),
        ("name: x\nprocess: p\nsteps:\n  - expect_records: [{model: Quotes}]\n", 4,
         "unknown model 'Quotes' (did you mean 'Quote'?)"),
        ("name: x\nprocess: p\nsteps:\n  - expect_records:\n      - model: Quote\n        where: {numbr: 1}\n",
         6, "Quote has no field 'numbr' (did you mean 'number'?)"),
        ("name: x\nprocess: p\nsteps:\n  - expect_task: {lane: Sales}\n", 4, "needs 'element' or 'name'"),
        ("name: x\nprocess: p\nsteps:\n  - expect_status: completed\n    advance: P1D\n", 4,
         "a step is a mapping with exactly one key"),
        ("name: x\nprocess: p\nmocks:\n  build_quote: {result: 1}\nsteps:\n  - expect_status: completed\n", 4,
         "a mocked operation is named like 'area/action'"),
        ("name: x\nprocess: p\nmocks:\n  a/b: {result: 1, raise: x}\nsteps:\n  - expect_status: completed\n", 4,
         "mock 'a/b' gives result and raise"),
        ("name: x\nname: y\nprocess: p\nsteps: []\n", 2, "key 'name' appears twice"),
        ("scenarios:\n  - name: x\n    steps:\n      - expect_status: completed\n", 2,
         "scenario 'x' has no process"),
        ("name: x\nprocess: p\nseed:\n  - product: {number: A}\nsteps:\n  - expect_status: completed\n", 4,
         "seed[1].product: 'name' is required"),
        ("- a\n- b\n", 1, "a scenario file is a mapping"),
    ],
)
def test_invalid_files_name_the_line_and_the_problem(tmp_path: Path, body: str, line: int, problem: str) -> None:
    path = write(tmp_path, "bad.yaml", body)
    with pytest.raises(ScenarioFileError) as caught:
        load_file(path)
    err = caught.value
    assert (err.file, err.line) == (str(path), line), str(err)
    assert any(problem in e.problem for e in [err, *err.more]), [e.problem for e in [err, *err.more]]
    assert str(err).startswith(f"{path}:{line}:")


def test_every_problem_of_a_file_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "name: x\nprocess: p\nsteps:\n  - expect_status: done\n"
                                       "  - advance: soon\n")
    report = run_paths([path])
    assert [(e.line, e.problem.split(":")[0]) for e in report.errors] == [(4, "steps[1].expect_status"),
                                                                          (5, "steps[2].advance")]
    assert report.exit_code == 2


def test_an_invalid_file_does_not_stop_the_valid_ones_but_exits_2(tmp_path: Path) -> None:
    write(tmp_path, "a_bad.yaml", "name: x\nprocess: p\nsteps:\n  - expect_taks: {}\n")
    write(tmp_path, "b_good.yaml", (FIXTURES / "mocks.yaml").read_text().replace(
        "../diagrams/", f"{ROOT}/tests/diagrams/"))
    report = run_paths([tmp_path])
    assert (report.passed, report.failed, report.exit_code) == (4, 0, 2)
    text = text_of(report)
    assert text.startswith(f"INVALID {tmp_path / 'a_bad.yaml'}:4:5: steps[1]: unknown step 'expect_taks'")
    assert text.splitlines()[-2:] == ["1 scenario file could not be used", "4 passed, 0 failed"]


def test_a_missing_file_is_an_invalid_file(tmp_path: Path) -> None:
    report = run_paths([tmp_path / "nope.yaml"])
    assert report.exit_code == 2 and "no such file" in report.errors[0].problem


# -- the CLI ---------------------------------------------------------------------------------
def invoke(*args: str) -> Any:
    return CliRunner().invoke(cli.app, ["test", *args])


def test_cli_exit_codes_text_and_json(tmp_path: Path) -> None:
    good = FIXTURES / "mocks.yaml"
    result = invoke(str(good))
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == "4 passed, 0 failed"

    result = invoke(str(good), "-k", "BPMNERROR")
    assert result.exit_code == 0 and result.output.strip().splitlines() == [
        line for line in result.output.strip().splitlines() if line.startswith("PASS") or "passed" in line]
    assert "1 passed, 0 failed" in result.output

    failing = write(tmp_path, "fail.yaml", (good.read_text().replace("../diagrams/", f"{ROOT}/tests/diagrams/")
                                            .replace("charge.attempt: 1", "charge.attempt: 2")))
    result = invoke(str(failing), "--format", "json")
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert (doc["passed"], doc["failed"], doc["exit_code"]) == (3, 1, 1)
    (failed,) = [s for s in doc["scenarios"] if s["outcome"] == "failed"]
    assert failed["failure"]["step"]["kind"] == "expect_variables"
    assert failed["failure"]["expected"] == "charge.attempt = 2"
    assert failed["failure"]["found"] == "charge.attempt = 1"

    invalid = write(tmp_path, "invalid.yaml", "name: x\nprocess: p\nsteps:\n  - advance: 3 days\n")
    result = invoke(str(invalid))
    assert result.exit_code == 2
    assert f"{invalid}:4:14: steps[1].advance: '3 days' is not an ISO 8601 duration" in result.output
    doc = json.loads(invoke(str(invalid), "--format", "json").output)
    assert doc["invalid_files"][0]["line"] == 4 and doc["exit_code"] == 2


def test_cli_defaults_to_processes_scenarios(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = invoke("-k", "disqualified")
    assert result.exit_code == 0, result.output
    assert "PASS  processes/scenarios/lead_to_invoice.yaml:" in result.output
    assert "1 passed, 0 failed" in result.output


# -- small parts -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "delta"),
    [("P3D", timedelta(days=3)), ("PT4H", timedelta(hours=4)), ("P1W", timedelta(weeks=1)),
     ("P1DT12H30M", timedelta(days=1, hours=12, minutes=30)), ("PT1.5S", timedelta(seconds=1.5))],
)
def test_durations(text: str, delta: timedelta) -> None:
    assert parse_duration(text) == delta


@pytest.mark.parametrize("text", ["P", "3D", "P1M", "P1Y", "PT", "P1DT", "soon"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601 duration"):
        parse_duration(text)


def test_same_compares_as_an_analyst_means() -> None:
    assert same(Decimal("9120.00"), "9120.00") and same(Decimal("9120.00"), 9120)
    assert not same(Decimal("9120.00"), "9120.01") and not same(Decimal("1"), "abc")
    assert same(1, 1) and not same(True, 1) and not same(0, False) and same(None, None)


def test_references_keep_types_and_interpolate() -> None:
    names = {"std": {"id": 7}, "vars": {"lines": [{"qty": 2}]}}
    assert resolve({"a": "${std.id}", "b": "list ${std.id}", "c": ["${vars.lines.0.qty}"]}, names) == {
        "a": 7, "b": "list 7", "c": [2]}
