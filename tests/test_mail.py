"""Emails queued by handlers reach a real SMTP server (aiosmtpd on localhost) through the
outbox, once per key, with the key as Message-ID so a redelivery is recognisable."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from bpmn_builder import Process, service
from smtp_support import SmtpServer, running_smtp
from sqlalchemy import select

import handlers
from crmflow.mail import SmtpSender, message_id, senders_from_env
from engine.models import OutboxMessage
from handlers import lifecycle as lc
from handlers.models import Contact, MarketingList, MarketingListMember


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with running_smtp() as server:
        yield server


@pytest.fixture
def crm_engine(make_engine, registry):  # noqa: ANN001, ANN201
    handlers.register(registry)
    return make_engine(migrations=[handlers.MIGRATIONS])


def seed_list(engine) -> int:  # noqa: ANN001
    """A static list of three contacts, one of them unsubscribed."""
    now = engine.clock.now()
    with engine.db.write() as session:
        ids = []
        for first, last, unsubscribed in (("Ada", "Lovelace", False), ("Bob", "Brown", False), ("Olga", "Out", True)):
            email = f"{first.lower()}@example.com"
            contact = Contact(first_name=first, last_name=last, email=email, email_normalized=email,
                              birthdate=date(1990, 1, 1), region="EU", unsubscribed=unsubscribed)
            lc.CONTACT.start(contact, now)
            session.add(contact)
            session.flush()
            ids.append(contact.id)
        mlist = MarketingList(name="Newsletter", member_type="contact", dynamic=False, locked=False)
        lc.MARKETING_LIST.start(mlist, now)
        session.add(mlist)
        session.flush()
        session.add_all(MarketingListMember(list_id=mlist.id, member_id=i, added_at=now) for i in ids)
        return mlist.id


def quick_campaign_process() -> Process:
    p = Process("quick_mail", "Quick campaign")
    p.node("start", "startEvent")
    p.node("send", "serviceTask", "Run quick campaign", service(
        "marketing/quick_campaign", "campaign", list_id="list_id", channel='"email"',
        subject='"{{ member.first_name }}, our spring offer"'))
    p.node("end", "endEvent")
    return p.chain("start", "send", "end")


def run_quick_campaign(engine, tmp_path) -> dict[str, Any]:  # noqa: ANN001
    list_id = seed_list(engine)
    engine.deploy([quick_campaign_process().write(tmp_path)])
    inst = engine.start("quick_mail", {"list_id": list_id})
    assert inst.status == "completed", inst.incidents
    return inst.data["campaign"]


def test_campaign_emails_arrive_over_smtp_with_their_key_as_message_id(crm_engine, smtp_server, tmp_path) -> None:  # noqa: ANN001
    campaign = run_quick_campaign(crm_engine, tmp_path)
    assert (campaign["sent"], campaign["skipped_unsubscribed"]) == (2, 1)
    assert smtp_server.inbox.received == []  # nothing leaves before delivery

    report = crm_engine.deliver_outbox(senders_from_env(smtp_server.env()))
    assert (report.sent, report.failed, report.errors) == (2, 0, [])

    with crm_engine.db.read() as session:
        keys = {row.payload["to"]: row.idempotency_key for row in session.scalars(select(OutboxMessage))}
    got = {msg["To"]: (rcpt, msg) for rcpt, msg in smtp_server.inbox.received}
    assert sorted(got) == ["ada@example.com", "bob@example.com"]
    rcpt, ada = got["ada@example.com"]
    assert rcpt == ["ada@example.com"]
    assert ada["Subject"] == "Ada, our spring offer"
    assert ada["From"] == "marketing@crmflow.test"
    assert ada["Message-ID"] == f"<{keys['ada@example.com']}@crmflow>"
    assert keys["ada@example.com"] == f"campaign-activity-{campaign['campaign_activity_id']}.contact-1"
    assert "Hello Ada," in ada.get_content()
    assert got["bob@example.com"][1]["Message-ID"] == f"<{keys['bob@example.com']}@crmflow>"

    assert crm_engine.deliver_outbox(senders_from_env(smtp_server.env())).sent == 0  # sent once


def test_crash_after_sending_redelivers_the_same_message_id(crm_engine, smtp_server, tmp_path) -> None:  # noqa: ANN001
    seed = seed_list(crm_engine)
    with crm_engine.db.write() as session:  # only Ada on the list, for one message
        session.query(MarketingListMember).filter(MarketingListMember.list_id == seed,
                                                  MarketingListMember.member_id != 1).delete()
    crm_engine.deploy([quick_campaign_process().write(tmp_path)])
    assert crm_engine.start("quick_mail", {"list_id": seed}).data["campaign"]["sent"] == 1
    smtp = senders_from_env(smtp_server.env())["email"]

    def send_then_crash(payload: dict[str, Any], key: str) -> None:
        smtp(payload, key)  # the server has it...
        raise ConnectionResetError("worker died before marking the row sent")  # ...the row does not know

    report = crm_engine.deliver_outbox({"email": send_then_crash})
    assert (report.sent, report.failed) == (0, 1)
    assert len(smtp_server.inbox.received) == 1
    assert crm_engine.deliver_outbox({"email": smtp}).sent == 0  # backing off, not yet due

    crm_engine.clock.advance(timedelta(minutes=1))
    assert crm_engine.deliver_outbox({"email": smtp}).sent == 1
    crm_engine.clock.advance(timedelta(hours=1))
    assert crm_engine.deliver_outbox({"email": smtp}).sent == 0

    ids = smtp_server.inbox.ids()
    assert len(ids) == 2 and len(set(ids)) == 1, ids  # at most two copies, recognisably one message
    with crm_engine.db.read() as session:
        row = session.scalars(select(OutboxMessage)).one()
        assert (row.state, row.attempts, ids[0]) == ("sent", 2, f"<{row.idempotency_key}@crmflow>")


def test_a_refused_recipient_keeps_the_message_pending(crm_engine, smtp_server, tmp_path) -> None:  # noqa: ANN001
    smtp_server.inbox.refuse.add("bob@example.com")
    run_quick_campaign(crm_engine, tmp_path)
    report = crm_engine.deliver_outbox(senders_from_env(smtp_server.env()))
    assert (report.sent, report.failed) == (1, 1)
    assert "SMTPRecipientsRefused" in report.errors[0]
    with crm_engine.db.read() as session:
        states = {r.payload["to"]: r.state for r in session.scalars(select(OutboxMessage))}
    assert states == {"ada@example.com": "sent", "bob@example.com": "pending"}


def test_sender_sends_html_alternative_several_recipients_and_escapes_engine_keys(smtp_server) -> None:  # noqa: ANN001
    sender = SmtpSender(smtp_server.host, smtp_server.port, "crm@crmflow.test", timeout=5)
    sender({"to": ["a@example.com", "b@example.com"], "subject": "Multi\nline", "body": "plain",
            "html": "<p>rich</p>", "reply_to": "help@crmflow.test"}, "7:task-3:1")
    [(rcpt, msg)] = smtp_server.inbox.received
    assert rcpt == ["a@example.com", "b@example.com"]
    assert (msg["Subject"], msg["Reply-To"], msg["Message-ID"]) == ("Multi line", "help@crmflow.test",
                                                                    "<7%3Atask-3%3A1@crmflow>")
    assert msg.get_body(("plain",)).get_content().strip() == "plain"
    assert msg.get_body(("html",)).get_content().strip() == "<p>rich</p>"
    with pytest.raises(ValueError, match="needs a recipient address"):
        sender({"subject": "x"}, "k")


def test_message_ids_are_valid_and_distinct_per_key() -> None:
    assert message_id("campaign-activity-1.contact-2") == "<campaign-activity-1.contact-2@crmflow>"
    assert message_id("1:2:3") != message_id("1%3A2%3A3")
    assert message_id(".a..b.") == "<%2Ea.%2Eb%2E@crmflow>"


def test_senders_from_env() -> None:
    assert senders_from_env({}) == {}
    assert senders_from_env({"CRMFLOW_SMTP_HOST": "  "}) == {}
    sender = senders_from_env({"CRMFLOW_SMTP_HOST": "mail.example.com", "CRMFLOW_SMTP_PORT": "2525",
                               "CRMFLOW_MAIL_FROM": "crm@example.com"})["email"]
    assert (sender.host, sender.port, sender.sender_address, sender.starttls) == (
        "mail.example.com", 2525, "crm@example.com", False)
    assert senders_from_env({"CRMFLOW_SMTP_HOST": "h"})["email"].port == 25
    with pytest.raises(ValueError, match="CRMFLOW_SMTP_PORT must be a port number"):
        senders_from_env({"CRMFLOW_SMTP_HOST": "h", "CRMFLOW_SMTP_PORT": "smtp"})
    with pytest.raises(ValueError, match="from 1 to 65535"):
        senders_from_env({"CRMFLOW_SMTP_HOST": "h", "CRMFLOW_SMTP_PORT": "0"})
