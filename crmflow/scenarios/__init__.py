"""Scenario tests for analysts: YAML files that drive a process and check where it went.

A scenario runs on a throwaway in-memory SQLite database (engine, CRM and worklist
migrations applied), with the real handler registry (some operations replaced by mocks),
the lane router of the deployed folder's `lanes.json`, and a ManualClock that only moves
when a step says so. Nothing sleeps; a scenario takes about a second.

File format (one scenario per file, or several under `scenarios:`)::

    # keys at the top of a `scenarios:` file are shared by every scenario in it
    process: lead_to_invoice          # process id to start (required, here or per scenario)
    deploy: [..]                      # diagram files/folders, relative to this file (default: ..)
    lanes: ../lanes.json              # lane map for queues (default: lanes.json in a deployed folder)
    start_at: 2026-01-05T09:00:00Z    # the clock at the start (default: Monday 2026-01-05 09:00 UTC)
    seed:                             # records created before the start, in order
      - price_list: {name: Standard, as: std}          # `as` names it for ${std.id} and for later seeds
      - product: {number: CRM-PRO, name: Licence, price: "480.00", price_list: std}
      - account: {name: Northwind, region: EU, as: northwind}
      - contact: {last_name: Rossi, email: m@x.example, account: northwind}
      - competitor: {name: Contoso}
      - record: {model: Contract, fields: {...}, state: Active}   # any CRM model, for the rest
      - operation: {name: marketing/create_list, params: {...}, as: lst}   # a handler; ${lst.list_id}
    mocks:                            # replace a handler for this scenario
      sales/build_quote: {result: {id: 1}}            # returns this (may use ${params.NAME})
      sales/activate_quote: {results: [{...}, {...}]} # one per call, the last repeats
      sales/qualify_lead: {raise: "BpmnError:no_price_list", message: "..."}  # caught by a boundary
      activities/log: {raise: "SMTP down"}            # any other text: an ordinary failure → incident
    scenarios:
      - name: won and paid in full
        business_key: L2I-1           # correlation key of messages (default SCENARIO-1)
        start: {data: {...}, user: web}      # or {message: NAME, data: {...}} for a message start
        steps:
          - expect_task: {element: qualify_task, queue: sales, assignee: null, priority: 1, due_in: PT4H}
          - complete: {element: qualify_task, user: ann, data: {decision: qualify}}
          - advance: P3D              # or {to: 2026-02-01T09:00:00Z}; timers fire at their own due time
          - message: {name: quote_accepted, key: L2I-1, data: {...}}
          - expect_path: [qualify_task, build_quote]     # completed in this order (gaps allowed)
          - expect_not_path: [approve_discount]
          - expect_records: [{model: Quote, where: {revision: 0}, state: Won, status: Won,
                              fields: {total_amount: "9120.00"}, count: 1}]
          - expect_open_tasks: [work_opportunity]        # exactly these (ids or names)
          - expect_timers: [{element: wait_customer, due_in: P30D}]   # exactly these pending timers
          - expect_messages: [quote_accepted, quote_rejected]         # exactly what it waits for
          - expect_incidents: [{element: send_quote, message: SMTP}]  # exactly these open incidents
          - expect_status: completed  # waiting | completed | incident | terminated
          - expect_variables: {invoice.balance: "0.00"}               # dotted paths into variables
          - expect_calls: {sales/build_quote: 1}                      # how often a mock was called

`complete` and `message` take `expect_error: TEXT` when the step must be refused. `queue`
falls back to the lane when the router left the task unassigned. Strings may hold
`${alias.field}`, `${vars.path}` (process variables now), `${instance.id}` and
`${instance.business_key}`; a string that is only a reference keeps the value's type.
After every step the runner does what a live worker would (due timers, retries, jobs).

This package's front is here (`run_paths`, `run_scenario`, `format_text`, `DEFAULT_DIR`); the
rest lives by concern: `schema` (the file format as JSON Schema, durations and times), `files`
(loading a file into `Scenario`s with line-exact errors), `run` (a `Run`: a fresh engine, the
mocks, `${...}` names, seeding) and `steps` (what each step does and checks).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterable
from pathlib import Path

from engine import EngineError

from .files import Scenario, Step, load_all
from .run import Report, Result, Run, StepFailure
from .steps import STEPS

DEFAULT_DIR = Path("processes") / "scenarios"


def run_scenario(scn: Scenario) -> Result:
    """Run one scenario to its first failing step (or its end) on a fresh database."""
    began = time.perf_counter()
    result = Result(scn, "passed", 0.0)
    run: Run | None = None
    stage, step = "setup", None
    try:
        run = Run(scn)
        stage = "deploy"
        run.deploy()
        stage = "seed"
        run.seed()
        stage = "start"
        run.start()
        stage = "step"
        for step in scn.steps:
            STEPS[step.kind](run, step.spec)
            result.steps_run += 1
        step = None
        result.path = run.path()
    except StepFailure as failure:
        _fail(result, "failed", stage, step, failure.expected, failure.found, run)
    except EngineError as err:
        _fail(result, "failed", stage, step, f"{stage} to succeed", f"{type(err).__name__}: {err}", run)
    except Exception as err:  # a bug in a handler or the runner: report it, go on with the next scenario
        tb = traceback.extract_tb(err.__traceback__)[-1]
        first = (str(err).strip().splitlines() or [""])[0]
        found = f"{type(err).__name__}: {first} (at {Path(tb.filename).name}:{tb.lineno})"
        _fail(result, "error", stage, step, f"{stage} to succeed", found, run)
    finally:
        if run is not None:
            run.close()
        result.seconds = time.perf_counter() - began
    return result


def _fail(result: Result, outcome: str, stage: str, step: Step | None, expected: str, found: str,
          run: Run | None) -> None:
    result.outcome, result.stage, result.step = outcome, stage, step
    result.expected, result.found = expected, found
    result.context = run.context() if run is not None else {}


def run_paths(paths: Iterable[str | Path], keyword: str | None = None) -> Report:
    """Load every scenario file under `paths`, run those whose name contains `keyword`."""
    scenarios, errors = load_all(paths)
    if keyword:
        scenarios = [s for s in scenarios if keyword.lower() in s.name.lower()]
    return Report([run_scenario(s) for s in scenarios], errors)


# -- reporting -------------------------------------------------------------------------------
def _rel(path: Path | str) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def format_text(report: Report) -> str:
    """PASS/FAIL per scenario, the failing step with expected vs found, then `N passed, M failed`."""
    lines: list[str] = []
    for err in report.errors:
        where = _rel(err.file) + (f":{err.line}" if err.line else "") + (f":{err.column}" if err.column else "")
        lines.append(f"INVALID {where}: {err.problem}")
    for r in report.results:
        head = f"{_rel(r.scenario.file)}:{r.scenario.line}: {r.scenario.name}"
        if r.passed:
            lines.append(f"PASS  {head} ({r.seconds:.2f}s)")
            continue
        lines.append(f"{'FAIL' if r.outcome == 'failed' else 'ERROR'}  {head}")
        if r.step is not None:
            lines.append(f"      step {r.step.number} of {len(r.scenario.steps)} (line {r.step.line}): {r.step.kind}")
            lines.extend(f"        | {src}" for src in r.step.source.splitlines())
        else:
            lines.append(f"      during {r.stage}")
        lines.append(f"      expected: {r.expected}")
        lines.append(f"      found:    {r.found}")
        ctx = r.context
        if "status" in ctx:
            lines.append(f"      status {ctx['status']} at {ctx['now']}")
            for key, label in (("open_tasks", "open tasks"), ("waiting_for", "waiting for"),
                               ("timers", "timers"), ("incidents", "incidents")):
                if ctx.get(key):
                    lines.append(f"      {label}: {', '.join(ctx[key])}")
            lines.append("      path: " + (" → ".join(ctx["path"]) or "(nothing completed)"))
        elif ctx.get("context_error"):
            lines.append(f"      (state unavailable: {ctx['context_error']})")
    if report.errors:
        files = len({e.file for e in report.errors})
        lines.append(f"{files} scenario file{'s' if files != 1 else ''} could not be used")
    lines.append(f"{report.passed} passed, {report.failed} failed")
    return "\n".join(lines)
