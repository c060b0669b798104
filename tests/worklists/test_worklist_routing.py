"""The lane router: which queue a new task lands in and who may work it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.projections import HumanTaskInfo
from worklists.routing import UNASSIGNED, LaneMap, LaneMapError, lane_owners, make_router

REPO_LANES = Path(__file__).resolve().parents[2] / "processes" / "lanes.json"


def info(lane: str | None = None, **kw) -> HumanTaskInfo:
    base = dict(task_id="t1", element_id="e", name="E", kind="user", lane=lane, form=None, ui_form=None,
                instructions=None, assignee=None, candidate_groups=[], priority=None, due_at=None,
                follow_up_at=None, queue=None, data={})
    base.update(kw)
    return HumanTaskInfo(**base)


@pytest.fixture
def route(lane_map):
    router = make_router(lane_map)

    def _route(task: HumanTaskInfo) -> HumanTaskInfo:
        router(task, "deal")
        return task

    return _route


def test_lane_map_gives_queue_and_groups(route):
    task = route(info("Sales"))
    assert (task.queue, task.candidate_groups, task.assignee) == ("sales", ["sales"], None)


def test_explicit_assignee_from_the_diagram_wins(route):
    task = route(info("Sales", assignee="zed", data={"lane_owners": {"Sales": ["ann"]}}))
    assert (task.queue, task.assignee, task.candidate_groups) == ("sales", "zed", ["sales"])


def test_explicit_candidate_groups_win_and_pick_their_queue(route):
    task = route(info("Sales", candidate_groups=["billing"]))
    assert (task.queue, task.candidate_groups) == ("billing", ["billing"])
    same = route(info("Sales", candidate_groups=["sales"]))
    assert (same.queue, same.candidate_groups) == ("sales", ["sales"])


def test_one_lane_owner_becomes_the_assignee(route):
    task = route(info("Sales", data={"lane_owners": {"Sales": ["ann"], "Billing": ["carl", "cy"]}}))
    assert (task.queue, task.assignee, task.candidate_groups) == ("sales", "ann", ["sales"])


def test_several_lane_owners_become_candidate_users(route):
    task = route(info("Billing", data={"lane_owners": {"Sales": ["ann"], "Billing": ["carl", "cy", "carl"]}}))
    assert (task.queue, task.assignee, task.candidate_groups) == ("billing", None, ["user:carl", "user:cy"])


def test_no_lane_and_no_groups_goes_to_the_visible_unassigned_queue(route):
    task = route(info(None))
    assert (task.queue, task.candidate_groups) == (UNASSIGNED, [])


def test_an_unmapped_lane_or_unlisted_queue_goes_to_the_visible_unassigned_queue(route):
    assert route(info("Legal")).queue == UNASSIGNED, "never a queue named after the lane that nobody can open"
    assert route(info("Sales", queue="vip")).queue == "sales", "an unlisted diagram queue falls back to the lane's"
    assert route(info("Legal", queue="vip")).queue == UNASSIGNED
    assert route(info("Sales", queue="billing")).queue == "billing", "a listed diagram queue wins"
    assert route(info(None, candidate_groups=["nobody"])).queue == UNASSIGNED


def test_lanes_match_whatever_the_case_and_blanks(route):
    assert route(info("  sales ")).queue == "sales"
    assert route(info("SERVICE AGENT")).queue == "service"


def test_lane_owners_helper_ignores_malformed_data():
    assert lane_owners({"lane_owners": "ann"}, "Sales") == []
    assert lane_owners({"lane_owners": {"Sales": "ann"}}, "Sales") == ["ann"]
    assert lane_owners({"lane_owners": {"Sales": ["ann"]}}, None) == []


def test_lane_map_errors_name_the_file_and_lane(tmp_path):
    bad = tmp_path / "lanes.json"
    bad.write_text("{nope")
    with pytest.raises(LaneMapError, match="not valid JSON"):
        LaneMap.load(bad)
    bad.write_text(json.dumps({"Sales": {"queue": "sales", "groups": [1]}}))
    with pytest.raises(LaneMapError, match="'Sales': groups"):
        LaneMap.load(bad)
    with pytest.raises(LaneMapError, match="cannot read"):
        LaneMap.load(tmp_path / "missing.json")


def test_every_form_of_the_lane_map_reads_the_same(tmp_path):
    forms = {
        "object": {"Sales": {"queue": "sales", "groups": ["sales"], "supervisors": "bosses"}},
        "wrapped": {"lanes": {"Sales": {"queue": "sales", "candidateGroups": "sales", "supervisors": ["bosses"]}}},
        "list": [{"lane": "Sales", "queue": "sales", "groups": ["sales"], "supervisors": ["bosses"]}],
    }
    for name, raw in forms.items():
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(raw))
        lane_map = LaneMap.load(path)
        assert lane_map.route_for("sales") == lane_map.route_for("Sales"), name
        assert lane_map.queue("sales").supervisor_groups == ("bosses",), name
        assert lane_map.queue("sales").groups == ("sales",), name
    assert LaneMap.from_data({"Sales": "sales"}).route_for("Sales").queue == "sales"
    assert LaneMap.from_data({"Sales": {"groups": ["sales"]}}).route_for("Sales").queue == "Sales"


def test_queues_pool_lanes_and_supervisors_default_to_members(lane_map):
    merged = LaneMap.from_dict({"A": {"queue": "q", "groups": ["a"]}, "B": {"queue": "q", "groups": ["b"]}})
    assert merged.queue("q").groups == ("a", "b") and merged.queue("q").lanes == ("A", "B")
    assert lane_map.queue("sales").supervisor_groups == ("sales_managers",)
    assert lane_map.queue("billing").supervisor_groups == ("billing",), "no supervisors: the working groups"
    assert lane_map.queue(UNASSIGNED).groups == ()


def test_the_projects_lane_map_covers_the_crm_lanes():
    lanes = LaneMap.load(REPO_LANES).lanes
    for lane in ("Sales", "Sales Manager", "Marketing", "Marketing Manager", "Service Agent",
                 "Service Supervisor", "Billing"):
        assert lanes[lane].queue and lanes[lane].groups, lane
    supervised = {"Sales": "sales_managers", "Marketing": "marketing_managers", "Service Agent": "service_supervisors"}
    for lane, group in supervised.items():
        assert lanes[lane].supervisors == (group,), f"{lane}: its managers supervise it (they could not open it)"


def test_engine_routes_new_tasks_through_the_lane_map(wl_engine, deal):
    from worklist_support import start_deal

    task = wl_engine.get_task(start_deal(wl_engine, "D-1"))
    assert (task.lane, task.queue, task.candidate_groups) == ("Sales", "sales", ["sales"])


def test_lane_owners_in_start_data_assign_through_the_engine(wl_engine, deal):
    inst = wl_engine.start("deal", {"prio": 1, "due": "P1D", "customer": "X", "topic": "t",
                                    "lane_owners": {"Sales": ["bob"]}})
    assert inst.open_tasks[0].assignee == "bob"


def test_lane_owner_groups_become_candidate_groups_and_pick_their_queue(route):
    task = route(info("Reviewer", data={"lane_owners": {"Reviewer": ["group:billing", "bob"]}}))
    assert (task.queue, task.assignee, task.candidate_groups) == ("billing", None, ["billing", "user:bob"])
    one_group = route(info("Sales", data={"lane_owners": {"Sales": ["group:sales"]}}))
    assert (one_group.queue, one_group.assignee, one_group.candidate_groups) == ("sales", None, ["sales"]), \
        "a group owner is never taken for a user called 'group:sales'"


def test_the_process_initiator_lane_goes_to_whoever_started_the_instance(route):
    task = route(info("Process Initiator", initiator="ann"))
    assert (task.assignee, task.queue) == ("ann", UNASSIGNED)
    assert route(info("process initiator ", initiator="ann")).assignee == "ann"
    nobody = route(info("Process Initiator", initiator=None))
    assert (nobody.assignee, nobody.queue) == (None, UNASSIGNED), "a timer-started instance has no initiator"
    assert route(info("Process Initiator", initiator="ann", assignee="zed")).assignee == "zed"
    assert route(info("Sales", initiator="ann")).assignee is None, "only that lane is the initiator's"
