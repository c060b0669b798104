"""Benchmarks: crmflow measured beside raw SpiffWorkflow in the same run.

Machines here are small and noisy, so every figure comes with a reference measured in the
same process, interleaved with it, and the table reports ratios. `python -m bench` prints
one Markdown table and writes it, with machine info and the command, to
`docs/benchmarks.md`. Benchmarks are not part of the test run's pass/fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Sizes:
    """How much work each workload does; `quick` must finish in under a minute on 2 cores."""

    name: str
    linear_instances: int  # instances per measured batch
    linear_rounds: int  # alternating raw/crmflow rounds; the median is reported
    history_points: tuple[int, ...]  # rounds at which step time and state size are taken
    history_window: int  # rounds averaged for one step time
    timers: int  # timers due at once in the storm
    timer_rounds: int
    worklist_items: tuple[int, int] = (1_000, 100_000)  # open items: the reference size, the measured size
    worklist_samples: int = 300  # first-page calls timed per view and size


FULL = Sizes("full", 100, 15, (10, 1_000, 10_000), 20, 1_000, 3)
QUICK = Sizes("quick", 30, 9, (10, 200, 1_000), 20, 200, 3, (1_000, 20_000), 100)
SMOKE = Sizes("smoke", 4, 3, (2, 5, 9), 3, 5, 1, (200, 1_000), 10)


@dataclass
class Row:
    """One line of the results table.

    `ratio` is a plain positive number whose meaning `ratio_is` spells out (e.g.
    "crmflow ÷ raw"); None when there is nothing to compare (a skipped row).
    """

    workload: str
    case: str
    crmflow: str
    reference: str
    ratio: float | None
    ratio_is: str
    target: str = ""
    notes: list[str] = field(default_factory=list)
