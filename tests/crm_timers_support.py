"""Two schedulers over the real CRM processes, on one database and one manual clock.

`Schedulers` holds what a deployment would run: a "web" engine the tests drive the
processes through, and two scheduler engines (two processes' worth of caches and
connections) whose passes run in two threads released together by a barrier, so they
contend for the same due timers (SQLite's write lock, PostgreSQL's SKIP LOCKED).
`restart()` replaces all three with fresh Engine objects on the same database.

Every pass is logged, so a test can check that each timer row fired at the *first* pass at
or after its due time ("on time" on the injected clock) and that the two schedulers
reported each firing once between them. Reference data is seeded here as the CRM tests
seed it (price lists, the support calendar, an entitlement, agents), independently of them.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select

from crmflow.settings import build_engine
from engine import Engine, ManualClock
from engine.views import FiredTimer, TimerView

PROCESSES = Path(__file__).resolve().parent.parent / "processes"
L2I_FILES = [PROCESSES / name for name in ("lead_to_invoice.bpmn", "lead_scoring.dmn", "discount_approval.dmn",
                                            "territories.dmn")]
CASE_FILES = [PROCESSES / "case_resolution.bpmn", PROCESSES / "case_triage.dmn"]
CAMPAIGN_FILES = [PROCESSES / "campaign_execution.bpmn"]
SECOND = timedelta(seconds=1)
PASS_TIMEOUT = 120.0  # seconds; a pass that takes longer is a hang, not slowness
WORK_DAY = (9, 17)  # the "support" calendar seeded below: Mon–Fri, these hours, UTC


@dataclass
class Pass:
    """One scheduler pass: when, and what each of the two schedulers reported firing."""

    at: datetime
    fired: tuple[list[FiredTimer], list[FiredTimer]]
    generation: int  # how many restarts happened before it


@dataclass
class Schedulers:
    """A driver engine and two scheduler engines on one database; see the module docstring."""

    db_url: str
    clock: ManualClock
    passes: list[Pass] = field(default_factory=list)
    generation: int = 0
    _made: list[Engine] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.driver, self.pair = self._fresh()

    def _fresh(self) -> tuple[Engine, tuple[Engine, Engine]]:
        made = [build_engine(self.db_url, self.clock) for _ in range(3)]
        self._made.extend(made)
        return made[0], (made[1], made[2])

    def restart(self) -> None:
        """As if every process stopped and started again: fresh Engine objects, same database."""
        for eng in (self.driver, *self.pair):
            eng.close()
        self.driver, self.pair = self._fresh()
        self.generation += 1

    def close(self) -> None:
        for eng in self._made:
            eng.close()

    def at(self, when: datetime) -> None:
        """Move the clock (only forward: a pass never sees time run backwards)."""
        assert when >= self.clock.now(), f"the clock may not go back from {self.clock.now()} to {when}"
        self.clock.set(when)

    def tick(self, when: datetime) -> list[FiredTimer]:
        """Both schedulers run one pass at `when`, at the same moment; returns what they fired."""
        self.at(when)
        barrier = threading.Barrier(2)
        results: list[list[FiredTimer]] = [[], []]
        errors: list[BaseException] = []

        def run(i: int) -> None:
            try:
                barrier.wait(timeout=30)
                results[i] = self.pair[i].tick(now=when, worker=f"scheduler-{i}").timers_fired
            except BaseException as err:  # noqa: BLE001 - re-raised in the test's thread below
                errors.append(err)

        threads = [threading.Thread(target=run, args=(i,), name=f"scheduler-{i}") for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=PASS_TIMEOUT)
        assert not any(t.is_alive() for t in threads), f"a scheduler pass at {when} did not finish"
        if errors:
            raise errors[0]
        self.passes.append(Pass(when, (results[0], results[1]), self.generation))
        return results[0] + results[1]

    def run(self, times: Iterable[datetime]) -> list[FiredTimer]:
        """A pass at each of `times` (ascending, from now on)."""
        fired: list[FiredTimer] = []
        for when in sorted(set(times)):
            fired.extend(self.tick(when))
        return fired

    def pass_times(self) -> list[datetime]:
        return [p.at for p in self.passes]

    def reported(self) -> list[FiredTimer]:
        return [f for p in self.passes for side in p.fired for f in side]

    def contended_passes(self) -> int:
        """Passes in which both schedulers fired something (how often they really shared work)."""
        return sum(1 for p in self.passes if p.fired[0] and p.fired[1])


def schedule(start: datetime, end: datetime, step: timedelta, dues: Iterable[datetime] = ()) -> list[datetime]:
    """Pass times: every `step` from `start` to `end`, plus a second before and exactly at each due time
    (so a timer that fires early, or a second late, shows)."""
    times = set()
    at = start
    while at <= end:
        times.add(at)
        at += step
    for due in dues:
        times.update((due - SECOND, due))
    return sorted(times)


def around(dues: Iterable[datetime]) -> list[datetime]:
    """Pass times a second before and exactly at each due time, and no others."""
    return sorted({at for due in dues for at in (due - SECOND, due)})


def first_pass_at_or_after(passes: list[datetime], due: datetime) -> datetime | None:
    return next((p for p in sorted(passes) if p >= due), None)


# -- reading what happened ---------------------------------------------------------------------
def timers(eng: Engine, instance_ids: Iterable[int]) -> list[TimerView]:
    ids = set(instance_ids)
    return [t for t in eng.list_timers(state="all") if t.instance_id in ids]


@dataclass(frozen=True)
class Event:
    instance_id: int
    event: str
    element_id: str | None
    at: datetime
    data: dict[str, Any] | None


def history(eng: Engine, instance_ids: Iterable[int]) -> list[Event]:
    from engine.models import HistoryEntry

    ids = sorted(set(instance_ids))
    with eng.db.read() as s:
        rows = s.scalars(select(HistoryEntry).where(HistoryEntry.instance_id.in_(ids)).order_by(HistoryEntry.id))
        return [Event(h.instance_id, h.event, h.element_id, h.at, h.data_delta) for h in rows]


def count(events: list[Event], event: str, element_id: str | None = None) -> Counter[int]:
    """Per instance: how many `event` entries (of `element_id`, when given)."""
    return Counter(e.instance_id for e in events if e.event == event and (element_id is None or
                                                                             e.element_id == element_id))


def check_fired_once_on_time(sched: Schedulers, rows: list[TimerView]) -> list[TimerView]:
    """Every fired row fired at the first pass at or after its due time, and the two schedulers
    reported it exactly once between them. Returns the fired rows."""
    fired = [r for r in rows if r.state == "fired"]
    passes = sched.pass_times()
    late = [(r.instance_id, r.element_id, r.kind, r.due_at, r.fired_at, first_pass_at_or_after(passes, r.due_at))
            for r in fired if r.fired_at != first_pass_at_or_after(passes, r.due_at)]
    assert late == [], f"fired at another pass than the first one at or after the due time: {late}"
    reported = Counter((f.instance_id, f.element_id, f.due_at) for f in sched.reported())
    expected = Counter((r.instance_id, r.element_id, r.due_at) for r in fired)
    assert reported == expected, (
        f"reported by the schedulers but not fired once: {reported - expected}; fired, not reported: "
        f"{expected - reported}"
    )
    return fired


def check_timer_fired_entries_once(events: list[Event]) -> None:
    """No timer occurrence (instance, element, due time) is recorded as fired twice."""
    seen = Counter((e.instance_id, e.element_id, (e.data or {}).get("due_at")) for e in events
                   if e.event == "timer_fired")
    twice = {k: n for k, n in seen.items() if n > 1}
    assert twice == {}, f"timer occurrences fired more than once: {twice}"


def next_occurrence(first_due: datetime, period: timedelta, after: datetime) -> datetime:
    """The first `first_due + k * period` (k >= 0) strictly after `after`."""
    at = first_due
    while at <= after:
        at += period
    return at


# -- reference data ---------------------------------------------------------------------------
def seed_sales(db_url: str, clock: ManualClock) -> int:
    """Deploy lead to invoice and seed two products on a price list; returns the price list id."""
    from handlers import catalog

    eng = build_engine(db_url, clock)
    try:
        eng.deploy(L2I_FILES)
        with eng.db.write() as session:
            now = clock.now()
            price_list = catalog.add_price_list(session, now, "Standard")
            for number, name, price in (("CRM-PRO", "Licence", "480.00"), ("CRM-ONB", "Onboarding", "3200.00")):
                catalog.set_price(session, price_list, catalog.add_product(session, now, number, name), price)
            return price_list.id
    finally:
        eng.close()


def seed_support(db_url: str, clock: ManualClock, cases: int) -> None:
    """Deploy case resolution; one customer with an entitlement for `cases` cases, the support
    calendar (Mon–Fri 09–17 UTC) and one agent per queue with room for every case."""
    from handlers import catalog
    from handlers import lifecycle as lc
    from handlers.calendars import save_calendar
    from handlers.models import Entitlement
    from handlers.resources import add_group, add_resource

    eng = build_engine(db_url, clock)
    try:
        eng.deploy(CASE_FILES)
        with eng.db.write() as session:
            now = clock.now()
            account = catalog.add_account(session, now, "Analytical Ltd")
            catalog.add_contact(session, now, "Lovelace", "Ada", email="ada@example.com", account_id=account.id)
            day = [[f"{WORK_DAY[0]:02d}:00", f"{WORK_DAY[1]:02d}:00"]]
            save_calendar(session, "support", "UTC", dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), day), now=now)
            for number, group in enumerate(("Technical Support", "Customer Care", "Paid Support")):
                add_group(session, group, now)
                add_resource(session, f"Agent {number}", now, capacity=cases, user_name=f"agent{number}",
                             skills=["en"], groups=[group])
            ent = Entitlement(name="Gold support", account_id=account.id, allocation_type="cases",
                              decrease_on="creation", total_terms=Decimal(cases), remaining_terms=Decimal(cases),
                              start_date=date(2026, 1, 1), end_date=date(2026, 12, 31), sla_name="Gold")
            lc.ENTITLEMENT.start(ent, now, "Active")
            session.add(ent)
    finally:
        eng.close()


def seed_marketing(db_url: str, clock: ManualClock) -> int:
    """Deploy campaign execution and seed a static list of two contacts; returns the list id."""
    from engine import ServiceContext
    from handlers import catalog
    from handlers.marketing.lists import create_list

    eng = build_engine(db_url, clock)
    try:
        eng.deploy(CAMPAIGN_FILES)
        with eng.db.write() as session:
            now = clock.now()
            members = [catalog.add_contact(session, now, "Example", first, email=f"{first.lower()}@example.com").id
                       for first in ("Ada", "Bruno")]
            ctx = ServiceContext(session=session, instance_id=0, process_id="admin", business_key=None,
                                 element_id="admin", task_id="seed-list", now=now)
            made = create_list(ctx, name="Newsletter", member_type="contact", member_ids=members)
            return made["list_id"]
    finally:
        eng.close()


def working(start: datetime, hours: float) -> datetime:
    """`start` plus `hours` of the support calendar's working time, minute by minute (independent
    of the handlers' calendar arithmetic)."""
    left, at = round(hours * 60), start
    while left:
        if at.weekday() < 5 and WORK_DAY[0] <= at.hour < WORK_DAY[1]:
            left -= 1
        at += timedelta(minutes=1)
    return at
