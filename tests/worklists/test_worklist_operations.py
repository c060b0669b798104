"""Pick, release, route, complete, comment and their bulk forms: every check and refusal."""

from __future__ import annotations

import threading

import pytest
from worklist_support import start_deal

import worklists
from engine import Conflict, Forbidden, InvalidInput, NotFound
from worklists.forms import FormInvalid
from worklists.service import Worklist


@pytest.fixture
def task(wl_engine, deal) -> str:
    return start_deal(wl_engine, "D-1")


def events(wl_engine, task_id: str) -> list[tuple[str, str | None]]:
    inst = wl_engine.get_task(task_id).instance_id
    return [(h.event, h.user) for h in wl_engine.history(inst) if h.event in
            ("claimed", "released", "routed", "comment", "completed") and h.element_id == "qualify"]


# -- pick ------------------------------------------------------------------------------------
def test_pick_by_a_member_is_recorded(wl, wl_engine, task):
    picked = wl.pick(task, "ann")
    assert picked.assignee == "ann" and picked.claimed_at is not None
    assert events(wl_engine, task) == [("claimed", "ann")]


def test_pick_refusals(wl, task):
    with pytest.raises(Forbidden, match="sam may not pick .*queue 'sales' is worked by groups sales|only groups sales"):
        wl.pick(task, "sam")
    with pytest.raises(NotFound):
        wl.pick("no-such-task", "ann")
    with pytest.raises(Forbidden, match="not an active user"):
        wl.pick(task, "mallory")
    wl.pick(task, "ann")
    assert wl.pick(task, "ann").assignee == "ann", "picking your own task again is harmless"
    with pytest.raises(Conflict, match="already picked by ann"):
        wl.pick(task, "bob")


def test_candidate_users_may_pick_others_may_not(wl, wl_engine, deploy):
    deploy("owned", [("qualify", "Billing", {})])
    inst = wl_engine.start("owned", {"lane_owners": {"Billing": ["carl", "ann"]}})
    task_id = inst.open_tasks[0].id
    with pytest.raises(Forbidden, match="only users carl, ann may work it"):
        wl.pick(task_id, "bob")
    assert wl.pick(task_id, "ann").assignee == "ann"


def test_pick_of_a_completed_task_is_a_conflict(wl, task):
    wl.pick(task, "ann")
    wl.complete(task, "ann", {"decision": "approve"})
    with pytest.raises(Conflict, match="already completed by ann"):
        wl.pick(task, "bob")


def test_the_pick_race_has_exactly_one_winner(make_engine, wl_engine, lane_map, accounts, deal):
    """Two agents on two engines (as two server processes) pick the same task at once, 200 times."""
    agents = [Worklist(make_engine(migrations=[worklists.MIGRATIONS]), lane_map) for _ in range(2)]
    for rnd in range(200):
        task_id = start_deal(wl_engine, f"R-{rnd}")
        barrier = threading.Barrier(2)
        results: list[str] = []

        def pick(wl, user, task_id=task_id, barrier=barrier, results=results):
            barrier.wait()
            try:
                wl.pick(task_id, user)
                results.append(f"won:{user}")
            except Conflict as err:
                results.append(str(err))

        threads = [threading.Thread(target=pick, args=(agents[i], u)) for i, u in enumerate(("ann", "bob"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        winners = [r[4:] for r in results if r.startswith("won:")]
        assert len(winners) == 1, (rnd, results)
        loser = next(r for r in results if not r.startswith("won:"))
        assert f"already picked by {winners[0]}" in loser
        assert wl_engine.get_task(task_id).assignee == winners[0]


# -- release ---------------------------------------------------------------------------------
def test_release_by_the_assignee_or_a_supervisor(wl, wl_engine, task):
    wl.pick(task, "ann")
    with pytest.raises(Forbidden, match="picked by ann; only they or a supervisor of queue 'sales'"):
        wl.release(task, "bob")
    assert wl.release(task, "ann").assignee is None
    with pytest.raises(Conflict, match="not picked by anyone"):
        wl.release(task, "ann")
    wl.pick(task, "bob")
    assert wl.release(task, "mia").assignee is None, "mia supervises sales"
    assert events(wl_engine, task) == [("claimed", "ann"), ("released", "ann"), ("claimed", "bob"),
                                       ("released", "mia")]


# -- route -----------------------------------------------------------------------------------
def test_route_to_another_queue_arrives_unpicked_for_that_queue(wl, wl_engine, task):
    wl.pick(task, "ann")
    routed = wl.route(task, "ann", queue="billing")
    assert (routed.queue, routed.assignee, routed.candidate_groups) == ("billing", None, [])
    with pytest.raises(Forbidden):
        wl.pick(task, "bob")
    assert wl.pick(task, "carl").assignee == "carl"
    assert ("routed", "ann") in events(wl_engine, task)


def test_route_to_a_person(wl, task):
    routed = wl.route(task, "ann", to="bob")
    assert (routed.queue, routed.assignee) == ("sales", "bob")
    with pytest.raises(Forbidden, match="sam cannot work task"):
        wl.route(task, "bob", to="sam")
    # issue 21: a supervisor may send it only to someone who may work it, like everybody else
    with pytest.raises(Forbidden, match="sam cannot work task .*missing permission 'work' on 'queue:sales'"):
        wl.route(task, "mia", to="sam")
    assert wl.route(task, "mia", to="ann").assignee == "ann", "a supervisor routes bob's task to a colleague"


def test_route_refusals(wl, task):
    with pytest.raises(Forbidden, match="sam may not route"):
        wl.route(task, "sam", queue="service")
    with pytest.raises(InvalidInput, match="queue: unknown queue 'nowhere'"):
        wl.route(task, "ann", queue="nowhere")
    with pytest.raises(InvalidInput, match="to: 'ghost' is not an active user"):
        wl.route(task, "ann", to="ghost")
    with pytest.raises(InvalidInput, match="needs a queue"):
        wl.route(task, "ann")
    with pytest.raises(NotFound):
        wl.route("nope", "ann", queue="billing")


# -- complete --------------------------------------------------------------------------------
def test_complete_needs_the_pick_and_a_valid_form(wl, wl_engine, task):
    with pytest.raises(Forbidden, match="must be picked"):
        wl.complete(task, "ann", {"decision": "approve"})
    wl.pick(task, "ann")
    with pytest.raises(Forbidden, match="picked by ann; only they can complete"):
        wl.complete(task, "bob", {"decision": "approve"})
    with pytest.raises(FormInvalid) as err:
        wl.complete(task, "ann", {"decision": "approve", "discount_percent": 70})
    assert [e.to_dict() for e in err.value.errors] == [{"field": "discount_percent", "message": "must be ≤ 50"}]
    assert "discount_percent: must be ≤ 50" in str(err.value)
    assert wl_engine.get_task(task).state == "open", "an invalid form changes nothing"
    inst = wl.complete(task, "ann", {"decision": "approve"})
    assert inst.open_tasks[0].element_id == "invoice"
    data = wl_engine.get_instance(inst.id).data
    assert (data["decision"], data["discount_percent"]) == ("approve", 5), "defaults are filled in"
    with pytest.raises(Conflict, match="already completed"):
        wl.complete(task, "ann", {"decision": "approve"})
    assert events(wl_engine, task)[-1] == ("completed", "ann")


def test_every_failing_field_is_named(wl, task):
    wl.pick(task, "ann")
    with pytest.raises(FormInvalid) as err:
        wl.complete(task, "ann", {"discount_percent": "lots", "extra": 1, "contact": {"email": "nope"}})
    fields = {e.field: e.message for e in err.value.errors}
    assert fields == {
        "decision": "is required",
        "discount_percent": "must be a number",
        "extra": "is not a field of this form",
        "contact.email": "must be a valid email",
    }


# -- comment ---------------------------------------------------------------------------------
def test_comment(wl, wl_engine, task):
    entry = wl.comment(task, "bob", "customer asked for a call back")
    assert entry.data_delta == {"text": "customer asked for a call back"}
    with pytest.raises(Forbidden, match="sam may not comment"):
        wl.comment(task, "sam", "hello")
    with pytest.raises(InvalidInput):
        wl.comment(task, "bob", "   ")
    assert events(wl_engine, task) == [("comment", "bob")]


# -- bulk ------------------------------------------------------------------------------------
def test_bulk_operations_report_each_item(wl, wl_engine, deal):
    ids = [start_deal(wl_engine, f"B-{i}") for i in range(3)]
    wl.pick(ids[1], "bob")
    results = wl.pick_many([ids[0], ids[1], "missing", ids[2]], "ann")
    assert [(r.task_id, r.ok, r.code) for r in results] == [
        (ids[0], True, None), (ids[1], False, "conflict"), ("missing", False, "not_found"), (ids[2], True, None),
    ]
    assert "already picked by bob" in results[1].message
    released = wl.release_many(ids, "ann")
    assert [r.ok for r in released] == [True, False, True]
    routed = wl.route_many(ids, "mia", queue="billing")
    assert all(r.ok for r in routed) and {wl_engine.get_task(i).queue for i in ids} == {"billing"}


def test_permissions_tell_which_buttons_to_show(wl, task):
    assert wl.permissions(task, "ann").to_dict() == {
        "view": True, "pick": True, "release": False, "route": True, "complete": False, "comment": True,
    }
    wl.pick(task, "ann")
    assert wl.permissions(task, "ann").complete and wl.permissions(task, "ann").release
    assert not wl.permissions(task, "bob").release and wl.permissions(task, "mia").release
    assert not wl.permissions(task, "sam").view
