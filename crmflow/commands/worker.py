"""`crmflow worker`: fire timers, retry incidents and deliver the outbox until stopped."""

from __future__ import annotations

import importlib.util
import signal
import threading
from typing import Annotated

import typer

from crmflow.cli import DbOpt, app, open_engine
from engine.outbox import Sender
from engine.scheduler import Scheduler
from engine.views import TickResult


def configured_senders() -> dict[str, Sender]:
    """Outbox senders from the environment (SMTP for 'email' when configured)."""
    if importlib.util.find_spec("crmflow.mail") is None:
        return {}
    from crmflow import mail

    return mail.senders_from_env()


@app.command()
def worker(
    ctx: typer.Context,
    db: DbOpt = None,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between passes (due work wakes it sooner).")] = 1.0,
    once: Annotated[bool, typer.Option("--once", help="One pass, then exit.")] = False,
) -> None:
    """Run the scheduler: due timers fire once, failed steps retry with backoff, emails go out.

    Stops cleanly on Ctrl-C or SIGTERM after the pass in progress.
    """
    with open_engine(ctx, db) as eng:
        senders = configured_senders()

        def report(result: TickResult) -> None:
            for fired in result.timers_fired:
                late = (fired.fired_at - fired.due_at).total_seconds()
                typer.echo(f"timer {fired.element_id} of instance {fired.instance_id} fired ({late:.1f}s after due)")
            for incident_id in result.incidents_retried:
                typer.echo(f"incident {incident_id} retried")

        if once:
            report(eng.tick())
            if senders:
                delivered = eng.deliver_outbox(senders)
                typer.echo(f"outbox: {delivered.sent} sent, {delivered.failed} failed")
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        scheduler = Scheduler(eng, poll_interval=poll, senders=senders, on_tick=report)
        scheduler.start()
        channels = ", ".join(sorted(senders)) or "none configured"
        typer.echo(f"worker running on {eng.db.url.split('@')[-1]} (poll {poll}s, outbox: {channels}); Ctrl-C stops")
        try:
            stop.wait()
        finally:
            scheduler.shutdown(wait=True)
            typer.echo("worker stopped")
