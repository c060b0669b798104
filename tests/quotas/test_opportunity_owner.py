"""`sales/qualify_lead` makes an owner of the opportunity: the `owner` argument, else whoever
completed the step (ctx.user), else nobody."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bpmn_builder import Process, service
from quota_support import NOW
from sqlalchemy import select

import handlers
from crmflow.settings import build_engine
from engine import Engine, HandlerRegistry, ManualClock
from engine.services import ServiceContext
from handlers.errors import DomainError
from handlers.models import Lead, Opportunity
from handlers.sales import leads


def new_lead(eng: Engine, email: str = "ada@example.com") -> int:
    with eng.db.write() as session:
        lead = Lead(email=email, email_normalized=email, last_name="Lovelace", state="Open", status="New",
                    created_at=NOW)
        session.add(lead)
        session.flush()
        return lead.id


def qualify(eng: Engine, lead_id: int, user: str | None, **kwargs: object) -> dict:
    with eng.db.write() as session:
        ctx = ServiceContext(session=session, instance_id=1, process_id="t", business_key=None, element_id="e",
                             task_id="t1", now=NOW, user=user)
        return leads.qualify_lead(ctx, lead_id=lead_id, **kwargs)


def owner_of(eng: Engine, opportunity_id: int) -> str | None:
    with eng.db.read() as session:
        return session.get(Opportunity, opportunity_id).owner


@pytest.mark.parametrize(("user", "kwargs", "expected"), [
    ("ann", {}, "ann"),
    ("ann", {"owner": "bob"}, "bob"),
    ("ann", {"owner": "  "}, "ann"),
    (None, {"owner": " carl "}, "carl"),
    (None, {}, None),
])
def test_owner_is_the_argument_else_the_user(qeng: Engine, user, kwargs, expected) -> None:  # noqa: ANN001
    result = qualify(qeng, new_lead(qeng), user, **kwargs)
    assert result["owner"] == expected
    assert owner_of(qeng, result["opportunity_id"]) == expected


def test_bad_owner_is_refused(qeng: Engine) -> None:
    lead_id = new_lead(qeng)
    with pytest.raises(DomainError, match="opportunity owner must be a user name"):
        qualify(qeng, lead_id, "ann", owner=42)
    with pytest.raises(DomainError, match="longer than 150"):
        qualify(qeng, lead_id, "ann", owner="x" * 151)


@pytest.fixture
def wired(db_url: str, tmp_path) -> Iterator[Engine]:  # noqa: ANN001
    registry = HandlerRegistry()
    handlers.register(registry)
    eng = build_engine(db_url, ManualClock(NOW), registry=registry)
    p = Process("qualify_owned")
    p.node("start", "startEvent").node("review", "userTask", "Qualify lead")
    p.node("qualify", "serviceTask", "Create opportunity", service("sales/qualify_lead", "opp", lead_id="lead_id"))
    p.node("end", "endEvent").chain("start", "review", "qualify", "end")
    eng.deploy([p.write(tmp_path)])
    try:
        yield eng
    finally:
        eng.close()


def test_through_the_engine_the_one_who_completes_the_task_owns_it(wired: Engine) -> None:
    lead_id = new_lead(wired)
    inst = wired.start("qualify_owned", {"lead_id": lead_id}, user="starter")
    wired.complete_task(inst.open_tasks[0].id, "ann", {})
    with wired.db.read() as session:
        opp = session.scalars(select(Opportunity).where(Opportunity.originating_lead_id == lead_id)).one()
    assert opp.owner == "ann"
    assert wired.get_instance(inst.id).data["opp"]["owner"] == "ann"
