"""Workload 1, linear throughput: start → script → service → script → end, instances/s.

Raw SpiffWorkflow runs the diagram in memory (parsed once, `do_engine_steps`); crmflow
starts instances through the facade on a SQLite file (WAL, history on) and, when
`CRMFLOW_BENCH_PG` holds a URL, on PostgreSQL. Batches alternate; the
ratio is the median of the rounds' ratios (each round's batches ran back to back).
"""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable
from contextlib import ExitStack

from sqlalchemy import event

from engine import Engine

from . import Row, Sizes
from .common import Log, RawProcess, alternate_rounds, crmflow_engine, paired_ratio, target_notes, timed

PROCESS = "bench_linear"
TARGETS = {"sqlite": 0.8, "postgresql": 0.5}  # issue 20: ≥ 0.8× raw on SQLite, ≥ 0.5× on PostgreSQL
PG_ENV = "CRMFLOW_BENCH_PG"


def raw_batch(raw: RawProcess, n: int) -> Callable[[], float]:
    def run() -> float:
        def batch() -> None:
            for _ in range(n):
                workflow = raw.new()
                workflow.do_engine_steps()
                assert workflow.is_completed(), "raw linear instance did not complete"

        return n / timed(batch)

    return run


def crmflow_batch(eng: Engine, n: int) -> Callable[[], float]:
    def run() -> float:
        def batch() -> None:
            for _ in range(n):
                inst = eng.start(PROCESS, {})
                assert inst.status == "completed", f"crmflow linear instance ended {inst.status}"

        return n / timed(batch)

    return run


def run(sizes: Sizes, log: Log) -> list[Row]:
    n = sizes.linear_instances
    raw = RawProcess("bench_linear.bpmn", PROCESS)
    pg_url = os.environ.get(PG_ENV)
    with ExitStack() as stack:
        sqlite_eng, _ = stack.enter_context(crmflow_engine())
        contenders = {"raw": raw_batch(raw, n), "sqlite": crmflow_batch(sqlite_eng, n)}
        if pg_url:
            pg_eng, _ = stack.enter_context(crmflow_engine(pg_url))
            contenders["postgresql"] = crmflow_batch(pg_eng, n)
        for contender in contenders.values():  # warm caches and imports before measuring
            contender()
        log(f"linear: {sizes.linear_rounds} alternating rounds of {n} instances each ({', '.join(contenders)})")
        results = alternate_rounds(sizes.linear_rounds, contenders)
        rates = {name: statistics.median(values) for name, values in results.items()}
        statements = {"sqlite": statements_per_start(sqlite_eng)}
        if pg_url:
            statements["postgresql"] = statements_per_start(pg_eng)

    reference = f"{rates['raw']:,.0f} inst/s"
    rows = [_row("SQLite file, durable, history on", rates["sqlite"], paired_ratio(results, "sqlite", "raw"), reference,
                 statements["sqlite"], TARGETS["sqlite"])]
    if "postgresql" in rates:
        rows.append(_row("PostgreSQL", rates["postgresql"], paired_ratio(results, "postgresql", "raw"), reference,
                         statements["postgresql"], TARGETS["postgresql"]))
    else:
        rows.append(
            Row("linear", "PostgreSQL", "skipped", reference, None, "crmflow ÷ raw", f"≥ {TARGETS['postgresql']}",
                [f"set {PG_ENV} to a PostgreSQL URL to measure this row"])
        )
    return rows


def statements_per_start(eng: Engine, n: int = 20) -> float:
    """SQL statements one instance costs (counted at the cursor, outside the timed rounds)."""
    counted = [0]

    def count(*_args: object) -> None:
        counted[0] += 1

    event.listen(eng.db.write_engine, "before_cursor_execute", count)
    try:
        for _ in range(n):
            eng.start(PROCESS, {})
    finally:
        event.remove(eng.db.write_engine, "before_cursor_execute", count)
    return counted[0] / n


def _row(case: str, rate: float, ratio: float, reference: str, statements: float, target: float) -> Row:
    notes = target_notes(ratio, target)
    notes.append(f"{statements:.1f} SQL statements per instance at the cursor (not counted: SQLite's BEGIN "
                 "IMMEDIATE, sent by the dialect's do_begin; PostgreSQL's BEGIN, sent by the pool's checkout as its "
                 "ping; every COMMIT)")
    return Row("linear", f"instances/s, {case}", f"{rate:,.0f} inst/s", reference, ratio, "crmflow ÷ raw",
               f"≥ {target}", notes)
