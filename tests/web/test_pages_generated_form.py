"""The task page shows a Camunda generated form (camunda:formData) and checks what is sent against
it (issue 22 item 8)."""

from __future__ import annotations

import re
from pathlib import Path

from test_pages import post, text_of

OFFER = Path(__file__).parents[1] / "diagrams" / "camunda" / "offer_review.bpmn"


def test_task_page_shows_and_checks_the_generated_form(login, web_engine, worklist):
    web_engine.deploy([OFFER])
    iid = web_engine.start("Process_offer_review", {"owner": "ann", "followUp": None}).id
    [task] = web_engine.list_tasks(instance_id=iid)
    ann = login("ann")
    page = ann.get(f"/tasks/{task.id}").text
    assert 'id="f-amount"' in page and 'id="f-channel"' in page
    assert "Amount" in text_of(page) and "Channel" in text_of(page)
    bad = post(ann, f"/tasks/{task.id}/complete", {"amount": "0", "channel": "mail"}, page=f"/tasks/{task.id}")
    assert bad.status_code == 422
    assert re.search(r'id="f-amount-err">Amount must be ≥ 1<', bad.text)
    good = post(ann, f"/tasks/{task.id}/complete", {"amount": "250", "channel": "phone"}, page=f"/tasks/{task.id}")
    assert good.status_code == 303
    assert web_engine.get_instance(iid).data["amount"] == 250
