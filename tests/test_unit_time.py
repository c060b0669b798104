"""A wall-clock bound on one unit of work (issue 23 item 6): a chain of slow service handlers stops
between steps once the unit has run longer than CRMFLOW_UNIT_SECONDS, with an incident naming the
next element and the limit; the steps before it are saved and a retry goes on without re-running
them. Time is a fake monotonic clock each handler call moves on: no real waiting, no timing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from bpmn_builder import Process, service

from engine import Engine, HandlerRegistry, InvalidInput
from engine.unit_time import DEFAULT_UNIT_SECONDS, UNIT_SECONDS_ENV, unit_seconds_from_env

STEPS = ["s1", "s2", "s3", "s4", "s5"]


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def slow(registry: HandlerRegistry) -> tuple[FakeMonotonic, list[str]]:
    """The `slow/step` handler: each call takes 4 s on the fake clock."""
    clock, calls = FakeMonotonic(), []

    def step(ctx, label):
        calls.append(label)
        clock.now += 4.0
        return label

    registry.register("slow/step", step)
    return clock, calls


def slow_chain(folder: Path) -> Path:
    p = Process("slow_chain", "Slow chain")
    p.node("start", "startEvent")
    for sid in STEPS:
        p.node(sid, "serviceTask", f"Slow step {sid}", service("slow/step", f"done_{sid}", label=repr(sid)))
    p.node("end", "endEvent")
    return p.chain("start", *STEPS, "end").write(folder)


def test_a_long_unit_stops_between_steps_with_an_incident_and_retry_goes_on(
    make_engine: Callable[..., Engine], slow: tuple[FakeMonotonic, list[str]], tmp_path: Path
) -> None:
    clock, calls = slow
    engine = make_engine(unit_seconds=10, monotonic=clock)
    engine.deploy([slow_chain(tmp_path)])
    inst = engine.start("slow_chain")
    assert calls == ["s1", "s2", "s3"], "s3 ends at 12 s > 10 s: the unit stops before s4"
    assert inst.status == "incident"
    [incident] = inst.incidents
    assert incident.element_id == "s4"
    assert "ran longer than 10 s (CRMFLOW_UNIT_SECONDS)" in incident.message
    assert 'stopped before s4 "Slow step s4"' in incident.message
    saved = engine.get_instance(inst.id).data
    assert saved["done_s3"] == "s3" and "done_s4" not in saved, "the steps before the stop are saved"

    other = engine.start("slow_chain")  # nothing holds the database: another writer goes ahead
    assert other.status == "incident"

    done = engine.retry_incident(incident.id)
    assert done.status == "completed"
    assert calls == ["s1", "s2", "s3"] * 2 + ["s4", "s5"], "the retry went on at s4, re-running nothing"


def test_a_unit_within_the_limit_is_untouched(
    make_engine: Callable[..., Engine], slow: tuple[FakeMonotonic, list[str]], tmp_path: Path
) -> None:
    clock, calls = slow
    engine = make_engine(unit_seconds=60, monotonic=clock)
    engine.deploy([slow_chain(tmp_path)])
    assert engine.start("slow_chain").status == "completed"
    assert calls == STEPS


def test_the_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UNIT_SECONDS_ENV, raising=False)
    assert unit_seconds_from_env() == DEFAULT_UNIT_SECONDS == 30
    monkeypatch.setenv(UNIT_SECONDS_ENV, "2.5")
    assert unit_seconds_from_env() == 2.5
    for bad in ("0", "-1", "soon", "nan", "inf"):
        monkeypatch.setenv(UNIT_SECONDS_ENV, bad)
        with pytest.raises(InvalidInput, match=f"{UNIT_SECONDS_ENV}='{bad}' is not a positive number"):
            unit_seconds_from_env()
