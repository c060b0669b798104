"""`crmflow worker`: fire timers, run asynchronous jobs, retry incidents and deliver the outbox.

Several workers (processes or machines) may share one PostgreSQL database: jobs are
claimed with `FOR UPDATE SKIP LOCKED` and a lease, timers and steps lock their instance,
so each piece of work is done once. `--metrics-port` serves `/metrics` (Prometheus text)
and `/healthz`.
"""

from __future__ import annotations

import os
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated

import typer

from crmflow.commands.common import DbOpt, open_engine
from engine import Engine, Retention
from engine.outbox import Sender
from engine.scheduler import Scheduler
from engine.views import TickResult

commands = typer.Typer()


def configured_senders(engine: Engine | None = None) -> dict[str, Sender]:
    """Outbox senders from the environment: SMTP for 'email' when configured, and with it task
    reminders ('task_reminder') mailed to the task's assignee or groups (links use CRMFLOW_BASE_URL)."""
    from crmflow import mail

    senders: dict[str, Sender] = dict(mail.senders_from_env())
    if engine is not None and "email" in senders:
        from worklists.auth import Accounts
        from worklists.reminders import TaskReminderSender

        senders["task_reminder"] = TaskReminderSender(
            Accounts(engine), senders["email"], os.environ.get("CRMFLOW_BASE_URL")
        )
    return senders


def serve_metrics(engine: Engine, port: int, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """A tiny HTTP server in a thread: `/metrics` and `/healthz` (database reachable)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            try:
                if self.path == "/metrics":
                    body, status, kind = engine.metrics_text(), 200, "text/plain; version=0.0.4"
                elif self.path == "/healthz":
                    engine.next_due_at()
                    body, status, kind = "ok\n", 200, "text/plain"
                else:
                    body, status, kind = "not found\n", 404, "text/plain"
            except Exception as err:  # noqa: BLE001 - health is reported, never raised
                body, status, kind = f"unhealthy: {type(err).__name__}: {err}\n", 503, "text/plain"
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@commands.command()
def worker(
    ctx: typer.Context,
    db: DbOpt = None,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between passes (due work wakes it sooner).")] = 1.0,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64, help="Parallel loops.")] = 1,
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", help="Serve /metrics and /healthz on this port.")
    ] = None,
    lease: Annotated[
        float, typer.Option("--lease-seconds", min=1.0, help="How long a claimed job stays ours if we die.")
    ] = 60.0,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
    cleanup_every: Annotated[
        float, typer.Option("--cleanup-every", min=0.0, help="Seconds between history cleanups (finished instances "
                            "past CRMFLOW_RETENTION_DAYS / CRMFLOW_RETENTION); 0 turns it off.")
    ] = 3600.0,
) -> None:
    """Run the background work: due timers fire once, async tasks run, failed steps retry, emails go out.

    Stops cleanly on Ctrl-C or SIGTERM after the passes in progress (leases are released by
    finishing the work they cover).
    """
    retention = Retention.from_env()
    with open_engine(ctx, db) as eng:
        senders = configured_senders(eng)

        def report(result: TickResult) -> None:
            for fired in result.timers_fired:
                late = (fired.fired_at - fired.due_at).total_seconds()
                typer.echo(f"timer {fired.element_id} of instance {fired.instance_id} fired ({late:.1f}s after due)")
            for incident_id in result.incidents_retried:
                typer.echo(f"incident {incident_id} retried")
            if result.jobs_run:
                typer.echo(f"{len(result.jobs_run)} asynchronous job(s) run")

        if once:
            report(eng.tick(lease_seconds=lease))
            if cleanup_every:
                removed = eng.cleanup_history(retention)
                if removed.instances:
                    typer.echo(f"history cleanup: {len(removed.instances)} finished instance(s) removed")
            if senders:
                delivered = eng.deliver_outbox(senders)
                typer.echo(f"outbox: {delivered.sent} sent, {delivered.failed} failed")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        server = serve_metrics(eng, metrics_port) if metrics_port else None
        schedulers = [
            Scheduler(eng, poll_interval=poll, senders=senders if i == 0 else None, on_tick=report,
                      lease_seconds=lease, retention=retention if i == 0 and cleanup_every else None,
                      cleanup_every=cleanup_every)
            for i in range(concurrency)
        ]
        for scheduler in schedulers:
            scheduler.start()
        channels = ", ".join(sorted(senders)) or "none configured"
        where = eng.db.url.split("@")[-1]
        typer.echo(f"worker running on {where} ×{concurrency} (poll {poll}s, outbox: {channels}); Ctrl-C stops")
        try:
            stop.wait()
        finally:
            for scheduler in schedulers:
                scheduler.shutdown(wait=True)
            if server is not None:
                server.shutdown()
            typer.echo("worker stopped")
