"""The scale-out fault tests' machinery: a scratch PostgreSQL database, `crmflow worker`
processes that can be killed and restarted, a real SMTP server and a throwaway cluster.

These tests run against real time on purpose: the workers are separate processes on the
system clock, so a ManualClock cannot reach them. Every wait has a deadline and every
process started here is killed in a `finally`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from glob import glob
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PG_ENV = "CRMFLOW_TEST_DB"
STOP_GRACE = 20.0  # seconds a worker gets to stop on SIGTERM before it is killed


def postgres_url() -> str | None:
    url = os.environ.get(PG_ENV, "")
    return url if url.startswith("postgresql") else None


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL server binaries (Debian layout), if any."""
    found = sorted(glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.2,
             check: Callable[[], None] | None = None) -> float:
    """Poll until `predicate()` holds; fail naming `what` after `timeout` seconds.
    `check` runs every round (e.g. to fail fast when a worker died). Returns seconds waited."""
    began = time.monotonic()
    while True:
        if check is not None:
            check()
        if predicate():
            return time.monotonic() - began
        if time.monotonic() - began > timeout:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(poll)


# -- databases ------------------------------------------------------------------------------

def create_database(server_url: str) -> str:
    """A new, empty database on the server of `server_url`; returns its URL.

    The shared test database is emptied by other test runs at any moment (tests/conftest.py
    drops its schema per test), so worker processes get a database of their own."""
    name = f"crmflow_scaleout_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def scratch_db() -> Iterator[str]:
    server = postgres_url()
    if server is None:
        pytest.skip(f"scale-out tests need PostgreSQL: set {PG_ENV} to a postgresql+psycopg:// URL")
    url = create_database(server)
    try:
        yield url
    finally:
        drop_database(server, url)


@dataclass
class Cluster:
    """A throwaway PostgreSQL cluster (.ci/postgres.sh) that the test may restart."""

    folder: Path
    port: int
    url: str
    bin: Path

    def _as_owner(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["su", "postgres", "-s", "/bin/bash", "-c", " ".join(f"'{a}'" for a in cmd)]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: every connection is cut, the server comes back."""
        done = self._as_owner(str(self.bin / "pg_ctl"), "-D", str(self.folder / "data"), "-l",
                              str(self.folder / "log"), "-m", "fast", "-w", "restart")
        assert done.returncode == 0, f"pg_ctl restart failed: {done.stdout}{done.stderr}"


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    if postgres_url() is None:
        pytest.skip(f"scale-out tests need PostgreSQL: set {PG_ENV} to a postgresql+psycopg:// URL")
    binaries = postgres_bin()
    if binaries is None:
        pytest.skip("the database-restart test needs the PostgreSQL server binaries (/usr/lib/postgresql/*/bin)")
    parent = Path(tempfile.mkdtemp(prefix="crmflow-pgrestart-"))
    parent.chmod(0o755)  # the postgres user must reach the data directory inside
    folder, port = parent / "pg", free_port()
    script = ROOT / ".ci" / "postgres.sh"
    try:
        started = subprocess.run(["bash", str(script), "start", str(folder), str(port)],
                                 capture_output=True, text=True, timeout=120, check=False)
        if started.returncode != 0:
            pytest.fail(f".ci/postgres.sh start failed: {started.stderr.strip()}")
        yield Cluster(folder, port, started.stdout.strip().splitlines()[-1], binaries)
    finally:
        subprocess.run(["bash", str(script), "stop", str(folder)], capture_output=True, timeout=120, check=False)
        shutil.rmtree(parent, ignore_errors=True)


# -- worker processes -------------------------------------------------------------------------

@dataclass
class Worker:
    slot: int
    proc: subprocess.Popen[bytes]
    log: Path
    metrics_port: int | None
    _ready: bool = False

    def ready(self) -> bool:
        """Started up and working (it has printed its "worker running" line)."""
        if not self._ready:
            self._ready = "worker running" in self.log.read_text(errors="replace")
        return self._ready


@dataclass
class WorkerPool:
    """`crmflow worker` processes on one database, each in a numbered slot."""

    url: str
    logs: Path
    env: dict[str, str]
    poll: float = 0.2
    workers: dict[int, Worker] = field(default_factory=dict)
    retired: list[Worker] = field(default_factory=list)
    _files: list[IO[bytes]] = field(default_factory=list)
    _launches: int = 0

    def start(self, slot: int, metrics: bool = False) -> Worker:
        self._launches += 1
        log = self.logs / f"worker{slot}-{self._launches}.log"
        out = log.open("wb")
        self._files.append(out)
        port = free_port() if metrics else None
        cmd = [sys.executable, "-m", "crmflow", "worker", "--db", self.url, "--poll", str(self.poll)]
        if port is not None:
            cmd += ["--metrics-port", str(port)]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        self.workers[slot] = Worker(slot, proc, log, port)
        return self.workers[slot]

    def kill(self, slot: int) -> None:
        """`kill -9`: no cleanup, no lease released, no transaction finished."""
        worker = self.workers.pop(slot)
        worker.proc.send_signal(signal.SIGKILL)
        worker.proc.wait(timeout=10)
        self.retired.append(worker)

    def pids(self) -> set[int]:
        return {w.proc.pid for w in [*self.workers.values(), *self.retired]}

    def check_alive(self) -> None:
        """Fail at once, with its output, when a worker exited that nobody stopped."""
        for worker in self.workers.values():
            if worker.proc.poll() is not None:
                tail = worker.log.read_text(errors="replace")[-3000:]
                pytest.fail(f"worker {worker.slot} exited with {worker.proc.returncode}:\n{tail}")

    def stop_all(self) -> dict[int, int | None]:
        """SIGTERM everyone (a graceful stop), then wait; returns each slot's exit code
        (None when it had to be killed after STOP_GRACE seconds)."""
        for worker in self.workers.values():
            worker.proc.send_signal(signal.SIGTERM)
        codes: dict[int, int | None] = {}
        deadline = time.monotonic() + STOP_GRACE
        for slot, worker in list(self.workers.items()):
            try:
                codes[slot] = worker.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.proc.kill()
                worker.proc.wait(timeout=10)
                codes[slot] = None
            self.retired.append(self.workers.pop(slot))
        return codes

    def close(self) -> None:
        for worker in [*self.workers.values(), *self.retired]:
            if worker.proc.poll() is None:
                worker.proc.kill()
                worker.proc.wait(timeout=10)
        self.workers.clear()
        for out in self._files:
            out.close()


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The worker's environment: our handler module on the path and named in CRMFLOW_HANDLERS."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRMFLOW_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE)])
    env["CRMFLOW_HANDLERS"] = "faulty_handlers"
    env["PYTHONUNBUFFERED"] = "1"  # its log lines reach the file at once
    env.update(extra or {})
    return env


@pytest.fixture
def make_pool(tmp_path: Path) -> Iterator[Callable[..., WorkerPool]]:
    """Factory of worker pools; every process they started is killed at teardown."""
    pools: list[WorkerPool] = []

    def factory(url: str, extra_env: dict[str, str] | None = None, poll: float = 0.2) -> WorkerPool:
        logs = tmp_path / f"workers{len(pools)}"
        logs.mkdir()
        pool = WorkerPool(url, logs, worker_env(extra_env), poll)
        pools.append(pool)
        return pool

    try:
        yield factory
    finally:
        for pool in pools:
            pool.close()


# -- a real SMTP server -------------------------------------------------------------------------

@dataclass
class Inbox:
    """An aiosmtpd handler that keeps every message it accepts (thread-safe append)."""

    received: list[EmailMessage] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        message = message_from_bytes(envelope.content, policy=default)
        with self.lock:
            self.received.append(message)
        return "250 Message accepted for delivery"

    def messages(self) -> list[EmailMessage]:
        with self.lock:
            return list(self.received)


@dataclass
class SmtpServer:
    host: str
    port: int
    inbox: Inbox

    def env(self) -> dict[str, str]:
        return {"CRMFLOW_SMTP_HOST": self.host, "CRMFLOW_SMTP_PORT": str(self.port),
                "CRMFLOW_MAIL_FROM": "orders@crmflow.test"}


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield SmtpServer(controller.hostname, controller.port, inbox)
    finally:
        controller.stop()
