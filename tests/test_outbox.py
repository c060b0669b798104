"""Side effects written with the step, delivered after commit, once per key."""

from __future__ import annotations

from datetime import timedelta

from bpmn_builder import Process, service
from sqlalchemy import select

from engine.models import OutboxMessage


def notify_process() -> Process:
    p = Process("notify")
    p.node("start", "startEvent")
    p.node("mail", "serviceTask", "Send welcome", service("mail/welcome", "sent", to="email"))
    p.node("end", "endEvent")
    return p.chain("start", "mail", "end")


def test_send_is_delivered_once_after_commit_and_redelivered_with_the_same_key(engine, registry, tmp_path):
    registry.register("mail/welcome", lambda ctx, to: {"key": ctx.send("email", {"to": to, "subject": "Hi"})})
    engine.deploy([notify_process().write(tmp_path)])
    inst = engine.start("notify", {"email": "ann@example.com"})
    key = inst.data["sent"]["key"]

    delivered: list[tuple[dict, str]] = []

    def crash_after_sending(payload, k):
        delivered.append((payload, k))
        raise ConnectionResetError("connection lost before the server's reply")

    report = engine.deliver_outbox({"email": crash_after_sending})
    assert report.failed == 1
    engine.clock.advance(timedelta(minutes=5))
    report = engine.deliver_outbox({"email": lambda payload, k: delivered.append((payload, k))})
    assert report.sent == 1
    assert [k for _, k in delivered] == [key, key], "a redelivery carries the same key"
    assert engine.deliver_outbox({"email": lambda *a: delivered.append(a)}).sent == 0


def test_a_failed_step_leaves_no_message_and_its_retry_sends_one(engine, registry, tmp_path):
    calls = []

    def flaky(ctx, to):
        ctx.send("email", {"to": to})
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("template service down")
        return {}

    registry.register("mail/welcome", flaky)
    engine.deploy([notify_process().write(tmp_path)])
    inst = engine.start("notify", {"email": "bo@example.com"})
    with engine.db.read() as session:
        assert session.scalars(select(OutboxMessage)).all() == []
    engine.retry_incident(inst.incidents[0].id)
    with engine.db.read() as session:
        rows = session.scalars(select(OutboxMessage)).all()
    assert [(r.channel, r.payload["to"], r.state) for r in rows] == [("email", "bo@example.com", "pending")]
