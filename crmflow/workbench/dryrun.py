"""The dry run: a throwaway instance of the draft the analyst clicks through (tasks, timers,
messages) while the canvas shows where it stands.

Each dry run is a `crmflow.scenarios.run.Run` without steps: a fresh in-memory SQLite database with
every migration, an injected ManualClock and the real handler registry. Real handlers, because the
database is private to the run: the CRM records they write are seen by nobody else, and the analyst
sees what the process really does (records, incidents of an operation that fails). When the analyst
starts "like" one of the process's YAML scenarios, that scenario's seed records, mocks (the
operations its author chose not to run for real), start data, business key and start time are used,
so a dry run can begin exactly where a scenario does. Nothing leaves the process: the outbox is never
delivered here.

Runs live in this process's memory only, keyed by a random id, owned by the user who started them,
closed after `IDLE_SECONDS` without use, and at most `MAX_RUNS` exist at once.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crmflow.scenarios.files import Scenario, load_all
from crmflow.scenarios.run import Run, StepFailure
from crmflow.scenarios.schema import parse_duration
from crmflow.scenarios.steps import step_advance, step_message
from engine import Conflict, Engine, InvalidInput, NotFound
from engine.drawing import instance_marks
from engine.input_checks import parse_object
from worklists.forms import initial_values
from worklists.views import task_view

from . import catalog
from .deploying import deploy_set
from .workspace import with_draft

MAX_RUNS = 8
IDLE_SECONDS = 30 * 60
MAX_DATA_BYTES = 200_000
STEPS = {"hour": "PT1H", "day": "P1D", "week": "P1W"}


@dataclasses.dataclass
class DryRun:
    id: str
    owner: str
    process_id: str
    run: Run
    scenario: str | None
    used: float
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


class DryRuns:
    """The open dry runs of this server process (in memory: a restart ends them, by design)."""

    def __init__(self, max_runs: int = MAX_RUNS, idle_seconds: float = IDLE_SECONDS,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.max_runs, self.idle_seconds, self._now = max_runs, idle_seconds, now
        self._runs: dict[str, DryRun] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._runs)

    def expire(self) -> None:
        """Close the runs idle for longer than `idle_seconds`."""
        cutoff = self._now() - self.idle_seconds
        with self._lock:
            gone = [r for r in self._runs.values() if r.used < cutoff]
            for r in gone:
                del self._runs[r.id]
        for r in gone:
            r.run.close()

    def start(self, engine: Engine, processes: Path, process_id: str, file_name: str, content: bytes, user: str,
              scenario: str = "", data_text: str = "") -> dict[str, Any]:
        """Deploy the draft on a fresh database, seed it, start the instance; the run's first view."""
        self.expire()
        if len(self._runs) >= self.max_runs:
            raise Conflict(f"{self.max_runs} dry runs are open on this server; end one (button 'End dry run') or "
                           f"wait until one has been idle for {self.idle_seconds // 60:.0f} minutes")
        scn = _scenario(processes, process_id, scenario)
        if data_text.strip():
            scn = dataclasses.replace(scn, start={**scn.start, "data": _data(data_text, "start data")})
        with with_draft(processes, file_name, content) as folder:
            scn = dataclasses.replace(scn, deploy=deploy_set(engine, folder, file_name),
                                      lanes=scn.lanes or _lanes(folder))
            run = Run(scn)
            try:
                run.deploy()
                if not any(v.process_id == process_id for v in run.eng.list_definitions()):
                    raise NotFound(f"the draft defines no executable process '{process_id}'")
                run.seed()
                run.start()
            except StepFailure as failure:
                run.close()
                raise InvalidInput(f"the dry run could not start: expected {failure.expected}; "
                                   f"found {failure.found}") from None
            except Exception:
                run.close()
                raise
        trial = DryRun(secrets.token_urlsafe(16), user, process_id, run, scenario or None, self._now())
        with self._lock:
            if len(self._runs) >= self.max_runs:
                run.close()
                raise Conflict(f"{self.max_runs} dry runs are open on this server; end one first")
            self._runs[trial.id] = trial
        return view(trial, processes)

    def get(self, run_id: str, process_id: str, user: str) -> DryRun:
        """The user's own run of this process (someone else's, or an expired one, is 'no such run')."""
        self.expire()
        trial = self._runs.get(run_id)
        if trial is None or trial.owner != user or trial.process_id != process_id:
            raise NotFound(f"no dry run {run_id!r} of {process_id} is open for you: it ended or expired after "
                           f"{self.idle_seconds // 60:.0f} idle minutes; start a new one")
        trial.used = self._now()
        return trial

    def end(self, run_id: str, process_id: str, user: str) -> None:
        trial = self.get(run_id, process_id, user)
        with self._lock:
            self._runs.pop(trial.id, None)
        trial.run.close()

    def close_all(self) -> None:
        with self._lock:
            runs, self._runs = list(self._runs.values()), {}
        for r in runs:
            r.run.close()


# -- what the analyst does -----------------------------------------------------------------------
def act(trial: DryRun, processes: Path, action: str, fields: dict[str, str], user: str) -> dict[str, Any]:
    """One click: `complete` a task, `advance` the clock, send a `message`; then the new view."""
    with trial.lock:
        try:
            if action == "complete":
                _complete(trial.run, fields, user)
            elif action == "advance":
                _advance(trial.run, fields.get("by", "").strip())
            elif action == "message":
                _message(trial.run, fields)
            elif action != "view":
                raise InvalidInput(f"unknown dry-run action {action!r}: use complete, advance or message")
        except StepFailure as failure:
            raise Conflict(f"{failure.expected}: {failure.found}") from None
        return view(trial, processes)


def _complete(run: Run, fields: dict[str, str], user: str) -> None:
    task_id = fields.get("task_id", "")
    open_ids = {t.id: t for t in run.open_tasks()}
    if task_id not in open_ids:
        raise NotFound(f"task {task_id!r} is not open in this dry run; open: "
                       f"{', '.join(t.element_id for t in open_ids.values()) or '(none)'}")
    # a task the lane router gave to someone is completed in their name, as they would
    data = _data(fields.get("data", ""), "task data")
    run.eng.complete_task(task_id, user=open_ids[task_id].assignee or user, data=data)
    run.settle()


def _advance(run: Run, by: str) -> None:
    """`next` (to the next timer or retry), `hour`/`day`/`week`, or an ISO duration like P3D."""
    if by == "next":
        times = [t.due_at for t in run.eng.list_timers(state="pending")]
        times += [i.next_retry_at for i in run.eng.list_incidents(state="open") if i.next_retry_at and i.retries_left]
        due = min(times) if times else None
        if due is None:
            raise Conflict("no timer is pending and no retry is due: nothing to fire")
        step_advance(run, {"to": max(due, run.clock.now()).isoformat()})
        return
    spec = STEPS.get(by, by)
    try:
        parse_duration(spec)
    except ValueError as err:
        raise InvalidInput(f"advance by {by!r}: {err}") from None
    step_advance(run, spec)


def _message(run: Run, fields: dict[str, str]) -> None:
    name = fields.get("name", "").strip()
    if not name:
        raise InvalidInput("name the message to send (one the instance waits for is listed under 'Waiting for')")
    spec: dict[str, Any] = {"name": name, "data": _data(fields.get("data", ""), "message data")}
    if fields.get("key", "").strip():
        spec["key"] = fields["key"].strip()
    step_message(run, spec)


# -- views ---------------------------------------------------------------------------------------
def view(trial: DryRun, processes: Path) -> dict[str, Any]:
    """Where the throwaway instance stands: marks for the canvas, open tasks, timers, data, history."""
    run = trial.run
    assert run.iid is not None
    detail = run.eng.get_instance(run.iid, with_history=True)
    return {
        "id": trial.id, "process_id": trial.process_id, "scenario": trial.scenario, "instance_id": detail.id,
        "business_key": detail.business_key, "status": detail.status, "now": run.clock.now().isoformat(),
        "marks": instance_marks(detail),
        "open_tasks": [_task(t, detail.data, processes) for t in detail.open_tasks],
        "timers": [{"element_id": t.element_id, "due_at": t.due_at.isoformat()} for t in detail.timers],
        "waiting_for": [{"element_id": s.element_id, "message": s.message_name} for s in detail.subscriptions],
        "incidents": [{"element_id": i.element_id, "message": i.message} for i in detail.incidents],
        "data": json.loads(json.dumps(detail.data, default=str)),
        "history": [{"at": h.at.isoformat(), "event": h.event, "element_id": h.element_id,
                     "name": h.element_name, "user": h.user} for h in detail.history],
    }


def _task(task: Any, data: dict[str, Any], processes: Path) -> dict[str, Any]:
    prefill: dict[str, Any] = {}
    if task.form:
        text = catalog.read_form(processes, task.form)
        try:
            prefill = initial_values(json.loads(text), data) if text else {}
        except (ValueError, TypeError):
            prefill = {}
    return {**task_view(task).to_dict(), "prefill": json.loads(json.dumps(prefill, default=str))}


# -- helpers ---------------------------------------------------------------------------------------
def scenario_names(processes: Path, process_id: str) -> list[str]:
    """The names of the process's YAML scenarios (a dry run may start like one of them)."""
    return [s.name for s in _scenarios(processes) if s.process == process_id]


def _scenarios(processes: Path) -> list[Scenario]:
    folder = processes / "scenarios"
    return load_all([folder])[0] if folder.is_dir() else []


def _scenario(processes: Path, process_id: str, name: str) -> Scenario:
    if not name:
        return Scenario(name="dry run", file=processes, line=0, process=process_id, steps=[],
                               business_key="DRY-RUN-1")
    found = next((s for s in _scenarios(processes) if s.process == process_id and s.name == name), None)
    if found is None:
        raise NotFound(f"no scenario named {name!r} runs {process_id} in {processes / 'scenarios'}; "
                       f"known: {', '.join(scenario_names(processes, process_id)) or '(none)'}")
    return dataclasses.replace(found, steps=[])


def _lanes(folder: Path) -> Path | None:
    path = folder / "lanes.json"
    return path if path.is_file() else None


def _data(text: str, what: str) -> dict[str, Any]:
    """A dry run's data by the engine's one parser of user JSON, within the dry run's smaller size."""
    if len(text.encode("utf-8")) > MAX_DATA_BYTES:
        raise InvalidInput(f"the {what} is larger than {MAX_DATA_BYTES // 1000} kB")
    return parse_object(text, f"the {what}")
