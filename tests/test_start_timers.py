"""Timer start events: dates, cycles and cron lines start one instance per occurrence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bpmn_builder import Process, script, timer_cycle

from engine import DefinitionError


def nightly(expr: str, pid: str = "nightly_wave") -> Process:
    p = Process(pid)
    p.node("start", "startEvent", "Every night", timer_cycle(expr))
    p.node("wave", "scriptTask", "Send wave", script("sent = True")).node("end", "endEvent")
    return p.chain("start", "wave", "end")


def test_cron_start_fires_once_per_occurrence_and_once_after_downtime(engine, clock, tmp_path):
    clock.set(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    engine.deploy([nightly('"cron: 0 2 * * *"').write(tmp_path)])
    [timer] = engine.list_start_timers()
    assert timer["next_due_at"] == "2026-01-06T02:00:00+00:00"
    assert engine.tick(datetime(2026, 1, 6, 1, 59, tzinfo=UTC)).timers_fired == []

    fired = engine.tick(datetime(2026, 1, 6, 2, 0, 5, tzinfo=UTC)).timers_fired
    assert len(fired) == 1
    [inst] = engine.list_instances(process_id="nightly_wave")
    assert inst.status == "completed"
    assert engine.get_instance(inst.id).data["sent"] is True
    assert engine.list_start_timers()[0]["next_due_at"] == "2026-01-07T02:00:00+00:00"

    # A week offline: one start for the missed period, then the next future night.
    fired = engine.tick(datetime(2026, 1, 14, 9, 0, tzinfo=UTC)).timers_fired
    assert len(fired) == 1
    assert len(engine.list_instances(process_id="nightly_wave")) == 2
    assert engine.list_start_timers()[0]["next_due_at"] == "2026-01-15T02:00:00+00:00"


def test_bounded_cycle_stops_after_its_repetitions(engine, clock, tmp_path):
    engine.deploy([nightly('"R2/2026-01-05T10:00:00Z/PT1H"', pid="twice").write(tmp_path)])
    for hour in (10, 11, 12, 13):
        engine.tick(datetime(2026, 1, 5, hour, 0, 1, tzinfo=UTC))
    assert len(engine.list_instances(process_id="twice")) == 2
    assert engine.list_start_timers() == []
    assert engine.list_start_timers(state="all")[0]["state"] == "done"


def test_a_new_version_replaces_the_schedule(engine, tmp_path):
    engine.deploy([nightly('"cron: 0 2 * * *"').write(tmp_path)])
    engine.deploy([nightly('"cron: 30 3 * * *"').write(tmp_path)])
    active = engine.list_start_timers()
    assert [t["expression"] for t in active] == ['"cron: 30 3 * * *"']


def test_a_bad_start_expression_is_refused_at_deploy(engine, tmp_path):
    with pytest.raises(DefinitionError, match=r"nightly_wave.bpmn:\d+:0: error crmflow/timer start"):
        engine.deploy([nightly('"every night"').write(tmp_path)])


def test_scheduler_wakes_for_start_timers(engine, clock, tmp_path):
    engine.deploy([nightly('"R/PT1H"').write(tmp_path)])
    assert engine.next_due_at() == clock.now() + timedelta(hours=1)
