"""Routing cases to resources: least-busy vs round-robin, skills, capacity, services, and
the `no_resource` error a diagram catches to take its waiting path."""

from __future__ import annotations

from pathlib import Path

import pytest
from bpmn_builder import Process, service
from sqlalchemy import select

from engine import BpmnError
from handlers.calendars import save_calendar
from handlers.errors import DomainError, RecordNotFound
from handlers.models import ResourceAssignment
from handlers.resources import (
    add_group,
    add_resource,
    add_service,
    release_resource,
    route_to_resource,
    workload,
)
from handlers.service.cases import open_case


def _cases(crm, n: int) -> list[int]:  # noqa: ANN001
    return [
        crm.call(open_case, title=f"Case {i}", origin="Email", customer_email=f"c{i}@example.com")["case_id"]
        for i in range(n)
    ]


@pytest.fixture
def team(crm):  # noqa: ANN001, ANN201
    """Tier 1: ann (cap 2, en+de), bob (cap 2, en), cid (cap 1, de), dan (en, inactive)."""
    with crm.session() as s:
        add_group(s, "Tier 1", crm.now)
        add_group(s, "Tier 2", crm.now, strategy="round-robin")
        add_resource(s, "Ann", crm.now, capacity=2, user_name="ann", skills=["en", "de"], groups=["Tier 1"])
        add_resource(s, "Bob", crm.now, capacity=2, user_name="bob", skills=["en"], groups=["Tier 1", "Tier 2"])
        add_resource(s, "Cid", crm.now, capacity=1, user_name="cid", skills={"de": 3}, groups=["Tier 1"])
        dan = add_resource(s, "Dan", crm.now, capacity=5, user_name="dan", skills=["en"], groups=["Tier 1"])
        dan.active = False
    return crm


def _route(crm, case_id: int, **kw) -> str:  # noqa: ANN001
    return crm.call(route_to_resource, case_id=case_id, **kw)["assignee"]


def test_least_busy_spreads_work_and_raises_no_resource_when_everyone_is_full(team) -> None:  # noqa: ANN001
    cases = _cases(team, 5)
    assert [_route(team, c, group="Tier 1", skill="en") for c in cases[:4]] == ["ann", "bob", "ann", "bob"]
    with pytest.raises(BpmnError) as err:
        _route(team, cases[4], group="Tier 1", skill="en")
    assert err.value.code == "no_resource"
    assert err.value.data == {"group": "Tier 1", "skill": "en", "reason": "everyone at capacity"}
    assert team.call(release_resource, case_id=cases[1]) == {"case_id": cases[1], "released": 1}
    assert _route(team, cases[4], group="Tier 1", skill="en") == "bob", "the freed slot"


@pytest.mark.parametrize(("strategy", "expected"), [("least-busy", "cid"), ("round-robin", "ann")])
def test_least_busy_and_round_robin_choose_differently_from_the_same_state(team, strategy, expected) -> None:  # noqa: ANN001
    # ann, bob, cid get one case each; cid's is released: open = ann 1, bob 1, cid 0; last assigned = cid
    a, b, c, d = _cases(team, 4)
    assert [_route(team, x, group="Tier 1", strategy="round-robin") for x in (a, b, c)] == ["ann", "bob", "cid"]
    team.call(release_resource, case_id=c)
    assert _route(team, d, group="Tier 1", strategy=strategy) == expected


def test_least_busy_ties_go_to_the_longest_idle_not_the_lowest_id(team) -> None:  # noqa: ANN001
    a, b, c, d = _cases(team, 4)
    assert [_route(team, x, group="Tier 1", skill="en") for x in (a, b)] == ["ann", "bob"]
    team.call(release_resource, case_id=a)
    assert _route(team, c, group="Tier 1", skill="en") == "ann"
    team.call(release_resource, case_id=b)
    team.call(release_resource, case_id=c)
    # both idle; bob's last assignment (b) is older than ann's (c)
    assert _route(team, d, group="Tier 1", skill="en") == "bob"


def test_round_robin_skips_full_and_unskilled_members(team) -> None:  # noqa: ANN001
    cases = _cases(team, 5)
    # de: ann and cid only; cid holds one at most
    got = [_route(team, c, group="Tier 1", skill="de", strategy="round-robin") for c in cases[:3]]
    assert got == ["ann", "cid", "ann"]
    with pytest.raises(BpmnError, match="everyone at capacity"):
        _route(team, cases[3], group="Tier 1", skill="de", strategy="round-robin")


def test_the_groups_own_strategy_is_the_default(team) -> None:  # noqa: ANN001
    cases = _cases(team, 3)
    routed = team.call(route_to_resource, case_id=cases[0], group="Tier 2")
    assert routed["strategy"] == "round-robin" and routed["assignee"] == "bob"


def test_skill_nobody_has_and_inactive_members(team) -> None:  # noqa: ANN001
    [case] = _cases(team, 1)
    with pytest.raises(BpmnError) as err:
        _route(team, case, group="Tier 1", skill="fr")
    assert err.value.code == "no_resource" and err.value.data["reason"] == "nobody with that skill"
    with team.session() as s:
        assert "Dan" not in [w["resource"] for w in workload(s, "Tier 1")]


def test_a_case_keeps_its_resource_in_the_same_group_and_moves_to_another_group(team) -> None:  # noqa: ANN001
    [case] = _cases(team, 1)
    first = team.call(route_to_resource, case_id=case, group="Tier 1")
    again = team.call(route_to_resource, case_id=case, group="Tier 1")
    assert again["assignment_id"] == first["assignment_id"] and again["already_assigned"] is True
    moved = team.call(route_to_resource, case_id=case, group="Tier 2")
    assert moved["assignee"] == "bob" and moved["already_assigned"] is False
    with team.session() as s:
        rows = s.scalars(select(ResourceAssignment).order_by(ResourceAssignment.id)).all()
        assert [(r.regarding_type, r.regarding_id, r.released_at is not None) for r in rows] == [
            ("case", case, True),
            ("case", case, False),
        ]
        assert {w["resource"]: w["open_items"] for w in workload(s, "Tier 1")} == {"Ann": 0, "Bob": 1, "Cid": 0}


def test_moving_to_a_full_group_keeps_the_old_resource(team) -> None:  # noqa: ANN001
    case, x, y = _cases(team, 3)
    assert _route(team, case, group="Tier 1", skill="de") == "ann"
    assert [_route(team, c, group="Tier 2") for c in (x, y)] == ["bob", "bob"]
    with team.session() as s, pytest.raises(BpmnError, match="everyone at capacity"):
        # caught inside the transaction, which then commits: as when a diagram catches the error
        route_to_resource(team.context(s), case_id=case, group="Tier 2")
    with team.session() as s:
        [held] = s.scalars(select(ResourceAssignment).where(ResourceAssignment.regarding_id == case)).all()
        assert held.released_at is None and {w["resource"]: w["open_items"] for w in workload(s, "Tier 1")}["Ann"] == 1


def test_moving_counts_the_slot_the_record_gives_up(crm) -> None:  # noqa: ANN001
    # zed (capacity 1) is in both groups and full with the very case that moves
    with crm.session() as s:
        add_group(s, "Desk", crm.now)
        add_group(s, "Field", crm.now)
        add_resource(s, "Zed", crm.now, capacity=1, user_name="zed", groups=["Desk", "Field"])
    case, other = _cases(crm, 2)
    assert _route(crm, case, group="Desk") == "zed"
    moved = crm.call(route_to_resource, case_id=case, group="Field")
    assert (moved["assignee"], moved["open_items"], moved["already_assigned"]) == ("zed", 1, False)
    with pytest.raises(BpmnError, match="everyone at capacity"):
        _route(crm, other, group="Desk")


def test_route_by_service(team) -> None:  # noqa: ANN001
    with team.session() as s:
        add_group(s, "Field", team.now)
        add_resource(s, "Van 1", team.now, kind="equipment", capacity=1, skills=["repair"], groups=["Field"])
        add_resource(s, "Van 2", team.now, kind="equipment", capacity=1, skills=["repair"], groups=["Field"])
        add_service(s, "Onsite repair", "Field", team.now, skill="repair")
    a, b, c = _cases(team, 3)
    first = team.call(route_to_resource, case_id=a, service="Onsite repair")
    assert (first["resource"], first["resource_kind"], first["assignee"], first["group"]) == (
        "Van 1", "equipment", None, "Field")
    assert team.call(route_to_resource, case_id=b, service="Onsite repair")["resource"] == "Van 2"
    with pytest.raises(BpmnError, match="no available resource with skill 'repair' in group 'Field'"):
        team.call(route_to_resource, case_id=c, service="Onsite repair")


def test_available_now_passes_over_members_whose_calendar_is_closed(crm) -> None:  # noqa: ANN001
    # now = Mon 5 Jan 2026 09:00 UTC: 10:00 in Berlin (open), 04:00 in New York (closed)
    hours = {d: [["09:00", "17:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
    with crm.session() as s:
        save_calendar(s, "Berlin", "Europe/Berlin", hours, now=crm.now)
        save_calendar(s, "New York", "America/New_York", hours, now=crm.now)
        add_group(s, "Global", crm.now)
        add_resource(s, "Nia", crm.now, user_name="nia", calendar="New York", groups=["Global"])
        add_resource(s, "Ben", crm.now, user_name="ben", calendar="Berlin", groups=["Global"])
    a, b = _cases(crm, 2)
    assert _route(crm, a, group="Global") == "nia", "without the flag: the lowest id"
    crm.call(release_resource, case_id=a)
    assert _route(crm, b, group="Global", available_now=True) == "ben"


def test_bad_calls(team) -> None:  # noqa: ANN001
    [case] = _cases(team, 1)
    with pytest.raises(RecordNotFound, match="resource group 'Nope'"):
        _route(team, case, group="Nope")
    with pytest.raises(DomainError, match="strategy must be one of"):
        _route(team, case, group="Tier 1", strategy="random")
    with pytest.raises(DomainError, match="needs a group or a service"):
        _route(team, case)
    with pytest.raises(RecordNotFound, match="case 999"):
        _route(team, 999, group="Tier 1")
    with team.session() as s, pytest.raises(DomainError, match="capacity"):
        add_resource(s, "Eve", team.now, capacity=0)


# -- in a diagram: the worklist item shows the resource, a full team takes the waiting path -----
def routing_process(folder: Path) -> Path:
    p = Process("route_case", "Route a case")
    p.root_elements = '<bpmn:error id="err_no_resource" name="No resource" errorCode="no_resource"/>'
    p.node("start", "startEvent")
    p.node("open", "serviceTask", "Open case", service(
        "service/open_case", "case", title='"Broken"', origin='"Email"', customer_email="email"))
    p.node("route", "serviceTask", "Route to resource", service(
        "service/route_to_resource", "routed", case_id='case["case_id"]', group='"Tier 1"', skill='"en"'))
    p.node("full", "boundaryEvent", "Nobody free",
           '<bpmn:errorEventDefinition errorRef="err_no_resource"/>', row=1, attrs=' attachedToRef="route"')
    p.node("wait", "userTask", "Wait for a free agent", row=1)
    p.node("work", "userTask", "Work the case", (
        '<bpmn:extensionElements><spiffworkflow:properties>'
        '<spiffworkflow:property name="assignee" value="routed[&quot;assignee&quot;]"/>'
        "</spiffworkflow:properties></bpmn:extensionElements>"))
    p.node("end", "endEvent")
    p.node("end_wait", "endEvent", row=1)
    return p.chain("start", "open", "route", "work", "end").chain("full", "wait", "end_wait").write(folder)


def test_the_work_item_is_assigned_to_the_routed_person_and_a_full_team_waits(crm_engine, clock, tmp_path) -> None:  # noqa: ANN001
    with crm_engine.db.write() as s:
        add_group(s, "Tier 1", clock.now())
        add_resource(s, "Ann", clock.now(), capacity=1, user_name="ann", skills=["en"], groups=["Tier 1"])
    crm_engine.deploy([routing_process(tmp_path)])
    first = crm_engine.start("route_case", {"email": "a@example.com"})
    [task] = crm_engine.list_tasks(instance_id=first.id)
    assert (task.element_id, task.assignee) == ("work", "ann")
    second = crm_engine.start("route_case", {"email": "b@example.com"})
    [waiting] = crm_engine.list_tasks(instance_id=second.id)
    assert waiting.element_id == "wait" and waiting.assignee is None
