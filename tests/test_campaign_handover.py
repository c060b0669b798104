"""A converted campaign response reaches sales by message: lead-to-invoice runs for it."""

from __future__ import annotations

from crmflow import demo


def test_campaign_lead_message_starts_lead_to_invoice_for_that_lead(db_url: str) -> None:
    lines: list[str] = []
    demo.run(db_url, echo=lines.append)
    text = "\n".join(lines)
    assert "business key LEAD-1: the campaign handed this lead to sales" in text
    assert "instance 2 (LEAD-1) is completed" in text
    assert "INCIDENT" not in text

    from crmflow.settings import build_engine

    eng = build_engine(db_url)
    try:
        [handover] = eng.list_instances(process_id="campaign_handover")
        assert handover.business_key == "LEAD-1" and handover.status == "completed"
        history = eng.history(handover.id)
        path = [h.element_id for h in history if h.event == "completed"]
        for element in ("lead_handed_over", "prepare_inquiry", "qualify_task", "record_payment", "sell"):
            assert element in path, element
        campaign = eng.list_instances(process_id="campaign_execution")[0]
        assert not [h for h in eng.history(campaign.id) if h.event == "message_unhandled"]
    finally:
        eng.close()
