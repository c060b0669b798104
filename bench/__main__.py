"""`python -m bench [--quick] [--only NAME]`: run the workloads, print the table, write the page."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from . import (
    FULL,
    QUICK,
    SMOKE,
    Row,
    Sizes,
    lifecycle,
    linear,
    long_history,
    memory,
    scaleout,
    timer_storm,
    worklist_volume,
)
from .common import Log, machine_info
from .report import page, table

WORKLOADS: dict[str, Callable[[Sizes, Log], list[Row]]] = {
    "linear": linear.run,
    "lifecycle": lifecycle.run,
    "long_history": long_history.run,
    "timer_storm": timer_storm.run,
    "worklist": worklist_volume.run,
    "memory": memory.run,
    "scaleout": scaleout.run,
}
#: run by default only when PostgreSQL is configured (it starts worker processes there); --only runs it anyway
NEEDS_PG = {"scaleout"}
DEFAULT_OUTPUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes for CI smoke (under a minute)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes for the test suite (seconds)")
    parser.add_argument("--only", action="append", choices=sorted(WORKLOADS), metavar="NAME",
                        help=f"run only this workload (repeatable): {', '.join(WORKLOADS)}")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT,
                        help="where to write the Markdown page (default: docs/benchmarks.md)")
    return parser.parse_args(argv)


def command_line(argv: list[str]) -> str:
    """The command as run; the PostgreSQL URL is only said to be set (it may hold a password)."""
    env = [f"{linear.PG_ENV}=<url>"] if os.environ.get(linear.PG_ENV) else []
    return " ".join([*env, "python -m bench", *argv])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    sizes = SMOKE if args.smoke else QUICK if args.quick else FULL

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    began = time.perf_counter()
    rows: list[Row] = []
    for name, workload in WORKLOADS.items():
        if args.only and name not in args.only:
            continue
        if not args.only and name in NEEDS_PG and not os.environ.get(linear.PG_ENV):
            continue
        rows.extend(workload(sizes, log))
    seconds = time.perf_counter() - began
    print(table(rows))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(page(rows, machine_info(), command_line(argv), sizes, seconds))
    log(f"wrote {args.output} in {seconds:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
