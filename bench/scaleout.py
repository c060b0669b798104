"""Workload: scale-out — the linear diagram's asynchronous step run by 1, 2 and 4 `crmflow
worker` processes on PostgreSQL, instances/s and the ratio to one worker.

The service task of `bench_linear.bpmn` is marked asynchronous (in a copy deployed to a
scratch database), so starting an instance only queues a job and the workers do the rest.
Instances are started with a clock an hour ahead, so their jobs are not yet due while they
are created and the workers start up; one UPDATE then makes every job due at once and
the clock runs until the last instance completed. Raw SpiffWorkflow (the same diagram in
memory) is measured between the rounds, in the same run.

The end is seen by a probe that polls every 20 ms, the same way for every worker count. It
shares the cores with the workers, so it is kept cheap (`Probe`: one raw connection,
prepared EXISTS queries; ≈ 0.2 ms of CPU a poll where an engine session cost ≈ 0.9 ms): its
cost would otherwise come out of the two-worker rounds, which need both cores.

Needs `CRMFLOW_BENCH_PG` (a PostgreSQL URL); without it the rows say they were skipped.
The worker processes load this module's `register` through `CRMFLOW_HANDLERS`.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import create_engine, func, text, update
from sqlalchemy.engine import make_url

from crmflow.settings import build_engine
from engine import Engine, HandlerRegistry, ManualClock
from engine.models import Instance, Job

from . import Row, Sizes
from .common import DIAGRAMS, Log, RawProcess, paired_ratio, target_notes
from .linear import PG_ENV, PROCESS, raw_batch

ROOT = Path(__file__).resolve().parent.parent
WORKER_COUNTS = (1, 2, 4)
TARGETS = {2: 1.8}  # issue 20: two workers on PostgreSQL at least 1.8× one worker (2.14× when filed)
#: instances per measured batch and rounds per worker count (the median of the rounds' ratios counts)
SIZES = {"full": (1_000, 5), "quick": (300, 2), "smoke": (40, 1)}
ASYNC = '<spiffworkflow:properties><spiffworkflow:property name="async" value="true"/></spiffworkflow:properties>'
READY_TIMEOUT = 60.0
RUN_TIMEOUT = 600.0


def register(registry: HandlerRegistry) -> None:
    """The workers' handlers (`CRMFLOW_HANDLERS=bench.scaleout`): the benchmark's echo."""
    registry.register("bench/echo", lambda ctx, value=None: {"value": value})


def schema_engine(url: str, clock: ManualClock | None = None) -> Engine:
    """An engine with the schema `crmflow worker` expects (the CRM and worklist tables
    too), so the workers find it current and none of them migrates while others start."""
    return build_engine(url, clock, with_handlers=False)


def async_copy(folder: Path) -> Path:
    """bench_linear.bpmn with its service task marked asynchronous."""
    source = (DIAGRAMS / "bench_linear.bpmn").read_text()
    marker = "<bpmn:extensionElements>\n        <spiffworkflow:serviceTaskOperator"
    assert marker in source, "bench_linear.bpmn changed shape: its service task's extensionElements moved"
    path = folder / "bench_linear.bpmn"
    path.write_text(source.replace(marker, marker.replace("<bpmn:extensionElements>",
                                                          f"<bpmn:extensionElements>{ASYNC}")))
    return path


@contextmanager
def scratch_database(server_url: str):  # noqa: ANN201 - Iterator[str]
    """A database of its own on the server (dropped afterwards), so earlier runs' rows and
    other users' jobs stay out of the measurement."""
    name = f"crmflow_bench_scaleout_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Workers:
    """`crmflow worker` processes; all of them are killed on leaving, whatever happened."""

    def __init__(self, url: str, count: int, logs: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CRMFLOW_")}
        env.update(PYTHONPATH=str(ROOT), CRMFLOW_HANDLERS="bench.scaleout", PYTHONUNBUFFERED="1")
        self.logs: list[Path] = []
        self.files: list[IO[bytes]] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        for i in range(count):
            log = logs / f"worker{count}-{i}-{uuid.uuid4().hex[:6]}.log"
            out = log.open("wb")
            self.logs.append(log)
            self.files.append(out)
            cmd = [sys.executable, "-m", "crmflow", "worker", "--db", url, "--poll", "0.1"]
            self.procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not all("worker running" in log.read_text(errors="replace") for log in self.logs):
            self.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers not running after {READY_TIMEOUT:.0f} s")
            time.sleep(0.05)

    def check(self) -> None:
        for proc, log in zip(self.procs, self.logs, strict=True):
            if proc.poll() is not None:
                raise RuntimeError(f"a worker exited ({proc.returncode}): {log.read_text(errors='replace')[-2000:]}")

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for out in self.files:
            out.close()


def queue_instances(url: str, n: int) -> None:
    """Start `n` instances whose jobs fall due an hour from now (so nobody runs them yet)."""
    clock = ManualClock(datetime.now(UTC) + timedelta(hours=1))
    eng = schema_engine(url, clock)
    try:
        for _ in range(n):
            inst = eng.start(PROCESS, {})
            assert inst.status == "waiting", f"the asynchronous step should wait for a worker, not {inst.status}"
    finally:
        eng.close()


def measure(url: str, workers: int, n: int, logs: Path) -> float:
    """Instances/s for `workers` processes working off `n` queued jobs."""
    queue_instances(url, n)
    probe = schema_engine(url)
    try:
        with Workers(url, workers, logs) as pool, Probe(url) as done:
            pool.wait_ready()
            with probe.db.write() as session:
                session.execute(update(Job).values(due_at=func.now()))
            began = time.perf_counter()
            while not done():
                pool.check()
                if time.perf_counter() - began > RUN_TIMEOUT:
                    raise RuntimeError(f"{workers} worker(s) left jobs after {RUN_TIMEOUT:.0f} s")
                time.sleep(0.02)
            return n / (time.perf_counter() - began)
    finally:
        probe.close()


class Probe:
    """Whether every instance has completed, asked every 20 ms while the workers run.

    The probe shares the cores with the workers it times, so it must cost them as little as
    it can: one autocommit psycopg connection with prepared statements, not an engine's
    session (which cost ≈ 0.9 ms of Python a poll, 4–5 % of a core at 50 polls a second).
    It asks the same two questions as before — is any job left (one row of the index); if
    none, is any instance not completed — so the clock stops at the same moment."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.conn = psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                                    autocommit=True, prepare_threshold=0)
        self.jobs_left = f"SELECT EXISTS (SELECT 1 FROM {Job.__table__.name})"
        self.running = f"SELECT EXISTS (SELECT 1 FROM {Instance.__table__.name} WHERE status <> 'completed')"

    def __call__(self) -> bool:
        if self.conn.execute(self.jobs_left).fetchone()[0]:
            return False
        return not self.conn.execute(self.running).fetchone()[0]

    def __enter__(self) -> Probe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()


def run(sizes: Sizes, log: Log) -> list[Row]:
    n, rounds = SIZES.get(sizes.name, SIZES["quick"])
    raw = raw_batch(RawProcess("bench_linear.bpmn", PROCESS), max(n // 4, 4))
    raw()  # warm up
    raw_rates = [raw()]
    pg_url = os.environ.get(PG_ENV)
    if not pg_url:
        return _skipped(statistics.median(raw_rates), f"set {PG_ENV} to a PostgreSQL URL to measure this row")
    rates: dict[int, list[float]] = {k: [] for k in WORKER_COUNTS}
    with tempfile.TemporaryDirectory(prefix="crmflow-bench-scaleout-") as folder, scratch_database(pg_url) as url:
        setup = schema_engine(url)
        setup.deploy([async_copy(Path(folder))])
        setup.close()
        log(f"scaleout: {rounds} round(s) of {n} instances with {', '.join(map(str, WORKER_COUNTS))} workers")
        for r in range(rounds):
            order = WORKER_COUNTS if r % 2 == 0 else tuple(reversed(WORKER_COUNTS))
            for workers in order:
                rates[workers].append(measure(url, workers, n, Path(folder)))
                raw_rates.append(raw())
                log(f"scaleout: round {r + 1}, {workers} worker(s): {rates[workers][-1]:,.0f} inst/s")
    return _rows(rates, statistics.median(raw_rates))


def _rows(rates: dict[int, list[float]], raw_rate: float) -> list[Row]:
    """Each worker count's median rate; its ratio to one worker is the median of the rounds' own
    ratios (in every round one and two workers ran one after the other: `paired_ratio`)."""
    reference = f"{raw_rate:,.0f} inst/s"
    cores = f"{os.cpu_count()} cores"
    one = statistics.median(rates[1])
    rows = [Row("scaleout", "instances/s, 1 worker process, PostgreSQL", f"{one:,.0f} inst/s", reference,
                one / raw_rate, "crmflow ÷ raw", "", [cores])]
    for workers in WORKER_COUNTS[1:]:
        rate = statistics.median(rates[workers])
        ratio = paired_ratio({"n": rates[workers], "one": rates[1]}, "n", "one")
        target = TARGETS.get(workers)
        goal = f"≥ {target}" if target else f"→ {workers} (given {workers} cores)"
        verdict = target_notes(ratio, target) if target else []
        rows.append(Row("scaleout", f"instances/s, {workers} worker processes, PostgreSQL", f"{rate:,.0f} inst/s",
                        reference, ratio, "÷ 1 worker", goal,
                        [*verdict, f"{rate / raw_rate:.2f} × raw", cores]))
    return rows


def _skipped(raw_rate: float, why: str) -> list[Row]:
    reference = f"{raw_rate:,.0f} inst/s"
    cases = ["instances/s, 1 worker process, PostgreSQL"] + [
        f"instances/s, {k} worker processes, PostgreSQL" for k in WORKER_COUNTS[1:]
    ]
    return [Row("scaleout", case, "skipped", reference, None, "÷ 1 worker" if i else "crmflow ÷ raw", "", [why])
            for i, case in enumerate(cases)]
