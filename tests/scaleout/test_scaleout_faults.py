"""Scale-out under faults: several `crmflow worker` processes on one PostgreSQL database.

Each test runs real worker processes on the system clock (timers are a real second long),
checks the database afterwards for exactly-once execution and a gap-free history, and
kills every process it started. PostgreSQL only: set CRMFLOW_TEST_DB to a
postgresql+psycopg:// URL (each test gets a scratch database on that server).
"""

from __future__ import annotations

import os
import random
import threading
import time
import urllib.request
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from faulty_handlers import CALL_LOG_ENV, CALLS, DELAY_ENV, METADATA
from scaleout_harness import Cluster, SmtpServer, WorkerPool, postgres_url, wait_for
from sqlalchemy import func, select

from crmflow.mail import message_id
from crmflow.settings import build_engine
from engine import Conflict, Engine, EngineError, ManualClock, NoSubscriber
from engine.models import HistoryEntry, Incident, Instance, Job, MessageSubscription, OutboxMessage, Timer

pytestmark = pytest.mark.skipif(
    postgres_url() is None, reason="scale-out tests need PostgreSQL: set CRMFLOW_TEST_DB to a postgresql+psycopg:// URL"
)

DIAGRAMS = Path(__file__).resolve().parent / "diagrams"
# The sizes; the SCALEOUT_* overrides only serve to debug a failure quickly.
FLOW_INSTANCES = int(os.environ.get("SCALEOUT_FLOW_INSTANCES", "2000"))
MAIL_INSTANCES = int(os.environ.get("SCALEOUT_MAIL_INSTANCES", "1000"))
RESTART_INSTANCES = 400
MIN_KILLS = 20
MAX_KILLS = 25
RACE_ROUNDS = 50
# A killed worker's claimed jobs wait for its lease (60 s, fixed in Engine.run_jobs) to expire.
LEASE = 60.0

FLOW_HISTORY = [
    ("instance_started", None), ("completed", "start"), ("async_queued", "work"), ("completed", "work"),
    ("timer_fired", "pause"), ("completed", "pause"), ("message_received", "go"), ("completed", "go"),
    ("completed", "finish"), ("completed", "end"), ("instance_completed", None),
]
MAIL_HISTORY = [
    ("instance_started", None), ("completed", "start"), ("async_queued", "mail"), ("completed", "mail"),
    ("completed", "finish"), ("completed", "end"), ("instance_completed", None),
]
RESTART_HISTORY = [
    ("instance_started", None), ("completed", "start"), ("async_queued", "work"), ("completed", "work"),
    ("timer_fired", "pause"), ("completed", "pause"), ("completed", "end"), ("instance_completed", None),
]


# -- helpers --------------------------------------------------------------------------------

def prepared_engine(url: str) -> Engine:
    """The test's own engine (system clock) with the schema the workers expect, our call
    table and the diagrams deployed — done before any worker starts, so none migrates."""
    eng = build_engine(url, with_handlers=False)
    METADATA.create_all(eng.db.write_engine)
    eng.deploy([DIAGRAMS])
    return eng


def status_counts(eng: Engine, process_id: str) -> Counter[str]:
    with eng.db.read() as session:
        rows = session.execute(
            select(Instance.status, func.count()).where(Instance.process_id == process_id).group_by(Instance.status)
        )
        return Counter({status: count for status, count in rows})


def table_count(eng: Engine, model: Any, *where: Any) -> int:
    with eng.db.read() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def waiting_for_message(eng: Engine, message: str, done: set[str]) -> list[str]:
    with eng.db.read() as session:
        keys = session.scalars(
            select(Instance.business_key)
            .join(MessageSubscription, MessageSubscription.instance_id == Instance.id)
            .where(MessageSubscription.message_name == message)
        )
        return [k for k in keys if k not in done]


def histories(eng: Engine, process_id: str) -> dict[int, list[tuple[str, str | None]]]:
    with eng.db.read() as session:
        rows = session.execute(
            select(HistoryEntry.instance_id, HistoryEntry.event, HistoryEntry.element_id)
            .join(Instance, Instance.id == HistoryEntry.instance_id)
            .where(Instance.process_id == process_id)
            .order_by(HistoryEntry.instance_id, HistoryEntry.id)
        )
        out: dict[int, list[tuple[str, str | None]]] = defaultdict(list)
        for instance_id, event, element_id in rows:
            out[instance_id].append((event, element_id))
        return out


def assert_exactly_once(eng: Engine, process_id: str, n: int, expected_history: list[tuple[str, str | None]]) -> None:
    """Every instance completed once, its step committed once, its history the diagram's path."""
    with eng.db.read() as session:
        instances = session.execute(
            select(Instance.id, Instance.business_key, Instance.status).where(Instance.process_id == process_id)
        ).all()
        calls = session.execute(select(CALLS.c.instance_id, CALLS.c.call_key)).all()
        incidents = session.scalars(select(Incident.message)).all()
    assert len(instances) == n, f"{len(instances)} instances exist, {n} were started"
    assert len({bk for _, bk, _ in instances}) == n, "a business key appears twice: an instance was duplicated"
    assert Counter(status for _, _, status in instances) == Counter(completed=n)
    assert incidents == [], f"{len(incidents)} incidents, e.g. {incidents[:3]}"
    assert table_count(eng, Job) == 0, "jobs are left over"
    ids = {iid for iid, _, _ in instances}
    per_instance = Counter(iid for iid, _ in calls)
    assert set(per_instance) == ids and set(per_instance.values()) == {1}, "a step did not commit exactly once"
    wrong = {iid: h for iid, h in histories(eng, process_id).items() if h != expected_history}
    sample = next(iter(wrong.items()), None)
    assert not wrong, f"{len(wrong)} histories differ from the diagram's path, e.g. {sample}"


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line:
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


# -- 1. three workers, 2,000 instances ----------------------------------------------------------

def test_three_workers_complete_every_instance_exactly_once(scratch_db: str, make_pool: Any) -> None:
    eng = prepared_engine(scratch_db)
    pool: WorkerPool = make_pool(scratch_db)
    try:
        for slot in range(3):
            pool.start(slot, metrics=True)
        began = time.monotonic()
        started, delivered, refused = 0, set[str](), []
        deadline = began + 240
        while True:
            pool.check_alive()
            if started < FLOW_INSTANCES:  # keep starting while the workers run
                for i in range(started, min(FLOW_INSTANCES, started + 50)):
                    eng.start("scaleout_flow", {"n": i}, business_key=f"flow-{i}")
                started = min(FLOW_INSTANCES, started + 50)
            waiting = waiting_for_message(eng, "scaleout_go", delivered)
            for key in waiting:
                try:
                    eng.correlate("scaleout_go", key=key, data={"go": key})
                    delivered.add(key)
                except EngineError as err:
                    refused.append(f"{key}: {type(err).__name__}: {err}")
            if started == FLOW_INSTANCES and status_counts(eng, "scaleout_flow")["completed"] == FLOW_INSTANCES:
                break
            if time.monotonic() > deadline:
                pytest.fail(f"not done after 240 s: {dict(status_counts(eng, 'scaleout_flow'))}")
            if not waiting and started == FLOW_INSTANCES:
                time.sleep(0.1)
        elapsed = time.monotonic() - began
        metrics = [scrape(w.metrics_port) for w in pool.workers.values() if w.metrics_port]
        codes = pool.stop_all()
    finally:
        pool.close()
    print(f"\n{FLOW_INSTANCES} instances through 3 workers in {elapsed:.1f} s "
          f"({FLOW_INSTANCES / elapsed:.0f} instances/s)")

    assert refused == [], f"messages to waiting instances were refused: {refused[:3]}"
    assert len(delivered) == FLOW_INSTANCES
    assert_exactly_once(eng, "scaleout_flow", FLOW_INSTANCES, FLOW_HISTORY)
    with eng.db.read() as session:
        timers = session.execute(select(Timer.instance_id, Timer.state)).all()
        workers = session.scalars(select(CALLS.c.pid).distinct()).all()
    assert Counter(state for _, state in timers) == Counter(fired=FLOW_INSTANCES), "one timer per instance, fired"
    assert len({iid for iid, _ in timers}) == FLOW_INSTANCES
    assert set(workers) == pool.pids(), "every worker took a share of the jobs"
    assert sum(m["crmflow_jobs_run_total"] for m in metrics) == FLOW_INSTANCES, "a job ran twice (or not at all)"
    assert sum(m["crmflow_timers_fired_total"] for m in metrics) == FLOW_INSTANCES, "a timer fired twice"
    assert codes == {0: 0, 1: 0, 2: 0}, f"workers did not stop cleanly on SIGTERM: {codes}"
    eng.close()


# -- 2. kill -9 during a run; emails at a real SMTP server ------------------------------------------

def test_kill_9_workers_lose_nothing_and_send_every_email_once(
    scratch_db: str, make_pool: Any, smtp_server: SmtpServer, tmp_path: Path
) -> None:
    eng = prepared_engine(scratch_db)
    for i in range(MAIL_INSTANCES):
        eng.start("scaleout_mail", {"n": i}, business_key=f"mail-{i}")
    call_log = tmp_path / "calls.log"
    # A pause inside the handler makes kills land inside open transactions.
    pool: WorkerPool = make_pool(
        scratch_db, {**smtp_server.env(), DELAY_ENV: "0.05", CALL_LOG_ENV: str(call_log)}
    )
    rng = random.Random(7)
    kills = 0

    def work_left() -> bool:
        return table_count(eng, Job) > 0 or table_count(eng, OutboxMessage, OutboxMessage.state == "pending") > 0

    def all_delivered() -> bool:
        done = status_counts(eng, "scaleout_mail")["completed"] == MAIL_INSTANCES
        sent = table_count(eng, OutboxMessage, OutboxMessage.state == "sent") == MAIL_INSTANCES
        return done and sent

    try:
        for slot in range(3):
            pool.start(slot)
        began = time.monotonic()
        while kills < MIN_KILLS or (kills < MAX_KILLS and work_left()):
            assert time.monotonic() - began < 120, f"the kill phase overran ({kills} kills)"
            time.sleep(rng.uniform(0.2, 0.8))
            pool.check_alive()
            working = [slot for slot, worker in pool.workers.items() if worker.ready()]
            if not working:
                continue
            slot = rng.choice(working)  # only workers that got going: a kill during start-up proves little
            pool.kill(slot)
            pool.start(slot)
            kills += 1
        killed_for = time.monotonic() - began
        wait_for(all_delivered, LEASE + 90, "every instance completed and every email sent", check=pool.check_alive)
        elapsed = time.monotonic() - began
        pool.stop_all()
    finally:
        pool.close()

    assert kills >= MIN_KILLS
    assert_exactly_once(eng, "scaleout_mail", MAIL_INSTANCES, MAIL_HISTORY)
    with eng.db.read() as session:
        outbox = session.execute(select(OutboxMessage.instance_id, OutboxMessage.idempotency_key)).all()
    assert len(outbox) == MAIL_INSTANCES and len({iid for iid, _ in outbox}) == MAIL_INSTANCES
    expected = {message_id(key): iid for iid, key in outbox}
    received = smtp_server.inbox.messages()
    ids = Counter(msg["Message-ID"] for msg in received)
    assert set(ids) == set(expected), (
        f"missing: {len(set(expected) - set(ids))}, unexpected: {len(set(ids) - set(expected))}"
    )
    for msg in received:  # each email carries its own instance's content
        assert msg.get_content().strip() == f"instance {expected[msg['Message-ID']]}"
    duplicates = sum(ids.values()) - len(ids)
    begun = Counter(line.split()[0] for line in call_log.read_text().splitlines())
    cut_short = sum(begun.values()) - MAIL_INSTANCES
    print(f"\n{kills} kills in {killed_for:.1f} s; {MAIL_INSTANCES} instances and emails done in {elapsed:.1f} s; "
          f"{cut_short} handler calls cut short by a kill and run again; {len(received)} emails received, "
          f"{duplicates} redelivered with the same Message-ID")
    assert cut_short > 0, "no kill landed inside a handler: the test did not exercise a crash mid-step"
    eng.close()


# -- 3. PostgreSQL restarts under the workers ----------------------------------------------------

def test_workers_reconnect_after_a_database_restart(own_cluster: Cluster, make_pool: Any) -> None:
    eng = prepared_engine(own_cluster.url)
    pool: WorkerPool = make_pool(own_cluster.url)
    first = RESTART_INSTANCES // 2
    try:
        for i in range(first):
            eng.start("scaleout_restart", {"n": i}, business_key=f"restart-{i}")
        for slot in range(2):
            pool.start(slot)

        def completed() -> int:
            return status_counts(eng, "scaleout_restart")["completed"]

        wait_for(lambda: completed() >= first // 4, 60, "work under way before the restart", check=pool.check_alive)
        own_cluster.restart()
        at_restart = completed()
        assert at_restart < first, "the restart should land mid-run; the workers finished first"
        # The test's own pool reconnects too (pool_pre_ping), and more work arrives.
        for i in range(first, RESTART_INSTANCES):
            eng.start("scaleout_restart", {"n": i}, business_key=f"restart-{i}")
        wait_for(lambda: completed() == RESTART_INSTANCES, LEASE + 90, "every instance completed after the restart",
                 check=pool.check_alive)
        codes = pool.stop_all()
        felt = sum(w.log.read_text(errors="replace").count("scheduler pass failed") for w in pool.retired)
    finally:
        pool.close()
    assert_exactly_once(eng, "scaleout_restart", RESTART_INSTANCES, RESTART_HISTORY)
    assert codes == {0: 0, 1: 0}, f"workers did not survive the restart and stop cleanly: {codes}"
    with eng.db.read() as session:
        workers = set(session.scalars(select(CALLS.c.pid).distinct()))
    assert workers == pool.pids(), "the same two worker processes did all the work, before and after"
    print(f"\nrestart at {at_restart}/{RESTART_INSTANCES} completed; {felt} worker passes failed on the lost "
          "connection; all completed afterwards")
    eng.close()


# -- 4. a message races a timer on one event-based gateway ------------------------------------------

def race_outcome(eng: Engine, iid: int) -> dict[str, Any]:
    detail = eng.get_instance(iid)
    done = [h.element_id for h in detail.history if h.event == "completed"]
    return {
        "status": detail.status,
        "branches": [e for e in ("record_reply", "chase") if e in done],
        "timer_fired": sum(h.event == "timer_fired" for h in detail.history),
        "message_received": sum(h.event == "message_received" for h in detail.history),
        "pending_timers": [t for t in eng.list_timers(state="pending") if t.instance_id == iid],
        "subscriptions": detail.subscriptions,
    }


def race_problems(outcome: dict[str, Any], sent: str, fired: list[Any]) -> list[str]:
    """What is wrong with one round, given the correlate's result and the timers fired."""
    problems = []
    if outcome["status"] != "completed":
        problems.append(f"status {outcome['status']}")
    if len(outcome["branches"]) != 1:
        problems.append(f"branches run: {outcome['branches']}")
    if outcome["pending_timers"] or outcome["subscriptions"]:
        problems.append("the losing wait was left behind")
    if sent == "delivered" and (fired or outcome["timer_fired"]):
        problems.append("the message was delivered and the timer fired too")
    if sent != "delivered" and (len(fired) != 1 or outcome["message_received"]):
        problems.append(f"the message was refused ({sent}) but the timer did not fire exactly once")
    return problems


def race_round(
    setup: Engine, sender: Engine, scheduler: Engine, clock: ManualClock, key: str, head_start: float
) -> tuple[int, str, list]:
    """Start an instance, let its timer fall due, then correlate and fire timers at once
    from two threads (two engines, two connections); the scheduler may get a head start
    of a few milliseconds so that both orders occur. Returns the instance, the
    correlate's result and the timers fired."""
    iid = setup.start("scaleout_race", business_key=key).id
    clock.advance(timedelta(seconds=1, milliseconds=1))  # due a millisecond ago; the message arrives now
    barrier = threading.Barrier(2, timeout=30)
    result: dict[str, Any] = {"sent": "not run", "fired": []}

    def send() -> None:
        barrier.wait()
        time.sleep(head_start)
        try:
            sender.correlate("scaleout_race_reply", key=key, data={"reply": "yes"})
            result["sent"] = "delivered"
        except (Conflict, NoSubscriber) as err:
            result["sent"] = type(err).__name__

    def fire() -> None:
        barrier.wait()
        result["fired"] = scheduler.fire_due_timers()

    threads = [threading.Thread(target=send), threading.Thread(target=fire)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), f"the race for {key} hung"
    # The scheduler's next pass: whatever the race left due fires now (as a worker would).
    return iid, result["sent"], result["fired"] + scheduler.fire_due_timers()


def test_message_racing_a_timer_on_an_event_gateway_takes_one_branch(scratch_db: str) -> None:
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    setup, sender, scheduler = (Engine(scratch_db, clock=clock) for _ in range(3))
    setup.deploy([DIAGRAMS / "scaleout_race.bpmn"])
    problems, winners = [], Counter()
    rng = random.Random(11)
    try:
        for r in range(RACE_ROUNDS):
            head_start = 0.0 if r % 2 == 0 else rng.uniform(0.0005, 0.004)  # both orders occur
            iid, sent, fired = race_round(setup, sender, scheduler, clock, f"race-{r}", head_start)
            outcome = race_outcome(setup, iid)
            winners["message" if sent == "delivered" else "timer"] += 1
            problems += [f"round {r}: {p}" for p in race_problems(outcome, sent, fired)]
            clock.advance(timedelta(minutes=1))
    finally:
        for eng in (setup, sender, scheduler):
            eng.close()
    print(f"\nwinners over {RACE_ROUNDS} rounds: {dict(winners)}")
    assert not problems, f"{len(problems)} problems ({dict(winners)}): {problems[:5]}"


def test_message_after_the_timer_fell_due_but_before_it_fired_takes_one_branch(scratch_db: str) -> None:
    """The race above without threads: the losing order, made deterministic."""
    clock = ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    eng = Engine(scratch_db, clock=clock)
    try:
        eng.deploy([DIAGRAMS / "scaleout_race.bpmn"])
        iid = eng.start("scaleout_race", business_key="late").id
        clock.advance(timedelta(seconds=2))  # due a second ago; no scheduler pass yet
        try:
            eng.correlate("scaleout_race_reply", key="late", data={"reply": "yes"})
            sent = "delivered"
        except (Conflict, NoSubscriber) as err:  # a fix may let the due timer win instead
            sent = type(err).__name__
        fired = eng.fire_due_timers()  # the scheduler's next pass
        outcome = race_outcome(eng, iid)
    finally:
        eng.close()
    assert race_problems(outcome, sent, fired) == []
