"""'Where instances wait' links each element's waiting instances to the console's instance search
(issue 16), which lists exactly the instances waiting there."""

from __future__ import annotations

import html as html_lib
import re

from dashboards_support import Demo, section
from fastapi.testclient import TestClient

from handlers import reports


def test_waiting_now_links_to_the_instances_waiting_there(filled: Demo, manager: TestClient) -> None:
    for key in ("W-1", "W-2"):
        inquiry = {"email": f"{key}@example.com", "company_name": key, "topic": "CRM", "lead_source": "Web",
                   "budget": 50000}
        filled.engine.start("lead_to_invoice", {"inquiry": inquiry}, business_key=key)
    with filled.engine.db.read() as session:
        rows = [r for r in reports.run(session, "waits", filled.engine.now())["rows"] if r["waiting_now"]]
    assert rows, "the demo has instances waiting somewhere"
    part = section(manager.get("/dashboards/process").text, "waits")
    links = [html_lib.unescape(h) for h in re.findall(r'href="(/console/instances\?[^"]+)"', part)]
    row = rows[0]
    wanted = f"/console/instances?process={row['process_id']}&element={row['element_id']}"
    assert wanted in links, links[:5]
    page = manager.get(wanted)
    assert page.status_code == 200
    found = re.search(r'<span class="hint">(\d+) match', page.text)
    tasks = filled.engine.list_tasks(process_id=row["process_id"], limit=10_000)
    waiting = {t.instance_id for t in tasks if t.element_id == row["element_id"]}
    assert found and int(found.group(1)) == len(waiting) >= 2, (found and found.group(0), row)
