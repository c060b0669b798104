"""Issue 23 item 1 and 2 over HTTP: while one client submits a template bomb and huge durations
through the real API (uvicorn on a free port), a second client's requests are answered.

Bound: each of the second client's requests answers within 2 s (generous: the machine running
the suite is shared and noisy; before the limits one template froze the server for 72 s).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
from bpmn_builder import Process, props, timer_duration
from browser_support import serve
from crm_timers_support import seed_marketing

from crmflow.settings import build_engine, build_worklist
from crmflow.web.app import create_app
from worklists.auth import Accounts

PROCESSES = Path(__file__).resolve().parent.parent / "processes"
POW_BOMB = "{{ (7**(6*10**7)) > 1 }}"  # refused by the size guards at once
LOOP_BOMB = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"  # a child
BOUND_SECONDS = 2.0


def _diagrams(folder: Path) -> list[Path]:
    """An analyst's two diagrams whose durations come from the start data."""
    timer = Process("long_wait")
    timer.node("start", "startEvent").node("wait", "intermediateCatchEvent", "Wait",
                                           timer_duration('"P" + str(years) + "Y"'))
    timer.node("end", "endEvent").chain("start", "wait", "end")
    due = Process("long_due")
    due.node("start", "startEvent").node("work", "userTask", "Work", props(dueDate="due"))
    due.node("end", "endEvent").chain("start", "work", "end")
    return [timer.write(folder), due.write(folder)]


def test_a_second_client_is_answered_while_template_and_duration_bombs_are_submitted(
        db_url, clock, tmp_path, monkeypatch):
    monkeypatch.setenv("CRMFLOW_SANDBOX_CPU_SECONDS", "1")
    monkeypatch.setenv("CRMFLOW_SANDBOX_MEMORY_MB", "128")
    monkeypatch.setenv("CRMFLOW_SANDBOX_WALL_SECONDS", "4")
    list_id = seed_marketing(db_url, clock)
    eng = build_engine(db_url, clock)
    eng.deploy([PROCESSES / "quick_campaign.bpmn"])
    eng.deploy(_diagrams(tmp_path), force=True)  # the run-time bound is what is tested here
    accounts = Accounts(eng)
    _, mia = accounts.add_user("mia", ["marketing", "admin"], token_label="attacker")
    _, ann = accounts.add_user("ann", ["sales"], token_label="bystander")
    app = create_app(eng, build_worklist(eng), with_pages=False)

    answers: dict[str, Any] = {}
    done = threading.Event()
    try:
        with serve(app) as base:
            attacker = httpx.Client(base_url=f"{base}/api/v1", timeout=60,
                                    headers={"Authorization": f"Bearer {mia.token}"})
            bystander = httpx.Client(base_url=f"{base}/api/v1", timeout=60,
                                     headers={"Authorization": f"Bearer {ann.token}"})

            def campaign(subject: str, body: str | None) -> httpx.Response:
                started = attacker.post("/instances", json={"process_id": "quick_campaign"})
                assert started.status_code == 201, started.text
                [task] = started.json()["open_tasks"]
                picked = attacker.post(f"/tasks/{task['id']}/pick")
                assert picked.status_code == 200, picked.text
                form = {"list_id": list_id, "channel": "email", "subject": subject, "body": body,
                        "response_window_days": 3}
                return attacker.post(f"/tasks/{task['id']}/complete", json={"data": form})

            def attack() -> None:
                try:
                    answers["campaign"] = campaign(POW_BOMB, None)
                    answers["loop"] = campaign("Hello {{ member.first_name }}", LOOP_BOMB)
                    answers["timer"] = attacker.post("/instances", json={"process_id": "long_wait",
                                                                         "data": {"years": 99999999}})
                    answers["due"] = attacker.post("/instances", json={"process_id": "long_due",
                                                                       "data": {"due": "P99999999Y"}})
                finally:
                    done.set()

            thread = threading.Thread(target=attack)
            thread.start()
            slowest, asked = 0.0, 0
            while not done.is_set():
                began = time.monotonic()
                reply = bystander.get("/tasks")
                slowest = max(slowest, time.monotonic() - began)
                asked += 1
                assert reply.status_code == 200, reply.text
                time.sleep(0.02)
            thread.join(60)
            assert not thread.is_alive()
            attacker.close()
            bystander.close()
    finally:
        eng.close()

    assert asked >= 1 and slowest < BOUND_SECONDS, f"the second client waited {slowest:.2f} s ({asked} requests)"
    campaign = answers["campaign"]
    print(f"second client: {asked} requests, slowest {slowest:.2f} s")
    assert campaign.status_code == 200 and campaign.json()["status"] == "incident", campaign.text
    assert "'**' result is too large" in campaign.json()["incidents"][0]["message"]
    loop = answers["loop"]
    assert loop.status_code == 200 and loop.json()["status"] == "incident", loop.text
    assert "limit" in loop.json()["incidents"][0]["message"], loop.text
    timer = answers["timer"]
    assert timer.status_code == 201 and timer.json()["status"] == "incident", timer.text
    assert "longer than the limit of 100 years" in timer.text
    due = answers["due"]
    assert due.status_code == 201 and due.json()["status"] == "waiting", due.text
    assert [t["due_at"] for t in due.json()["open_tasks"]] == [None], due.text
