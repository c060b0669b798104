"""`python -m bench.profile [--label NAME]`: where a step's time goes (cProfile).

Profiles a batch of linear starts (SQLite file, history on) and a few lead-to-invoice
lifecycles (real handlers) through the facade, and prints the top entries by own time and
by cumulative time, plus the SQL statements per step, as Markdown for
docs/benchmarks-profile.md (which `python -m bench` copies into docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import event, func, select

from engine import ManualClock
from engine.read_model import HistoryEntry

from .common import crmflow_engine
from .lifecycle import quiet_story_class
from .linear import PROCESS

TOP = 15


def _count_statements(eng) -> Callable[[], int]:  # noqa: ANN001 - engine.Engine
    counted = [0]

    def on_execute(*_args: object) -> None:
        counted[0] += 1

    event.listen(eng.db.write_engine, "before_cursor_execute", on_execute)
    return lambda: counted[0]


def _top(profile: cProfile.Profile, key: str) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats(key).print_stats(TOP)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    return "\n".join(line.replace(str(Path.cwd()) + "/", "") for line in lines[start:] if line.strip())


def _steps(eng) -> int:  # noqa: ANN001
    with eng.db.read() as session:
        return session.scalar(select(func.count()).select_from(HistoryEntry).where(HistoryEntry.event == "completed"))


def profile_linear(n: int) -> tuple[cProfile.Profile, str]:
    with crmflow_engine() as (eng, _):
        for _ in range(20):  # warm
            eng.start(PROCESS, {})
        statements = _count_statements(eng)
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(n):
            eng.start(PROCESS, {})
        profile.disable()
        return profile, f"{statements() / n:.1f} SQL statements per instance (one start that runs to the end)"


def profile_lifecycle(n: int) -> tuple[cProfile.Profile, str]:
    from crmflow import demo
    from crmflow.settings import build_engine

    quiet = quiet_story_class()
    with tempfile.TemporaryDirectory(prefix="crmflow-profile-") as folder:
        clock = ManualClock(demo.story_start())
        eng = build_engine(f"sqlite:///{Path(folder) / 'l2i.db'}", clock)
        try:
            eng.deploy([demo.default_processes()])
            quiet(eng, clock, lambda *_: None, demo.default_processes()).tell()  # warm
            statements = _count_statements(eng)
            before = _steps(eng)
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(n):
                quiet(eng, clock, lambda *_: None, demo.default_processes()).tell()
            profile.disable()
            steps = _steps(eng) - before
            return profile, (f"{statements() / n:.0f} SQL statements per lifecycle, {steps / n:.0f} completed "
                             f"elements per lifecycle")
        finally:
            eng.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--label", default="now")
    parser.add_argument("--linear", type=int, default=200, help="linear starts profiled")
    parser.add_argument("--lifecycles", type=int, default=3, help="lead-to-invoice lifecycles profiled")
    args = parser.parse_args()
    parts = [f"### {args.label}"]
    for name, (profile, note) in (("linear", profile_linear(args.linear)),
                                  ("lifecycle", profile_lifecycle(args.lifecycles))):
        total = pstats.Stats(profile).total_tt
        parts.append(f"#### {name}: {total:.2f} s profiled; {note}\n")
        parts.append(f"```\n{_top(profile, 'tottime')}\n```\n")
        parts.append(f"```\n{_top(profile, 'cumulative')}\n```\n")
    print("\n".join(parts))


if __name__ == "__main__":
    main()
