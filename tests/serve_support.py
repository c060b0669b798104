"""`crmflow serve` as a user starts it: a subprocess on a free port, polled on /healthz until it
answers (a generous bound for a loaded machine, never a sleep), stopped with SIGTERM.

Shared by the API's smoke test and the browser walk, which both need the real command, not an
app object served in a thread (that is `browser_support.serve`)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx


@dataclass
class Served:
    """The running command: its base URL, the process, and what it printed so far."""

    base: str
    proc: subprocess.Popen
    lines: list[str] = field(default_factory=list)
    exit_code: int | None = None

    @property
    def output(self) -> str:
        return "".join(self.lines)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def crmflow_serve(args: list[str], *, cwd: Path, env: dict[str, str], startup_seconds: float,
                  poll: float = 0.3) -> Iterator[Served]:
    """`python -m crmflow serve ARGS --port P`; yields once /healthz answers 200. On leaving, the
    process gets SIGTERM and `exit_code` is set (killed after 30 s, which raises)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "crmflow", "serve", *args, "--port", str(port)],
                            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    served = Served(f"http://127.0.0.1:{port}", proc)
    reader = threading.Thread(target=lambda: served.lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            assert proc.poll() is None, "crmflow serve exited early:\n" + served.output
            try:
                if httpx.get(f"{served.base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "crmflow serve did not answer /healthz:\n" + served.output
            time.sleep(poll)
        yield served
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            served.exit_code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        finally:
            reader.join(timeout=5)
