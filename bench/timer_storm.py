"""Workload 5 (first cut), timer storm: N instances whose `"PT1H"` timers fall due at once.

Each instance waits on an intermediate timer, then runs one service task that stamps the
wall-clock time. The storm is `fire_due_timers(now + 2h)`, called until it fires nothing
more (the facade fires at most `limit` instances per call, as a scheduler pass would).
The reference is the same amount of work driven by people: N instances of the same shape
with a user task instead of the timer, each completed with one `complete_task`. Lateness
is how long after the storm began each instance's step ran (wall clock).
"""

from __future__ import annotations

import time
from datetime import timedelta

from engine import Engine, ManualClock

from . import Row, Sizes
from .common import Log, alternate, crmflow_engine, ms, percentile

TARGET = 1.5


class Storm:
    """Both halves of the comparison on one engine; each call prepares fresh instances."""

    def __init__(self, eng: Engine, clock: ManualClock, n: int, stamps: list[float]) -> None:
        self.eng, self.clock, self.n, self.stamps = eng, clock, n, stamps
        self.results: dict[str, list[tuple[float, list[float]]]] = {"timers": [], "tasks": []}
        self.calls: list[int] = []

    def timers(self) -> float:
        for _ in range(self.n):
            inst = self.eng.start("bench_timer_wait", {})
            assert inst.status == "waiting" and inst.timers, "timer instance did not wait on its timer"
        self.clock.advance(timedelta(hours=2))
        self.stamps.clear()
        fired, calls = 0, 0
        began = time.perf_counter()
        while True:
            batch = self.eng.fire_due_timers(self.clock.now())
            calls += 1
            if not batch:
                break
            fired += len(batch)
        elapsed = time.perf_counter() - began
        assert fired == self.n and len(self.stamps) == self.n, f"fired {fired}, stamped {len(self.stamps)}"
        self.calls.append(calls)
        self.results["timers"].append((elapsed, [s - began for s in self.stamps]))
        return elapsed

    def tasks(self) -> float:
        task_ids = [self.eng.start("bench_task_wait", {}).open_tasks[0].id for _ in range(self.n)]
        self.stamps.clear()
        began = time.perf_counter()
        for task_id in task_ids:
            self.eng.complete_task(task_id, "bench", {})
        elapsed = time.perf_counter() - began
        assert len(self.stamps) == self.n
        self.results["tasks"].append((elapsed, [s - began for s in self.stamps]))
        return elapsed


def run(sizes: Sizes, log: Log) -> list[Row]:
    stamps: list[float] = []

    def stamp(ctx: object) -> int:
        stamps.append(time.perf_counter())
        return len(stamps)

    with crmflow_engine(handlers={"bench/stamp": stamp}) as (eng, clock):
        storm = Storm(eng, clock, sizes.timers, stamps)
        log(f"timer_storm: {sizes.timer_rounds} round(s) of {sizes.timers} timers vs {sizes.timers} complete_task")
        medians = alternate(sizes.timer_rounds, {"timers": storm.timers, "tasks": storm.tasks})

    n = sizes.timers
    timers, tasks = medians["timers"], medians["tasks"]
    late_t = _median_run(storm.results["timers"], timers)
    late_r = _median_run(storm.results["tasks"], tasks)
    calls = sorted(storm.calls)[len(storm.calls) // 2]
    return [
        Row("timer_storm", f"fire {n:,} due timers (time to fire all)", f"{timers:.2f} s ({n / timers:,.0f}/s)",
            f"{n:,} × complete_task: {tasks:.2f} s ({n / tasks:,.0f}/s)", timers / tasks,
            "timers ÷ complete_task", f"≤ {TARGET}",
            [f"{calls} fire_due_timers calls, the last finding nothing (≤ 500 instances per call)"]),
        Row("timer_storm", "lateness p50 / p99", f"{ms(percentile(late_t, 50))} / {ms(percentile(late_t, 99))}",
            f"{ms(percentile(late_r, 50))} / {ms(percentile(late_r, 99))}",
            percentile(late_t, 99) / percentile(late_r, 99), "p99 timers ÷ p99 complete_task",
            notes=["wall time from the storm's start to each instance's next step"]),
    ]


def _median_run(results: list[tuple[float, list[float]]], median: float) -> list[float]:
    """The lateness list of the round whose elapsed time is the median."""
    return min(results, key=lambda r: abs(r[0] - median))[1]
