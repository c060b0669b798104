"""Picking, releasing, routing and commenting on human tasks through the facade."""

from __future__ import annotations

import threading

import pytest
from bpmn_builder import Process

from engine import Conflict, Forbidden, InvalidInput, NotFound


def review_process(lane_body: str = "") -> Process:
    p = Process("review")
    p.node("start", "startEvent").node("check", "userTask", "Check order", lane_body).node("end", "endEvent")
    return p.chain("start", "check", "end")


@pytest.fixture
def task_id(engine, tmp_path) -> str:
    engine.deploy([review_process().write(tmp_path)])
    return engine.start("review", {}).open_tasks[0].id


def test_unrouted_task_lands_in_the_visible_unassigned_queue(engine, task_id):
    assert engine.get_task(task_id).queue == "unassigned"


def test_router_chooses_the_queue(make_engine, tmp_path):
    def by_process(info, process_id):
        info.queue = f"{process_id}-desk"
        info.candidate_groups = ["billing"]

    eng = make_engine(task_router=by_process)
    eng.deploy([review_process().write(tmp_path)])
    task = eng.start("review", {}).open_tasks[0]
    assert (task.queue, task.candidate_groups) == ("review-desk", ["billing"])


def test_pick_release_route_and_comment_are_recorded(engine, task_id):
    picked = engine.claim_task(task_id, "ann")
    assert picked.assignee == "ann" and picked.claimed_at is not None
    assert engine.claim_task(task_id, "ann").assignee == "ann", "picking your own task again is harmless"
    with pytest.raises(Forbidden, match="picked by ann"):
        engine.release_task(task_id, "bob")
    assert engine.release_task(task_id, "ann").assignee is None
    routed = engine.route_task(task_id, by="lead", queue="vip", assignee="cy")
    assert (routed.queue, routed.assignee) == ("vip", "cy")
    engine.comment_task(task_id, "cy", "customer asked for a call back")
    with pytest.raises(Forbidden, match="picked by cy"):
        engine.complete_task(task_id, "ann", {})
    engine.complete_task(task_id, "cy", {})
    history = engine.history(engine.get_task(task_id).instance_id)
    events = [(h.event, h.user) for h in history if h.element_id == "check" and h.event != "task_created"]
    assert events == [
        ("claimed", "ann"), ("released", "ann"), ("routed", "lead"), ("comment", "cy"), ("completed", "cy"),
    ]


def test_worklists_can_require_a_pick_before_completing(engine, task_id):
    with pytest.raises(Forbidden, match="must be picked"):
        engine.complete_task(task_id, "ann", {}, require_claim=True)
    engine.claim_task(task_id, "ann")
    assert engine.complete_task(task_id, "ann", {}, require_claim=True).status == "completed"


def test_refusals_are_clear(engine, task_id):
    with pytest.raises(NotFound):
        engine.claim_task("nope", "ann")
    with pytest.raises(InvalidInput):
        engine.route_task(task_id, by="lead")
    with pytest.raises(InvalidInput):
        engine.comment_task(task_id, "ann", "   ")
    engine.complete_task(task_id, "ann", {})
    with pytest.raises(Conflict, match="already completed"):
        engine.claim_task(task_id, "bob")


def test_two_agents_picking_at_once_exactly_one_gets_it(make_engine, tmp_path):
    setup = make_engine()
    setup.deploy([review_process().write(tmp_path)])
    agents = [make_engine(), make_engine()]
    for _ in range(25):
        task_id = setup.start("review", {}).open_tasks[0].id
        barrier = threading.Barrier(2)
        results: list[str] = []

        def pick(eng, user, task_id=task_id, barrier=barrier, results=results):
            barrier.wait()
            try:
                eng.claim_task(task_id, user)
                results.append(f"won:{user}")
            except Conflict as err:
                results.append(str(err))

        threads = [threading.Thread(target=pick, args=(e, f"agent{i}")) for i, e in enumerate(agents)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        winners = [r for r in results if r.startswith("won:")]
        assert len(winners) == 1, results
        loser = [r for r in results if not r.startswith("won:")][0]
        assert f"already picked by {winners[0][4:]}" in loser
        assert setup.get_task(task_id).assignee == winners[0][4:]
