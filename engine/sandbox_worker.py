"""Run one evaluation in a forked child process bounded by the operating system.

Why fork per evaluation and not a pool of long-lived workers: the child starts as an exact copy
of the caller, so a script sees its task data, environment and helpers without serialising any
of it, and whatever it allocates vanishes with the child. Forking a 60–100 MB Python process
costs about a millisecond (docs/limits.md has the measurements); cheap expressions never pay it
(engine/sandbox_cheap.py).

The child gets RLIMIT_CPU (SIGXCPU, then SIGKILL, on overrun) and RLIMIT_AS (its current size
plus the memory limit; MemoryError beyond it); the parent adds a wall-clock deadline and kills
the child when it passes. The parent only waits on a pipe, without the GIL, so other threads of a
server keep serving meanwhile. The child sends back one pickled message: its result or its
exception (with the script line it was raised on). It may also ask the parent to run a named
function (helpers that read the database must use the parent's session and connection, which the
child must never touch) — the parent answers and waits on.
"""

from __future__ import annotations

import gc
import os
import pickle
import resource
import select
import signal
import struct
import time
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from .sandbox_limits import SandboxLimits

_HEADER = struct.Struct("!Q")
child_runs = 0
"""How many evaluations this process has run in a bounded child (tests and benchmarks read it)."""
_EXIT_MEMORY = 86
_PAGE = os.sysconf("SC_PAGE_SIZE")


class LimitExceeded(Exception):
    """An evaluation ran past its CPU, memory or wall-clock limit (its child was stopped).

    The sandbox re-raises it as a ``SandboxError``, which the engine turns into an incident
    naming the element.
    """

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


# --- framing --------------------------------------------------------------------------------------


def _send(fd: int, message: Any) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(_HEADER.pack(len(data)) + data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exactly(fd: int, size: int, deadline: float | None) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _receive(fd: int, deadline: float | None) -> Any:
    header = _read_exactly(fd, _HEADER.size, deadline)
    if header is None:
        raise EOFError
    body = _read_exactly(fd, _HEADER.unpack(header)[0], deadline)
    if body is None:
        raise EOFError
    return pickle.loads(body)


# --- the child ----------------------------------------------------------------------------------

_channel: tuple[int, int] | None = None  # (write to parent, read from parent) inside a child


def in_child() -> bool:
    return _channel is not None


def call_parent(name: str, *args: Any, **kwargs: Any) -> Any:
    """From inside a child: run the parent's function `name` and return its result."""
    if _channel is None:
        raise RuntimeError("call_parent outside a sandbox child")
    _send(_channel[0], ("call", name, args, kwargs))
    kind, value = _receive(_channel[1], None)
    if kind == "err":
        raise value
    return value


def _vm_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * _PAGE


def _limit_self(limits: SandboxLimits) -> None:
    cpu = limits.cpu_rlimit
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    allowed = _vm_bytes() + limits.memory_mb * 1024 * 1024
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    if hard != resource.RLIM_INFINITY:
        allowed = min(allowed, hard)
    resource.setrlimit(resource.RLIMIT_AS, (allowed, hard))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _script_line(err: BaseException) -> int:
    """The line of the diagram script the error was raised on (compiled as ``<string>``)."""
    line = 0
    for frame in traceback.extract_tb(err.__traceback__):
        if frame.filename == "<string>" and frame.lineno:
            line = frame.lineno
    return line


def _portable(err: BaseException) -> BaseException:
    try:
        pickle.loads(pickle.dumps(err))
        return err
    except Exception:
        return RuntimeError(f"{type(err).__name__}: {err}")


def _child(fn: Callable[..., Any], args: tuple[Any, ...], limits: SandboxLimits, out_fd: int, in_fd: int) -> None:
    global _channel
    status = 0
    try:
        gc.disable()  # never finalise the parent's objects (connections!) in here
        _channel = (out_fd, in_fd)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        _limit_self(limits)
        try:
            message: Any = ("ok", fn(*args))
        except MemoryError:
            message = None
            status = _EXIT_MEMORY
        except BaseException as err:  # noqa: BLE001 - everything goes back to the parent
            message = ("err", _portable(err), _script_line(err))
        if message is not None:
            try:
                _send(out_fd, message)
            except MemoryError:
                status = _EXIT_MEMORY
            except Exception as err:  # noqa: BLE001 - e.g. a value that cannot be pickled
                _send(out_fd, ("err", TypeError(f"the result cannot leave the sandbox: {err}"), 0))
    except MemoryError:
        status = _EXIT_MEMORY
    except BaseException:  # noqa: BLE001
        status = 1
    finally:
        os._exit(status)


# --- the parent -----------------------------------------------------------------------------------


def _stop(pid: int) -> int:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return os.waitpid(pid, 0)[1]


def _overrun(status: int, limits: SandboxLimits, what: str) -> LimitExceeded:
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL):
        return LimitExceeded(
            f"{what} stopped: it used more than its CPU time limit of {limits.cpu_seconds:g} s "
            "(CRMFLOW_SANDBOX_CPU_SECONDS)", "cpu")
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == _EXIT_MEMORY:
        return memory_exceeded(limits, what)
    return LimitExceeded(f"{what} stopped: its sandbox process ended unexpectedly (status {status})", "crash")


def memory_exceeded(limits: SandboxLimits, what: str) -> LimitExceeded:
    return LimitExceeded(
        f"{what} stopped: it needed more than its memory limit of {limits.memory_mb} MB "
        "(CRMFLOW_SANDBOX_MEMORY_MB)", "memory")


def run_limited(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    limits: SandboxLimits,
    *,
    what: str = "script",
    parent_functions: Mapping[str, Callable[..., Any]] | None = None,
) -> tuple[Any, BaseException | None, int]:
    """Run ``fn(*args)`` in a bounded child: (result, None, 0) or (None, exception, script line).

    Raises ``LimitExceeded`` when the child overran a limit or died.
    """
    global child_runs
    child_runs += 1
    to_parent_r, to_parent_w = os.pipe()
    to_child_r, to_child_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(to_parent_r)
        os.close(to_child_w)
        _child(fn, args, limits, to_parent_w, to_child_r)
    os.close(to_parent_w)
    os.close(to_child_r)
    deadline = time.monotonic() + limits.wall
    reaped = False
    try:
        while True:
            try:
                message = _receive(to_parent_r, deadline)
            except TimeoutError:
                _stop(pid)
                reaped = True
                raise LimitExceeded(
                    f"{what} stopped: it ran longer than its time limit of {limits.wall:g} s "
                    "(CRMFLOW_SANDBOX_WALL_SECONDS)", "wall") from None
            except EOFError:
                status = os.waitpid(pid, 0)[1]
                reaped = True
                raise _overrun(status, limits, what) from None
            if message[0] == "call":
                _, name, call_args, call_kwargs = message
                try:
                    function = (parent_functions or {})[name]
                    reply: Any = ("ok", function(*call_args, **call_kwargs))
                except Exception as err:  # noqa: BLE001 - goes back to the script
                    reply = ("err", _portable(err))
                _send(to_child_w, reply)
                continue
            if message[0] == "ok":
                return message[1], None, 0
            return None, message[1], message[2]
    finally:
        os.close(to_parent_r)
        os.close(to_child_w)
        if not reaped:
            _stop(pid)
