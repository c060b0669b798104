"""Supervisors see and route everything in the queues they supervise; a task someone picked is
reassigned only by a supervisor of its queue (or an admin), and its previous assignee is told:
in the history and by email (issue 13, bugs 4 and 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import Forbidden
from engine.models import OutboxMessage
from worklists.reminders import REASSIGNED, TaskReminderSender
from worklists.routing import LaneMap
from worklists.service import Worklist

REPO_LANES = Path(__file__).resolve().parents[2] / "processes" / "lanes.json"


@pytest.fixture
def task(wl_engine, deal) -> str:
    from worklist_support import start_deal

    return start_deal(wl_engine, "D-1")


def routed_events(engine, task_id):
    inst = engine.get_task(task_id).instance_id
    return [(h.event, h.user, h.data_delta) for h in engine.history(inst) if h.event in ("routed", "released")]


def outbox(engine) -> list[OutboxMessage]:
    with engine.db.read() as session:
        return list(session.query(OutboxMessage).order_by(OutboxMessage.id))


def test_the_shipped_lane_map_lets_managers_open_their_teams_queues(wl_engine, accounts):
    """bob (sales_managers) opens `sales`, sam (service_supervisors) opens `service`: both were 403."""
    accounts.add_user("boss", ["sales_managers"], token_label=None)
    accounts.add_user("sup", ["service_supervisors"], token_label=None)
    wl = Worklist(wl_engine, LaneMap.load(REPO_LANES), accounts=accounts)
    assert wl.queue("sales", user="boss").items == []
    assert wl.queue("service", user="sup").items == []
    assert "sales" in wl.supervised_queues(wl.actor("boss"))
    openable = {q.queue for q in wl.counts("sup").queues}
    assert "service" in openable
    with pytest.raises(Forbidden):
        wl.queue("service", user="boss")


def test_a_colleague_cannot_take_a_picked_task(wl, wl_engine, task):
    wl.pick(task, "ann")
    for attempt in (lambda: wl.route(task, "bob", to="bob"), lambda: wl.route(task, "bob", queue="billing"),
                    lambda: wl.release(task, "bob")):
        with pytest.raises(Forbidden, match="is picked by ann; only they or a supervisor of queue 'sales'"):
            attempt()
    perms = wl.permissions(task, "bob")
    assert not perms.route and not perms.release and perms.view, "bob sees it but is told it is ann's"
    assert wl_engine.get_task(task).assignee == "ann"
    assert outbox(wl_engine) == []


def test_a_supervisor_reassigns_and_the_previous_assignee_is_told(wl, wl_engine, accounts, task):
    accounts.set_email("ann", "ann@crm.example.test")
    wl.pick(task, "ann")
    assert wl.permissions(task, "mia").route, "mia supervises sales"
    wl.route(task, "mia", to="bob")
    assert wl_engine.get_task(task).assignee == "bob"
    [(event, user, delta)] = routed_events(wl_engine, task)
    assert (event, user, delta["assignee"]) == ("routed", "mia", {"from": "ann", "to": "bob"})
    [message] = outbox(wl_engine)
    assert message.channel == "task_reminder" and message.payload["kind"] == REASSIGNED
    assert message.payload["notify"] == ["ann"] and message.payload["by"] == "mia"

    sent: list[tuple[dict, str]] = []
    report = wl_engine.deliver_outbox({"task_reminder": TaskReminderSender(accounts, lambda m, k: sent.append((m, k)))})
    assert report.sent == 1
    [(mail, _)] = sent
    assert mail["to"] == ["ann@crm.example.test"], "only the previous assignee, not the queue"
    assert mail["subject"] == "Reassigned: Qualify (D-1)"
    assert "mia took the task 'Qualify' you had picked; it is now with bob" in mail["body"]


def test_a_supervisor_releasing_or_moving_someones_task_tells_them_too(wl, wl_engine, accounts, task):
    wl.pick(task, "ann")
    wl.release(task, "mia")
    wl.pick(task, "bob")
    wl.route(task, "root", queue="billing")  # an admin
    assert [m.payload["notify"] for m in outbox(wl_engine)] == [["ann"], ["bob"]]
    assert [(e, u) for e, u, _ in routed_events(wl_engine, task)] == [("released", "mia"), ("routed", "root"),
                                                                       ("released", "root")]


def test_moving_your_own_task_tells_nobody(wl, wl_engine, task):
    wl.pick(task, "ann")
    wl.route(task, "ann", to="bob")
    wl.release(task, "bob")
    assert outbox(wl_engine) == []


def test_no_address_means_no_mail_but_the_history_has_it(wl, wl_engine, accounts, task):
    wl.pick(task, "ann")
    wl.route(task, "mia", to="bob")
    sent: list = []
    report = wl_engine.deliver_outbox({"task_reminder": TaskReminderSender(accounts, lambda m, k: sent.append(m))})
    assert report.sent == 1 and sent == []
    assert routed_events(wl_engine, task)[0][2]["assignee"]["from"] == "ann"
