"""Workload 3, long history: a follow-up loop with one user task per round.

crmflow completes each round's user task through the facade; raw SpiffWorkflow runs the
same loop in memory (`task.run()` then `do_engine_steps()`). At each point we take the
median time of one step over the next `window` rounds and the stored state size
(`wf_instance.state` for crmflow, `serialize_json(workflow)` for raw). Raw SpiffWorkflow
stops finding the user task once the tree is 1000 levels deep (~333 rounds) and even
reports itself completed: we detect that (a READY task in the flat task map that
`get_tasks` no longer finds) and report where it stalled.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.util.task import TaskState

from engine import Engine
from engine.read_model import Instance

from . import Row, Sizes
from .common import Log, RawProcess, crmflow_engine, kib, ms

PROCESS = "bench_follow_loop"
STEP_TARGET = 1.5


@dataclass
class Point:
    round: int
    step: float  # seconds, mean over the window
    state: int  # bytes


@dataclass
class RawLoop:
    """Raw SpiffWorkflow's loop, advanced round by round until it stalls."""

    raw: RawProcess
    target: int
    serializer: BpmnWorkflowSerializer = field(default_factory=lambda: BpmnWorkflowSerializer(
        BpmnWorkflowSerializer.configure(SPIFF_CONFIG)))
    rounds: int = 0
    stalled_at: int | None = None

    def __post_init__(self) -> None:
        self.workflow = self.raw.new({"target": self.target})
        self.workflow.do_engine_steps()

    def step(self) -> bool:
        """Complete one round's user task; False once the library no longer finds it."""
        if self.stalled_at is not None:
            return False
        ready = self.workflow.get_tasks(state=TaskState.READY, manual=True)
        if not ready:
            # `is_completed()` walks the same depth-limited iterator and says True here;
            # the flat task map still holds the READY task the iterator cannot reach.
            if any(t.state == TaskState.READY for t in self.workflow.tasks.values()):
                self.stalled_at = self.rounds
            return False
        ready[0].run()
        self.workflow.do_engine_steps()
        self.rounds += 1
        return True

    def state_size(self) -> int:
        return len(self.serializer.serialize_json(self.workflow))


@dataclass
class FacadeLoop:
    """The same loop through crmflow's facade, durable, one transaction per round."""

    eng: Engine
    target: int
    rounds: int = 0

    def __post_init__(self) -> None:
        inst = self.eng.start(PROCESS, {"target": self.target})
        self.instance_id = inst.id
        self.task_id = inst.open_tasks[0].id

    def step(self) -> bool:
        inst = self.eng.complete_task(self.task_id, "bench", {})
        self.rounds += 1
        self.task_id = inst.open_tasks[0].id if inst.open_tasks else ""
        return True

    def state_size(self) -> int:
        with self.eng.db.read() as session:
            return len(session.get(Instance, self.instance_id).state)


def advance_to(loop: RawLoop | FacadeLoop, rounds: int) -> None:
    while loop.rounds < rounds and loop.step():
        pass


def measure(loop: RawLoop | FacadeLoop, window: int) -> float | None:
    """Median seconds of one step over the next `window` rounds (None if it stalls).

    The median, not the mean: on a shared 2-core machine one stray 30 ms pause (another
    process, a WAL checkpoint) would move a 20-round mean by 25 %.
    """
    times = []
    for _ in range(window):
        began = time.perf_counter()
        if not loop.step():
            return None
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def run(sizes: Sizes, log: Log) -> list[Row]:
    points, window = sizes.history_points, sizes.history_window
    target = points[-1] + window + 10  # never finishes inside the run
    raw = RawLoop(RawProcess("bench_follow_loop.bpmn", PROCESS), target)
    ours: list[Point] = []
    theirs: list[Point] = []
    last_raw: Point | None = None
    with crmflow_engine() as (eng, _):
        _warm_up(eng, raw.raw, window)
        facade = FacadeLoop(eng, target)
        for point in points:
            # Raw first, then crmflow, at each point: both see the same machine state.
            advance_to(raw, point)
            if raw.stalled_at is None:
                size = raw.state_size()
                step = measure(raw, window)
                if step is not None:
                    theirs.append(Point(point, step, size))
            advance_to(facade, point)
            size = facade.state_size()
            step = measure(facade, window)
            assert step is not None
            ours.append(Point(point, step, size))
            log(f"long_history: round {point}: crmflow {ms(step)}/step, state {kib(size)}"
                + (f"; raw stalled at round {raw.stalled_at}" if raw.stalled_at is not None
                   else f"; raw {ms(theirs[-1].step)}/step, state {kib(theirs[-1].state)}"))
        if raw.stalled_at is not None:
            last_raw = _raw_before_stall(raw, window)
    return _rows(ours, theirs, raw.stalled_at, last_raw, points)


def _warm_up(eng: Engine, raw: RawProcess, rounds: int) -> None:
    """A few rounds on throwaway instances first, so round 10 does not pay for caches."""
    for loop in (RawLoop(raw, rounds + 5), FacadeLoop(eng, rounds + 5)):
        advance_to(loop, rounds)


def _raw_before_stall(raw: RawLoop, window: int) -> Point | None:
    """Raw's step time just before it stalled, measured on a fresh run (for the notes)."""
    again = RawLoop(raw.raw, raw.target)
    stop = max(0, (raw.stalled_at or 0) - window - 1)
    advance_to(again, stop)
    size = again.state_size()
    step = measure(again, window)
    return Point(stop, step, size) if step is not None else None


def _rows(ours: list[Point], theirs: list[Point], stalled_at: int | None, last_raw: Point | None,
          points: tuple[int, ...]) -> list[Row]:
    base, raw_by_round = ours[0], {p.round: p for p in theirs}
    raw_base = raw_by_round.get(base.round)
    rows: list[Row] = []
    if raw_base is not None:
        rows.append(Row("long_history", f"step time @ round {base.round}, vs raw", ms(base.step), ms(raw_base.step),
                        base.step / raw_base.step, "crmflow ÷ raw",
                        notes=["crmflow: one durable complete_task; raw: task.run() + do_engine_steps()"]))
    stall_note = f"raw stalled at round {stalled_at}" if stalled_at is not None else ""
    for point in ours:
        raw_point = raw_by_round.get(point.round)
        ref = (f"{ms(raw_point.step)} ({raw_point.step / raw_base.step:.1f}× round {base.round})"
               if raw_point and raw_base else stall_note or "n/a")
        last = point.round == points[-1]
        rows.append(Row("long_history", f"step time @ round {point.round:,}", ms(point.step), ref,
                        point.step / base.step, f"crmflow ÷ crmflow @ round {base.round}",
                        f"≤ {STEP_TARGET}" if last else "",
                        _target_note(point.step / base.step) if last else []))
    for point in ours:
        raw_point = raw_by_round.get(point.round)
        ref = kib(raw_point.state) if raw_point else stall_note or "n/a"
        rows.append(Row("long_history", f"state size @ round {point.round:,}", kib(point.state), ref,
                        point.state / base.state, f"crmflow ÷ crmflow @ round {base.round}",
                        "bounded" if point.round == points[-1] else ""))
    if stalled_at is not None and rows:
        note = f"raw SpiffWorkflow stalled at round {stalled_at} (task iterator max_depth 1000)"
        if last_raw is not None and raw_base is not None:
            note += (f"; just before, at round {last_raw.round}: {ms(last_raw.step)}/step "
                     f"({last_raw.step / raw_base.step:.1f}× round {raw_base.round}), state {kib(last_raw.state)}")
        rows[-1].notes.append(note)
    return rows


def _target_note(growth: float) -> list[str]:
    return [] if growth <= STEP_TARGET else [f"above target by {growth / STEP_TARGET:.1f}×"]
