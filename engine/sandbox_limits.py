"""Hard limits for every evaluation of analyst- or user-written code (scripts, conditions,
expressions, DMN cells, timer and task-date expressions, Jinja templates).

The in-process sandbox (engine/sandbox.py) refuses single absurd operations, but C code such as
``repr`` of a shared structure runs without any check (measured: 10 GB resident, 63 s). So code
that is not provably cheap runs in a forked child process bounded by the operating system
(engine/sandbox_worker.py); these are its limits. Read from the environment once per call, so
a test or an operator changes them without a restart:

- ``CRMFLOW_SANDBOX_CPU_SECONDS`` (default 2): CPU seconds one evaluation may use (RLIMIT_CPU).
- ``CRMFLOW_SANDBOX_MEMORY_MB`` (default 256): memory one evaluation may allocate beyond the
  process it was forked from (RLIMIT_AS).
- ``CRMFLOW_SANDBOX_WALL_SECONDS`` (default: CPU seconds × 2 + 1): wall-clock bound, for code
  that waits instead of computing.
- ``CRMFLOW_SANDBOX_ISOLATION`` (default ``on``): ``off`` runs everything in-process (only
  the sandbox's operation guards then; for platforms without fork).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace

DEFAULT_CPU_SECONDS = 2.0
DEFAULT_MEMORY_MB = 256


@dataclass(frozen=True)
class SandboxLimits:
    """The bounds of one evaluation."""

    cpu_seconds: float = DEFAULT_CPU_SECONDS
    memory_mb: int = DEFAULT_MEMORY_MB
    wall_seconds: float | None = None
    isolation: bool = True

    @property
    def wall(self) -> float:
        return self.wall_seconds if self.wall_seconds is not None else self.cpu_seconds * 2 + 1

    @property
    def cpu_rlimit(self) -> int:
        """RLIMIT_CPU counts whole seconds."""
        return max(1, math.ceil(self.cpu_seconds))

    def describe(self) -> str:
        return f"{self.cpu_seconds:g} s CPU, {self.memory_mb} MB memory"


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise ValueError(f"{name} must be positive, not {raw!r}")
    return value


_override: contextvars.ContextVar[SandboxLimits | None] = contextvars.ContextVar("crmflow_sandbox_limits", default=None)


def current() -> SandboxLimits:
    """The limits in force: an `overridden` block's, else the environment's."""
    forced = _override.get()
    if forced is not None:
        return forced
    return _from_environment(tuple(os.environ.get(name, "") for name in _NAMES))


_NAMES = ("CRMFLOW_SANDBOX_CPU_SECONDS", "CRMFLOW_SANDBOX_MEMORY_MB", "CRMFLOW_SANDBOX_WALL_SECONDS",
          "CRMFLOW_SANDBOX_ISOLATION")


@functools.lru_cache(maxsize=32)
def _from_environment(raw: tuple[str, ...]) -> SandboxLimits:
    """Parsed once per distinct setting (every evaluation asks)."""
    wall = raw[2].strip()
    return SandboxLimits(
        cpu_seconds=_number(_NAMES[0], DEFAULT_CPU_SECONDS),
        memory_mb=int(_number(_NAMES[1], DEFAULT_MEMORY_MB)),
        wall_seconds=_number(_NAMES[2], 0) if wall else None,
        isolation=raw[3].strip().lower() not in ("off", "0", "no", "false"),
    )


@contextlib.contextmanager
def overridden(**changes: object) -> Iterator[SandboxLimits]:
    """Run a block with other limits (tests, benchmarks)."""
    limits = replace(current(), **changes)  # type: ignore[arg-type]
    token = _override.set(limits)
    try:
        yield limits
    finally:
        _override.reset(token)
