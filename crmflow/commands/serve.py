"""`crmflow serve`: the web pages, the HTTP API and the scheduler in one process.

The scheduler (timers, asynchronous jobs, incident retries, outbox) starts with the app and
stops with it; `--no-scheduler` leaves that to separate `crmflow worker` processes. Uvicorn
stops cleanly on Ctrl-C or SIGTERM: requests in flight finish, then the scheduler stops.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crmflow.commands.common import DbOpt, open_engine
from crmflow.settings import build_worklist, lane_map, processes_folder

commands = typer.Typer()


@commands.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool, typer.Option("--demo", help="Seed demo users (password 'demo'), deploy processes/, start some work.")
    ] = False,
    no_history: Annotated[
        bool, typer.Option("--no-history", help="With --demo: skip the 120 simulated days that fill the dashboards.")
    ] = False,
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="Do not fire timers or run jobs here (run crmflow worker).")
    ] = False,
    poll: Annotated[float, typer.Option("--poll", min=0.05, help="Scheduler: seconds between passes.")] = 1.0,
    processes: Annotated[
        Path | None,
        typer.Option("--processes", help="Processes folder: diagrams, forms, lanes.json "
                     "(default: $CRMFLOW_PROCESSES, else processes/)."),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Serve the worklist pages (/login), the API (/api/v1/docs), /healthz and /metrics."""
    import uvicorn

    from crmflow.web.app import create_app
    from engine.scheduler import Scheduler

    from .worker import configured_senders

    folder = processes_folder(processes)
    lanes = lane_map(folder)  # one lane map for the engine's router and the worklists
    with open_engine(ctx, db, lanes=lanes) as eng:
        worklist = build_worklist(eng, folder, lanes)
        url = f"http://{'localhost' if host in ('0.0.0.0', '127.0.0.1', '::') else host}:{port}"
        if demo:
            from crmflow import demo_seed

            seeded = demo_seed.seed(eng, worklist, folder, history=not no_history, echo=typer.echo)
            demo_seed.print_report(seeded, url, typer.echo)
        scheduler = None if no_scheduler else Scheduler(eng, poll_interval=poll, senders=configured_senders(eng))
        web = create_app(eng, worklist, scheduler=scheduler)
        where = eng.db.url.split("@")[-1]
        work = "without scheduler" if no_scheduler else f"with scheduler (poll {poll}s)"
        typer.echo(f"crmflow serving {url} on {where}, {work}; Ctrl-C stops")
        uvicorn.run(web, host=host, port=port, log_level="info", lifespan="on")

