"""Worklist views: who sees what, filters, sorting and pagination."""

from __future__ import annotations

from datetime import timedelta

import pytest
from worklist_support import start_deal

from engine import Forbidden, InvalidInput
from worklists import task_pages as pages_module
from worklists.service import SlaInfo, TaskFilter, Worklist


@pytest.fixture
def tasks(wl_engine, deal) -> dict[str, str]:
    """Six open 'qualify' tasks with distinct priorities and due dates (one without)."""
    specs = {
        "K-1": (1, "P3D"), "K-2": (5, "P1D"), "K-3": (3, None), "K-4": (2, "PT4H"), "K-5": (4, "P5D"),
        "K-6": (None, "P2D"),
    }
    ids = {}
    for key, (prio, due) in specs.items():
        ids[key] = start_deal(wl_engine, key, prio=prio, due=due, customer=f"Cust {key}")
        wl_engine.clock.advance(timedelta(minutes=1))
    return ids


def keys(page) -> list[str | None]:
    return [i.business_key for i in page.items]


def test_available_shows_unpicked_tasks_in_my_queues_only(wl, tasks):
    assert sorted(keys(wl.available("ann"))) == sorted(tasks)
    assert keys(wl.available("sam")) == [], "service agents do not work the sales queue"
    wl.pick(tasks["K-1"], "bob")
    assert "K-1" not in keys(wl.available("ann"))


def test_my_work_lists_only_my_open_picks(wl, tasks):
    wl.pick(tasks["K-1"], "ann")
    wl.pick(tasks["K-2"], "bob")
    assert keys(wl.my_work("ann")) == ["K-1"]
    assert keys(wl.my_work("bob")) == ["K-2"]


def test_candidate_users_and_the_unassigned_queue(wl, wl_engine, deploy):
    deploy("loose", [("triage", None, {"candidateGroups": '"user:carl, user:sam"'})])
    deploy("orphan", [("triage", None, {})])
    loose = wl_engine.start("loose", {}, business_key="L-1").open_tasks[0]
    orphan = wl_engine.start("orphan", {}, business_key="O-1").open_tasks[0]
    assert (loose.queue, orphan.queue) == ("unassigned", "unassigned")
    assert keys(wl.available("carl")) == ["L-1"], "a candidate user sees it although billing is another queue"
    assert keys(wl.available("ann")) == []
    assert sorted(keys(wl.available("root"))) == ["L-1", "O-1"], "admins see the whole unassigned queue"


def test_queue_view_and_who_may_look(wl, tasks):
    wl.pick(tasks["K-1"], "ann")
    assert len(wl.queue("sales").items) == 6
    assert keys(wl.queue("sales", picked=True)) == ["K-1"]
    assert "K-1" not in keys(wl.queue("sales", picked=False))
    assert len(wl.queue("sales", user="mia").items) == 6, "supervisors may look"
    with pytest.raises(Forbidden, match="sam is not in a group that works queue 'sales'"):
        wl.queue("sales", user="sam")


def test_closed_by_me_newest_first(wl, wl_engine, tasks):
    for key in ("K-1", "K-2"):
        wl.pick(tasks[key], "ann")
        wl.complete(tasks[key], "ann", {"decision": "approve"})
        wl_engine.clock.advance(timedelta(minutes=5))
    assert keys(wl.closed_by("ann")) == ["K-2", "K-1"]
    assert keys(wl.closed_by("bob")) == []


def test_filters(wl, wl_engine, tasks):
    assert keys(wl.available("ann", TaskFilter(business_key="K-3"))) == ["K-3"]
    assert keys(wl.available("ann", TaskFilter(process="nope"))) == []
    assert len(wl.available("ann", TaskFilter(process="deal")).items) == 6
    assert sorted(keys(wl.available("ann", TaskFilter(priority_up_to=2)))) == ["K-1", "K-4"], "1 is the most urgent"
    due = wl_engine.now() + timedelta(days=1, minutes=30)
    assert sorted(keys(wl.available("ann", TaskFilter(due_before=due)))) == ["K-2", "K-4"]
    assert sorted(keys(wl.available("ann", TaskFilter(text="k-5")))) == ["K-5"], "text is case-insensitive"
    assert len(wl.available("ann", TaskFilter(text="QUALIFY")).items) == 6, "text matches the task name"
    assert keys(wl.available("ann", TaskFilter(text="100%"))) == [], "LIKE wildcards are literal"


def test_sorting(wl, tasks):
    assert keys(wl.available("ann", sort="due")) == ["K-4", "K-2", "K-6", "K-1", "K-5", "K-3"], "no due date last"
    assert keys(wl.available("ann", sort="priority")) == ["K-1", "K-4", "K-3", "K-5", "K-2", "K-6"], "1 first"
    assert keys(wl.available("ann", sort="age")) == ["K-1", "K-2", "K-3", "K-4", "K-5", "K-6"]
    with pytest.raises(InvalidInput, match="sort must be one of"):
        wl.available("ann", sort="colour")


@pytest.mark.parametrize("sort", ["due", "priority", "age"])
def test_keyset_pages_walk_every_item_once_in_order(wl, tasks, sort):
    whole = keys(wl.available("ann", sort=sort))
    walked, cursor, pages = [], None, 0
    while True:
        page = wl.available("ann", sort=sort, limit=2, cursor=cursor)
        walked += keys(page)
        pages += 1
        cursor = page.next_cursor
        if cursor is None:
            break
    assert walked == whole and pages == 3
    by_offset = [k for off in (0, 2, 4) for k in keys(wl.available("ann", sort=sort, limit=2, offset=off))]
    assert by_offset == whole


def test_pages_across_several_queues_merge_in_order(wl, wl_engine, tasks, accounts):
    accounts.set_groups("bob", ["sales", "billing"])
    for key in ("K-1", "K-2"):  # move two tasks on to billing, where bob also works
        wl.route(tasks[key], "mia", queue="billing")
    page1 = wl.available("bob", sort="age", limit=4)
    page2 = wl.available("bob", sort="age", limit=4, cursor=page1.next_cursor)
    assert keys(page1) + keys(page2) == ["K-1", "K-2", "K-3", "K-4", "K-5", "K-6"]
    assert page2.next_cursor is None


def test_totals_only_when_asked_and_capped(wl, tasks, monkeypatch):
    assert wl.available("ann").total is None
    page = wl.available("ann", limit=2, with_total=True)
    assert (page.total, page.total_is_lower_bound) == (6, False)
    monkeypatch.setattr(pages_module, "COUNT_CAP", 4)
    page = wl.available("ann", limit=2, with_total=True)
    assert (page.total, page.total_is_lower_bound) == (4, True)


def test_bad_paging_is_refused(wl, tasks):
    with pytest.raises(InvalidInput, match="limit"):
        wl.available("ann", limit=0)
    with pytest.raises(InvalidInput, match="cursor"):
        wl.available("ann", cursor="garbage!")
    cursor = wl.available("ann", sort="due", limit=1).next_cursor
    with pytest.raises(InvalidInput, match="cursor"):
        wl.available("ann", sort="age", cursor=cursor)


def test_unknown_user_sees_nothing(wl, tasks):
    with pytest.raises(Forbidden, match="not an active user"):
        wl.available("mallory")
    wl.accounts.set_active("bob", False)
    with pytest.raises(Forbidden, match="not an active user"):
        wl.my_work("bob")


def test_counts_per_queue(wl, tasks):
    wl.pick(tasks["K-1"], "ann")
    counts = wl.counts("ann")
    assert counts.mine == 1
    sales = next(q for q in counts.queues if q.queue == "sales")
    assert (sales.open, sales.unpicked, sales.available_to_me) == (6, 5, 5)
    assert "unassigned" in [q.queue for q in counts.queues], "the unassigned queue is always shown"
    assert [q.queue for q in wl.counts("sam").queues] == ["service", "unassigned"]


class FakeSla:
    """SLA by business key: K-1 breached an hour ago, K-2 nearing (2 h left), K-3 ok (3 days)."""

    def __init__(self, now):
        self.calls = []
        self.table = {
            "K-1": SlaInfo("breached", now - timedelta(hours=1)),
            "K-2": ("nearing", now + timedelta(hours=2)),
            "K-3": SlaInfo("ok", now + timedelta(days=3)),
        }

    def sla_for(self, session, business_keys):
        self.calls.append(list(business_keys))
        return {k: v for k, v in self.table.items() if k in business_keys}


@pytest.fixture
def sla_wl(wl_engine, lane_map, accounts, tasks):
    return Worklist(wl_engine, lane_map, FakeSla(wl_engine.now()), accounts=accounts, forms=None)


def test_sla_status_and_time_left_come_from_the_provider(sla_wl, tasks):
    items = {i.business_key: i for i in sla_wl.available("ann").items}
    assert items["K-1"].sla_status == "breached" and items["K-1"].sla_seconds_left == -3600
    assert items["K-2"].sla_status == "nearing" and items["K-2"].sla_seconds_left == 7200
    assert (items["K-4"].sla_status, items["K-4"].sla_source) == ("nearing", "due"), "no SLA: its due date counts"
    assert items["K-1"].sla_source == "sla"
    assert len(sla_wl.sla.calls) == 1, "one provider call per page, not per item"
    assert sla_wl.get(tasks["K-3"]).sla_status == "ok"


def test_sla_sort_and_filter(sla_wl, tasks):
    # K-4 has no case SLA but is due in under 4 h: the same decision puts it in "nearing" everywhere
    assert keys(sla_wl.available("ann", sort="sla")) == ["K-1", "K-2", "K-4", "K-6", "K-3", "K-5"]
    assert sorted(keys(sla_wl.available("ann", TaskFilter(sla_status="nearing")))) == ["K-2", "K-4"]
    first = sla_wl.available("ann", sort="sla", limit=2)
    second = sla_wl.available("ann", sort="sla", limit=2, cursor=first.next_cursor)
    assert keys(first) == ["K-1", "K-2"] and keys(second)[0] == "K-4"
    assert sla_wl.available("ann", TaskFilter(sla_status="breached"), with_total=True).total == 1


def test_one_decision_for_sla_column_filter_and_sort(wl_engine, lane_map, accounts, tasks):
    """A KPI still stored as 'nearing' whose failure time has passed (its check runs on a timer) is
    breached for the filter, the sort and the column alike — not 'Breached' in the column but listed
    under 'nearing' (issue 13, bug 3)."""
    from crmflow.web.pages.base import countdown

    now = wl_engine.now()
    stale = {"K-1": ("nearing", now - timedelta(minutes=10)), "K-2": ("ok", now + timedelta(days=9))}
    wl = Worklist(wl_engine, lane_map, type("Sla", (), {"sla_for": lambda self, s, keys: stale})(),
                  accounts=accounts)
    assert keys(wl.available("ann", TaskFilter(sla_status="breached"))) == ["K-1"]
    assert "K-1" not in keys(wl.available("ann", TaskFilter(sla_status="nearing")))
    assert keys(wl.available("ann", sort="sla"))[0] == "K-1"
    item = wl.get(tasks["K-1"])
    assert (item.sla_status, countdown(item).state) == ("breached", "breached")
    for status in ("ok", "nearing", "breached"):
        for shown in wl.available("ann", TaskFilter(sla_status=status)).items:
            assert countdown(shown).state == status, (status, shown.business_key)


def test_priority_reads_as_a_word_with_1_the_most_urgent(wl, tasks):
    from worklists.priority import parse_priority, priority_label

    labels = {i.business_key: i.priority_label for i in wl.available("ann").items}
    assert (labels["K-1"], labels["K-4"], labels["K-3"], labels["K-2"], labels["K-6"]) == (
        "High", "Normal", "Low", "Low", None)
    assert [priority_label(p) for p in (0, 1, 2, 3, 7, None)] == ["High", "High", "Normal", "Low", "Low", "—"]
    assert (parse_priority("HIGH"), parse_priority(" normal "), parse_priority("4"), parse_priority("")) == (
        1, 2, 4, None)
    with pytest.raises(ValueError, match="priority must be high, normal or a number"):
        parse_priority("urgent")
