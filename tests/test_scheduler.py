"""The APScheduler-driven scheduler: real loop, several schedulers, a killed scheduler."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from bpmn_builder import Process, script, service, timer_duration

from engine import SystemClock
from engine.scheduler import Scheduler

ROOT = Path(__file__).resolve().parents[1]


def wait_process(pid: str = "wait_a_bit", duration: str = '"PT1S"') -> Process:
    p = Process(pid)
    p.node("start", "startEvent").node("wait", "intermediateCatchEvent", "Wait", timer_duration(duration))
    p.node("after", "scriptTask", "After", script("fired = True")).node("end", "endEvent")
    return p.chain("start", "wait", "after", "end")


def test_real_loop_fires_a_timer_due_in_one_second_within_the_latency_bound(make_engine, tmp_path):
    eng = make_engine(clock=SystemClock())
    eng.deploy([wait_process().write(tmp_path)])
    scheduler = Scheduler(eng, poll_interval=5.0)  # a long poll: only the early wake can make it in time
    scheduler.start()
    try:
        inst = eng.start("wait_a_bit", {})
        due = inst.timers[0].due_at
        scheduler.wake(due + timedelta(milliseconds=5))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and eng.get_instance(inst.id, with_history=False).status != "completed":
            time.sleep(0.05)
        detail = eng.get_instance(inst.id)
    finally:
        scheduler.shutdown()
    assert detail.status == "completed"
    fired_at = next(h.at for h in detail.history if h.event == "timer_fired")
    assert fired_at - due < timedelta(seconds=2), f"fired {fired_at - due} after due"


def test_scheduler_plans_its_next_pass_at_the_next_due_time(make_engine, tmp_path):
    eng = make_engine(clock=SystemClock())
    eng.deploy([wait_process(duration='"PT2S"').write(tmp_path)])
    scheduler = Scheduler(eng, poll_interval=30.0)
    scheduler.start()
    try:
        time.sleep(0.2)  # first pass at start finds nothing and plans nothing
        inst = eng.start("wait_a_bit", {})
        scheduler.wake()  # what `serve` does after a request that created a timer
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and eng.get_instance(inst.id, with_history=False).status != "completed":
            time.sleep(0.05)
    finally:
        scheduler.shutdown()
    assert eng.get_instance(inst.id, with_history=False).status == "completed"


def test_two_schedulers_fire_a_thousand_due_timers_each_exactly_once(make_engine, clock, tmp_path):
    setup = make_engine()
    setup.deploy([wait_process(duration='"PT1H"').write(tmp_path)])
    ids = [setup.start("wait_a_bit", {}).id for _ in range(1000)]
    clock.advance(timedelta(hours=2))
    engines = [make_engine(), make_engine()]
    results: list[list] = [[], []]

    def run(i: int) -> None:
        results[i] = engines[i].tick().timers_fired

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    fired = [f.instance_id for r in results for f in r]
    assert sorted(fired) == ids, "every timer fired, none twice"
    with setup.db.read() as session:
        from sqlalchemy import text

        counts = session.execute(
            text("select instance_id, count(*) from wf_history where event='timer_fired' group by instance_id")
        ).all()
    assert len(counts) == 1000 and {c for _, c in counts} == {1}


def test_scheduler_killed_while_firing_fires_once_after_restart(db_url, make_engine, clock, tmp_path):
    if not db_url.startswith("sqlite"):
        pytest.skip("the kill test drives its own SQLite file")
    p = Process("slow_after_timer")
    p.node("start", "startEvent").node("wait", "intermediateCatchEvent", "Wait", timer_duration('"PT1H"'))
    from bpmn_builder import service

    p.node("work", "serviceTask", "Slow work", service("test/slow", "out")).node("end", "endEvent")
    p.chain("start", "wait", "work", "end")
    path = p.write(tmp_path)
    first = make_engine()
    first.registry.register("test/slow", lambda ctx: {"ok": True})
    first.deploy([path])
    inst = first.start("slow_after_timer", {})
    due = inst.timers[0].due_at
    at = (due + timedelta(minutes=1)).isoformat()
    child = textwrap.dedent(
        f"""
        import sys, time, datetime
        sys.path.insert(0, {str(ROOT)!r})
        from engine import Engine, HandlerRegistry, ManualClock
        reg = HandlerRegistry()
        def slow(ctx):
            print("firing", flush=True)
            time.sleep(60)
        reg.register("test/slow", slow)
        eng = Engine({db_url!r}, registry=reg, clock=ManualClock(datetime.datetime.fromisoformat({at!r})))
        eng.tick()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "firing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    clock.set(due + timedelta(minutes=2))
    restarted = make_engine()
    fired = restarted.tick().timers_fired
    assert [f.instance_id for f in fired] == [inst.id]
    detail = restarted.get_instance(inst.id)
    assert detail.status == "completed"
    assert [h.event for h in detail.history].count("timer_fired") == 1


def test_worker_once_fires_what_is_due(tmp_path):
    from typer.testing import CliRunner

    from crmflow.cli import app
    from engine import Engine

    db = f"sqlite:///{tmp_path / 'worker.db'}"
    eng = Engine(db, clock=SystemClock())
    eng.deploy([wait_process(duration='"PT1S"').write(tmp_path)])
    inst = eng.start("wait_a_bit", {})
    assert inst.status == "waiting"
    time.sleep(1.1)
    result = CliRunner().invoke(app, ["--db", db, "worker", "--once"])
    assert result.exit_code == 0, result.output
    assert f"timer wait of instance {inst.id} fired" in result.output
    assert eng.get_instance(inst.id, with_history=False).status == "completed"
    eng.close()


def test_a_tick_runs_the_job_a_timer_it_fired_made_due(engine, registry, clock, tmp_path):
    """The tick asks once what is due and skips what is not; work that firing a timer made
    due (here an asynchronous step right after it) is still done in the same pass."""
    from test_jobs import ASYNC

    registry.register("crm/slow", lambda ctx, n=None: {"n": n})
    body = service("crm/slow", "result").replace("<bpmn:extensionElements>", f"<bpmn:extensionElements>{ASYNC}")
    p = Process("wait_then_async")
    p.node("start", "startEvent").node("wait", "intermediateCatchEvent", "Wait", timer_duration('"PT1M"'))
    p.node("call", "serviceTask", "Call", body).node("end", "endEvent")
    engine.deploy([p.chain("start", "wait", "call", "end").write(tmp_path)])
    inst = engine.start("wait_then_async", {})
    idle = engine.tick(worker="w1")
    assert idle.timers_fired == [] and idle.jobs_run == []
    clock.advance(timedelta(seconds=61))
    result = engine.tick(worker="w1")
    assert len(result.timers_fired) == 1 and len(result.jobs_run) == 1
    assert engine.get_instance(inst.id, with_history=False).status == "completed"


def test_an_idle_tick_asks_the_database_once(engine, registry, clock, tmp_path):
    from sqlalchemy import event

    engine.deploy([wait_process().write(tmp_path)])
    engine.start("wait_a_bit", {})  # a timer, not yet due
    seen: list[str] = []

    def count(conn, cursor, statement, *args):  # noqa: ANN001
        seen.append(statement)

    engines = {engine.db.read_engine, engine.db.write_engine}
    for sa_engine in engines:
        event.listen(sa_engine, "before_cursor_execute", count)
    try:
        engine.tick(worker="w1")
    finally:
        for sa_engine in engines:
            event.remove(sa_engine, "before_cursor_execute", count)
    assert len(seen) == 1, seen
