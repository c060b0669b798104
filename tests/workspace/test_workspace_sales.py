"""Issue 18's sales items: a quote is emailed to the customer (HTML and text, through the outbox)
when lead to invoice says "Send quote", and an opportunity lost to a competitor records who won."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from workspace_world import NORTHWIND_EMAIL, WorkspaceWorld

from handlers import catalog
from handlers.models import Activity, OpportunityClose
from worklists.forms import FormInvalid

LINES = [{"product_number": "CRM-PRO", "quantity": 10}, {"product_number": "CRM-ONB", "quantity": 1}]


def work_opportunity(world: WorkspaceWorld, instance_id: int, **data: Any) -> Any:
    task = next(t for t in world.engine.list_tasks(instance_id=instance_id) if t.element_id == "work_opportunity")
    if task.assignee != "ann":
        world.worklist.pick(task.id, "ann")
    return world.worklist.complete(task.id, "ann", data)


def test_send_quote_emails_the_quote_to_the_customer(world: WorkspaceWorld) -> None:
    work_opportunity(world, world.lead_instance, outcome="quote", quote_lines=LINES, discount_percent=0, tax_rate=20)
    sent: list[dict[str, Any]] = []
    world.engine.deliver_outbox({"email": lambda payload, key: sent.append(payload)})
    quotes = [m for m in sent if m["subject"].startswith("Your quote")]
    assert len(quotes) == 1, sent
    mail = quotes[0]
    assert mail["to"] == NORTHWIND_EMAIL
    assert "crmflow Professional" in mail["html"] and "<table" in mail["html"]
    assert "total" in mail["body"] and "valid until" in mail["body"]
    with world.engine.db.read() as session:
        logged = session.scalars(select(Activity).where(Activity.subject.like("Quote % sent"))).all()
        assert [(a.state, a.status, a.details["to"]) for a in logged] == [("Completed", "Sent", NORTHWIND_EMAIL)]


def test_an_opportunity_lost_to_a_competitor_records_who_won(world: WorkspaceWorld) -> None:
    with world.engine.db.write() as session:
        rival = catalog.add_competitor(session, world.engine.now(), "Fabrikam CRM").id
    inquiry = {"email": "ola@wingtip.example", "company_name": "Wingtip Toys", "topic": "CRM", "lead_source": "Web"}
    inst = world.engine.start("lead_to_invoice", {"inquiry": inquiry}, business_key="WT-1", user="web")
    qualify = next(t for t in world.engine.list_tasks(instance_id=inst.id) if t.element_id == "qualify_task")
    world.worklist.pick(qualify.id, "ann")
    world.worklist.complete(qualify.id, "ann", {"decision": "qualify", "price_list_id": world.price_list_id})
    with pytest.raises(FormInvalid) as refused:
        work_opportunity(world, inst.id, outcome="lost", lost_reason="Out-Sold")
    assert "competitor_id" in str(refused.value)
    work_opportunity(world, inst.id, outcome="lost", lost_reason="Out-Sold", competitor_id=rival,
                     lost_description="cheaper")
    with world.engine.db.read() as session:
        close = session.scalars(select(OpportunityClose).order_by(OpportunityClose.id.desc())).first()
        assert (close.outcome, close.status, close.competitor_id) == ("Lost", "Out-Sold", rival)
    assert "Fabrikam CRM" in {o.label for o in world.worklist.forms.lookups["competitors"].options()}
