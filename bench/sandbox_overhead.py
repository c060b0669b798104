"""`python -m bench.sandbox_overhead`: what the hard limits cost (docs/limits.md).

Times one evaluation of typical analyst code three ways: in-process with the full guards
(isolation off, the path before issue 15), in-process with the cheap guards (what short
conditions and assignment scripts now take) and in a bounded child (everything else).
Prints microseconds per call and the ratios; no assertion (the machine decides the numbers).
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable

from engine import sandbox_limits
from engine.sandbox import RestrictedEnvironment


def _per_call(fn: Callable[[], object], seconds: float = 1.0) -> float:
    n, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        fn()
        n += 1
    return (time.perf_counter() - began) / n * 1e6


def main() -> None:
    env = RestrictedEnvironment()
    cases = {
        "condition `amount > 1000 and region == 'EU'`": ("eval", "amount > 1000 and region == 'EU'"),
        "script `total = amount * 1.2`": ("exec", "total = amount * 1.2"),
        "script with a loop": ("exec", "total = 0\nfor i in range(100):\n    total += i"),
        "comprehension expression": ("eval", "[i * 2 for i in range(100)]"),
    }
    print(f"load average {os.getloadavg()[0]:.1f}, cpus {os.cpu_count()}, "
          f"rss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    print(f"{'case':50} {'before µs':>10} {'now µs':>10} {'ratio':>7}")
    for label, (mode, source) in cases.items():
        def call(mode: str = mode, source: str = source) -> object:
            data = {"amount": 1500, "region": "EU"}
            return env.evaluate(source, data) if mode == "eval" else env.execute(source, data)

        with sandbox_limits.overridden(isolation=False):
            before = _per_call(call)
        now = _per_call(call)
        print(f"{label:50} {before:10.1f} {now:10.1f} {now / before:7.1f}")


if __name__ == "__main__":
    main()
