"""Asynchronous service tasks: the step commits first, a worker runs it under a lease."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from bpmn_builder import Process, script, service
from sqlalchemy import Column, Integer, MetaData, String, Table, func, select, update

from engine.models import Job

ROOT = Path(__file__).resolve().parents[1]
ASYNC = '<spiffworkflow:properties><spiffworkflow:property name="async" value="true"/></spiffworkflow:properties>'


def async_process(pid: str = "async_call", operation: str = "crm/slow") -> Process:
    body = service(operation, "result", n="n").replace(
        "<bpmn:extensionElements>", f"<bpmn:extensionElements>{ASYNC}"
    )
    p = Process(pid)
    p.node("start", "startEvent").node("call", "serviceTask", "Call CRM", body)
    p.node("after", "scriptTask", "After", script("done = True")).node("end", "endEvent")
    return p.chain("start", "call", "after", "end")


def test_async_task_commits_first_and_runs_as_a_job(engine, registry, tmp_path):
    calls = []
    registry.register("crm/slow", lambda ctx, n: calls.append(n) or {"n": n})
    engine.deploy([async_process().write(tmp_path)])
    inst = engine.start("async_call", {"n": 1})
    assert inst.status == "waiting" and calls == [], "the handler does not run inside start()"
    with engine.db.read() as session:
        [job] = session.scalars(select(Job)).all()
    assert job.element_id == "call"
    assert engine.run_jobs("w1") == [job.id]
    detail = engine.get_instance(inst.id)
    assert detail.status == "completed" and detail.data["done"] is True and calls == [1]
    with engine.db.read() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0
    assert "crmflow_jobs_run_total 1" in engine.metrics_text()


def test_a_dead_workers_lease_expires_and_is_taken_over(engine, registry, clock, tmp_path):
    registry.register("crm/slow", lambda ctx, n: {"n": n})
    engine.deploy([async_process().write(tmp_path)])
    inst = engine.start("async_call", {"n": 2})
    with engine.db.write() as session:  # a worker claimed it and died
        session.execute(update(Job).values(lease_owner="dead", lease_expires_at=clock.now() + timedelta(seconds=60)))
    assert engine.run_jobs("w2") == [], "a live lease is respected"
    clock.advance(timedelta(seconds=61))
    assert len(engine.run_jobs("w2")) == 1
    assert engine.get_instance(inst.id).status == "completed"
    assert engine.metrics.get("crmflow_lease_takeovers_total") == 1


def test_concurrent_workers_run_each_job_once(make_engine, registry, tmp_path):
    calls: Counter = Counter()
    lock = threading.Lock()

    def slow(ctx, n):
        with lock:
            calls[n] += 1
        return {"n": n}

    registry.register("crm/slow", slow)
    setup = make_engine()
    setup.deploy([async_process().write(tmp_path)])
    ids = [setup.start("async_call", {"n": i}).id for i in range(120)]
    workers = [make_engine() for _ in range(3)]

    def work(i: int) -> None:
        while workers[i].run_jobs(f"w{i}", limit=5):
            pass

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert sorted(calls) == list(range(120)) and set(calls.values()) == {1}
    assert {setup.get_instance(i, with_history=False).status for i in ids} == {"completed"}


def test_worker_killed_inside_a_slow_handler_retries_it_without_duplicating(db_url, make_engine, clock, tmp_path):
    if not db_url.startswith("sqlite"):
        pytest.skip("the kill test drives its own SQLite file")
    notes = Table("crm_note2", MetaData(), Column("id", Integer, primary_key=True), Column("text", String(40)))
    first = make_engine()
    notes.create(first.db.write_engine)
    path = async_process().write(tmp_path)
    first.deploy([path])
    inst = first.start("async_call", {"n": 7})
    child = textwrap.dedent(
        f"""
        import sys, time, datetime
        sys.path.insert(0, {str(ROOT)!r})
        from sqlalchemy import text
        from engine import Engine, HandlerRegistry, ManualClock
        reg = HandlerRegistry()
        def slow(ctx, n):
            ctx.session.execute(text("insert into crm_note2 (text) values ('written')"))
            print("inside", flush=True)
            time.sleep(60)
        reg.register("crm/slow", slow)
        now = datetime.datetime.fromisoformat({clock.now().isoformat()!r})
        eng = Engine({db_url!r}, registry=reg, clock=ManualClock(now))
        eng.run_jobs("doomed", lease_seconds=30)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "inside"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def note(ctx, n):
        ctx.session.execute(notes.insert().values(text="written"))
        return {"n": n}

    survivor = make_engine()
    survivor.registry._handlers["crm/slow"] = note
    assert survivor.run_jobs("next") == [], "the dead worker's lease still stands"
    clock.advance(timedelta(seconds=31))
    assert len(survivor.run_jobs("next")) == 1
    assert survivor.get_instance(inst.id).status == "completed"
    with survivor.db.read() as session:
        assert session.execute(select(func.count()).select_from(notes)).scalar() == 1, "the killed attempt left nothing"


def test_a_job_leased_to_another_worker_meanwhile_is_neither_run_nor_removed(engine, registry, clock, tmp_path):
    """The lease check and the job's removal are one statement (DELETE … WHERE lease_owner =
    the worker): a job whose lease passed to another worker after our claim stays theirs."""
    from engine.rooms import due_work

    calls = []
    registry.register("crm/slow", lambda ctx, n: calls.append(n) or {"n": n})
    engine.deploy([async_process().write(tmp_path)])
    inst = engine.start("async_call", {"n": 3})
    with engine.db.write() as session:  # our lease ran out and w2 took the job over
        session.execute(update(Job).values(lease_owner="w2", lease_expires_at=clock.now() + timedelta(seconds=60)))
    with engine.db.read() as session:
        job = session.scalars(select(Job)).one()
    assert due_work._run_job(engine, job.id, inst.id, job.task_id, "w1", clock.now()) is False
    assert calls == [] and engine.get_instance(inst.id, with_history=False).status == "waiting"
    with engine.db.read() as session:
        assert session.scalars(select(Job.lease_owner)).all() == ["w2"], "w2's job is still there, still w2's"
    assert engine.run_jobs("w2") == [], "a live lease is respected"
    clock.advance(timedelta(seconds=61))
    assert engine.run_jobs("w1") == [job.id] and calls == [3]


def test_a_claim_leases_the_oldest_due_jobs_and_leaves_the_rest(engine, registry, clock, tmp_path):
    from engine.rooms import due_work

    registry.register("crm/slow", lambda ctx, n: {"n": n})
    engine.deploy([async_process().write(tmp_path)])
    for n in range(3):
        engine.start("async_call", {"n": n})
        clock.advance(timedelta(seconds=1))
    with engine.db.write() as session:  # the newest is due first
        newest = session.scalar(select(func.max(Job.id)))
        session.execute(update(Job).where(Job.id == newest).values(due_at=clock.now() - timedelta(hours=1)))
    with engine.db.read() as session:
        ids = sorted(session.scalars(select(Job.id)))
    claimed = due_work._claim(engine, "w1", clock.now(), 2, clock.now() + timedelta(seconds=30))
    assert [job_id for job_id, _, _ in claimed] == [newest, ids[0]], "oldest due first"
    with engine.db.read() as session:
        rows = {j.id: (j.lease_owner, j.lease_expires_at, j.attempts) for j in session.scalars(select(Job))}
    leased = ("w1", clock.now() + timedelta(seconds=30), 1)
    assert rows == {newest: leased, ids[0]: leased, ids[1]: (None, None, 0)}
    again = due_work._claim(engine, "w2", clock.now(), 5, clock.now() + timedelta(seconds=30))
    assert [job_id for job_id, _, _ in again] == [ids[1]], "leased jobs are left to their worker"
    assert engine.metrics.get("crmflow_lease_takeovers_total") in (None, 0)
