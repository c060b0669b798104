"""What every workload shares: the raw SpiffWorkflow reference, crmflow engines, timing."""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine, TaskDataEnvironment
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from engine import Engine, HandlerRegistry, ManualClock
from engine.validation import ValidationContext

DIAGRAMS = Path(__file__).parent / "diagrams"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
Log = Callable[[str], None]


# -- raw SpiffWorkflow ------------------------------------------------------------------

class EchoEnvironment(TaskDataEnvironment):
    """SpiffWorkflow's own script environment plus the cheapest possible service call."""

    def call_service(self, context: dict[str, Any], operation_name: str = "", operation_params: Any = None,
                     **_: Any) -> str:
        params = {name: spec["value"] for name, spec in (operation_params or {}).items()}
        return json.dumps({"operation": operation_name, **params})


def raw_script_engine() -> PythonScriptEngine:
    return PythonScriptEngine(environment=EchoEnvironment())


class RawProcess:
    """One diagram parsed once; `new()` makes an in-memory workflow, as a library user would."""

    def __init__(self, file_name: str, process_id: str) -> None:
        parser = SpiffBpmnParser()
        parser.add_bpmn_file(str(DIAGRAMS / file_name))
        self.spec = parser.get_spec(process_id)
        self.subprocess_specs = parser.get_subprocess_specs(process_id)
        self.script_engine = raw_script_engine()

    def new(self, data: dict[str, Any] | None = None) -> BpmnWorkflow:
        workflow = BpmnWorkflow(self.spec, self.subprocess_specs, script_engine=self.script_engine)
        if data:
            workflow.get_tasks(spec_name="Start")[0].data.update(data)
        return workflow


# -- crmflow ----------------------------------------------------------------------------

@contextmanager
def crmflow_engine(
    db_url: str | None = None, handlers: dict[str, Callable[..., Any]] | None = None
) -> Iterator[tuple[Engine, ManualClock]]:
    """A crmflow Engine with the bench diagrams deployed: on a fresh SQLite file in a
    temporary folder unless `db_url` is given."""
    registry = HandlerRegistry()
    registry.register("bench/echo", lambda ctx, value=None: {"value": value})
    for name, func in (handlers or {}).items():
        registry.register(name, func)
    clock = ManualClock(START)
    with tempfile.TemporaryDirectory(prefix="crmflow-bench-") as folder:
        url = db_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        eng = Engine(url, registry=registry, clock=clock)
        try:
            # each bench registers the handlers it uses: validate's checks except the handler one
            eng.deploy([DIAGRAMS], context=ValidationContext(check_handlers=False))
            yield eng, clock
        finally:
            eng.close()


# -- timing -----------------------------------------------------------------------------

def timed(func: Callable[[], Any]) -> float:
    """Seconds one call takes."""
    began = time.perf_counter()
    func()
    return time.perf_counter() - began


def alternate_rounds(rounds: int, contenders: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Run each contender once per round, rotating who goes first; each one's result per round.
    Round i of every contender ran back to back, within a second or two of each other."""
    names = list(contenders)
    results: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        order = names[i % len(names):] + names[: i % len(names)]
        for name in order:
            results[name].append(contenders[name]())
    return results


def alternate(rounds: int, contenders: dict[str, Callable[[], float]]) -> dict[str, float]:
    """The median of each contender's results over `alternate_rounds`, so slow drift on a noisy
    machine hits all of them alike."""
    return {name: statistics.median(values) for name, values in alternate_rounds(rounds, contenders).items()}


def paired_ratio(results: dict[str, list[float]], name: str, reference: str) -> float:
    """The median of `name` ÷ `reference` taken round by round. Each round's pair ran back to
    back, so a slow or busy moment of a shared machine lowers both sides of its own ratio instead
    of one side of the ratio of medians (whose sides come from different moments)."""
    return statistics.median(a / b for a, b in zip(results[name], results[reference], strict=True))


def target_notes(ratio: float, target: float) -> list[str]:
    """The verdict a row with an "at least" target carries: nothing when met, the gap otherwise."""
    return [] if ratio >= target else [f"below target by {target / ratio:.2f}×"]


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; enough for p50/p99 of a few hundred samples."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def kib(size: int) -> str:
    return f"{size / 1024:.1f} KiB"


# -- the machine --------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict[str, str]:
    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    return {
        "CPU": cpu_model(),
        "cores": str(os.cpu_count()),
        "Python": platform.python_version(),
        "OS": platform.platform(),
        "SpiffWorkflow": version("SpiffWorkflow"),
        "SQLAlchemy": version("SQLAlchemy"),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
