"""A simulated past for the demo: 120 days of sales, marketing and service work, so the
managers' dashboards open filled after `crmflow serve --demo`.

Everything happens through the engine facade (`start`, `complete_task`, `correlate`, and
`tick` to fire due timers) on an engine whose ManualClock walks from 120 days ago to now:
each story (a lead, a case, a campaign) is a generator that does one thing with the
facade and says when it acts next; the timeline resumes stories in time order and, on the
way, fires every timer when it falls due (follow-up calls, payment reminders, SLA warnings
and breaches, auto-close, response windows), so records carry the times they would have
had. Whatever a story has not done by now stays open, as real work would: leads to
qualify, opportunities being worked, quotes out, invoices unpaid, cases in queues.

What the processes do not capture is written as reference data, clearly apart: customers,
entitlements and marketing lists before the story, and sales quotas after it. Win
probabilities come from the reps' forms (Qualify lead, then Work opportunity as the quote goes out).

It is deterministic (`random.Random(SEED)`, times relative to the end) and runs once per
database: the business keys start with `HIST-`, and a database that has one is left alone.

This package's front is here (`seed_history`, `has_history`); the rest lives by concern: `plans`
(the cast, the reference data and each story's plan, drawn from the seed), `reference` (the
customers, entitlements and lists written before the story) and `stories` (the timeline and
the stories that drive the processes through the facade).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import select

from engine import Engine, ManualClock
from engine.read_model import Instance

from .plans import DAYS, KEY_PREFIX
from .stories import Echo, History, HistoryReport


def has_history(eng: Engine) -> bool:
    with eng.db.read() as session:
        found = session.scalars(select(Instance.id).where(Instance.business_key.like(f"{KEY_PREFIX}%")).limit(1))
        return found.first() is not None


def seed_history(eng: Engine, echo: Echo = print, end: datetime | None = None, days: int = DAYS) -> HistoryReport:
    """Run the simulated past on `eng`'s database (processes deployed) unless it is there already.

    A second engine on the same database, with the same handlers and task router, runs on a
    manual clock from `end - days` to `end` (default: `eng`'s now); `eng` itself is not touched.
    """
    if has_history(eng):
        return HistoryReport(created=False)
    began = time.monotonic()
    end = end or eng.now()
    start = (end - timedelta(days=days)).replace(hour=7, minute=0, second=0, microsecond=0)
    clock = ManualClock(start)
    sim = Engine(eng.db.url, registry=eng.registry, clock=clock, auto_migrate=False, task_router=eng.task_router)
    try:
        history = History(sim, clock, start, end, echo)
        report = history.run()
    finally:
        sim.close()
    report.seconds = time.monotonic() - began
    return report

