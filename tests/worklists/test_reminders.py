"""Overdue and follow-up reminders reach the right people by email, once."""

from __future__ import annotations

from datetime import timedelta

import pytest
from smtp_support import running_smtp

from crmflow.commands.worker import configured_senders
from engine.models import OutboxMessage
from worklists.reminders import TaskReminderSender


@pytest.fixture
def smtp(monkeypatch):
    with running_smtp() as server:
        for key, value in server.env().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("CRMFLOW_BASE_URL", "https://crm.example.test/")
        yield server


@pytest.fixture
def dated(deploy):
    deploy("dated", [("call", "Sales", {"dueDate": '"PT4H"', "followUpDate": '"PT1H"'})])
    return "dated"


def deliver(engine):
    return engine.deliver_outbox(configured_senders(engine))


def test_unpicked_task_reminds_its_groups_then_the_assignee_once(wl_engine, accounts, dated, clock, smtp):
    accounts.set_email("ann", "ann@crm.example.test")
    accounts.set_email("bob", "bob@crm.example.test")
    accounts.set_email("sam", "sam@crm.example.test")  # not in sales: never told
    inst = wl_engine.start("dated", {}, business_key="LEAD-7")
    task_id = inst.open_tasks[0].id

    clock.advance(timedelta(hours=1))
    wl_engine.fire_due_timers()
    assert deliver(wl_engine).sent == 1
    [(rcpt, msg)] = smtp.inbox.received
    assert sorted(rcpt) == ["ann@crm.example.test", "bob@crm.example.test"]
    assert msg["Subject"] == "Follow up: Call (LEAD-7)"
    assert f"https://crm.example.test/tasks/{task_id}" in msg.get_content()

    wl_engine.claim_task(task_id, "bob")
    clock.advance(timedelta(hours=3))
    wl_engine.fire_due_timers()
    deliver(wl_engine)
    clock.advance(timedelta(days=2))
    wl_engine.fire_due_timers()
    assert deliver(wl_engine).sent == 0, "nothing more to send"
    assert len(smtp.inbox.received) == 2
    rcpt, msg = smtp.inbox.received[1]
    assert rcpt == ["bob@crm.example.test"] and msg["Subject"] == "Overdue: Call (LEAD-7)"
    assert "Assigned to: bob" in msg.get_content()


def test_nobody_with_an_address_means_no_mail_but_the_reminder_is_done(wl_engine, accounts, dated, clock, smtp):
    wl_engine.start("dated", {})
    clock.advance(timedelta(hours=5))
    assert len(wl_engine.fire_due_timers()) == 2
    assert deliver(wl_engine).sent == 2
    assert smtp.inbox.received == []
    with wl_engine.db.read() as session:
        assert {m.state for m in session.query(OutboxMessage)} == {"sent"}


def test_without_smtp_reminders_wait_in_the_outbox(wl_engine, accounts, dated, clock, monkeypatch):
    monkeypatch.delenv("CRMFLOW_SMTP_HOST", raising=False)
    assert configured_senders(wl_engine) == {}
    wl_engine.start("dated", {})
    clock.advance(timedelta(hours=5))
    wl_engine.fire_due_timers()
    with wl_engine.db.read() as session:
        assert [m.state for m in session.query(OutboxMessage)] == ["pending", "pending"]


def test_candidate_users_are_told_and_inactive_users_are_not(wl_engine, accounts):
    accounts.set_email("ann", "ann@crm.example.test")
    accounts.set_email("carl", "carl@crm.example.test")
    accounts.set_active("ann", False)
    sender = TaskReminderSender(accounts, lambda payload, key: None)
    assert sender.recipients({"candidate_groups": ["sales", "user:carl"]}) == ["carl@crm.example.test"]


def test_a_bad_address_is_refused_naming_it(accounts):
    from engine import InvalidInput

    with pytest.raises(InvalidInput, match="not-an-address"):
        accounts.set_email("ann", "not-an-address")
    assert accounts.set_email("ann", " ann@crm.example.test ").email == "ann@crm.example.test"
    assert accounts.set_email("ann", None).email is None
