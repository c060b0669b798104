"""Task routes: views, detail with form and permissions, pick/release/route/complete/comment,
bulk operations, queue counts — and each refusal, with the thing at fault named."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from api_support import Auth
from fastapi.testclient import TestClient

from engine import Engine

PROBLEM = "application/problem+json"


def assert_problem(resp, status: int, kind: str, *words: str) -> dict:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["status"] == status
    assert body["type"].endswith("/" + kind)
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


def ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [item["id"] for item in resp.json()["items"]]


# -- views -----------------------------------------------------------------------------------
def test_views_show_each_agent_their_work(client: TestClient, auth: Auth, start_deal: Callable[..., str]) -> None:
    task = start_deal("D-1")
    assert ids(client.get("/api/v1/tasks", headers=auth("ann"))) == []  # mine: nothing picked yet
    assert ids(client.get("/api/v1/tasks?view=available", headers=auth("ann"))) == [task]
    assert ids(client.get("/api/v1/tasks?view=available", headers=auth("sam"))) == []  # service agent
    assert ids(client.get("/api/v1/tasks?view=queue&queue=sales", headers=auth("bob"))) == [task]
    assert ids(client.get("/api/v1/tasks?queue=sales", headers=auth("mia"))) == [task]  # supervisor; view implied
    item = client.get("/api/v1/tasks?view=available", headers=auth("ann")).json()["items"][0]
    assert (item["queue"], item["business_key"], item["priority"], item["assignee"]) == ("sales", "D-1", 3, None)
    assert item["due_at"].startswith("2026-01-07T09:00:00")

    client.post(f"/api/v1/tasks/{task}/pick", headers=auth("ann"))
    assert ids(client.get("/api/v1/tasks?view=mine", headers=auth("ann"))) == [task]
    assert ids(client.get("/api/v1/tasks?view=available", headers=auth("bob"))) == []


def test_view_refusals_name_the_parameter(client: TestClient, auth: Auth, start_deal: Callable[..., str]) -> None:
    start_deal()
    body = assert_problem(client.get("/api/v1/tasks?view=queue", headers=auth("ann")), 422, "invalid-input", "queue")
    assert "view=queue needs a queue" in body["detail"]
    assert_problem(client.get("/api/v1/tasks?view=mine&queue=sales", headers=auth("ann")), 422, "invalid-input",
                   "queue: only used with view=queue")
    assert_problem(client.get("/api/v1/tasks?view=queue&queue=sales", headers=auth("sam")), 403, "forbidden",
                   "sam", "'sales'")
    body = assert_problem(client.get("/api/v1/tasks?sort=colour", headers=auth("ann")), 422, "invalid-input")
    assert body["errors"][0]["field"] == "sort"
    body = assert_problem(client.get("/api/v1/tasks?limit=0", headers=auth("ann")), 422, "invalid-input")
    assert body["errors"] == [{"field": "limit", "message": "Input should be greater than or equal to 1"}]
    assert_problem(client.get("/api/v1/tasks?due_before=tomorrow", headers=auth("ann")), 422, "invalid-input",
                   "due_before")
    assert_problem(client.get("/api/v1/tasks?view=everything", headers=auth("ann")), 422, "invalid-input", "view")


def test_filters_and_sorting(client: TestClient, auth: Auth, start_deal: Callable[..., str], clock) -> None:
    low = start_deal("D-LOW", prio=1, due="P5D", customer="Initech")
    clock.advance(timedelta(minutes=1))  # older first when sorted by age
    high = start_deal("D-HIGH", prio=9, due="P1D", customer="Globex")
    url = "/api/v1/tasks?view=available"
    assert ids(client.get(url, headers=auth("ann"))) == [high, low]  # due first
    assert ids(client.get(url + "&sort=age", headers=auth("ann"))) == [low, high]
    assert ids(client.get(url + "&sort=priority", headers=auth("ann"))) == [low, high], "priority 1 is the most urgent"
    assert ids(client.get(url + "&key=D-LOW", headers=auth("ann"))) == [low]
    assert ids(client.get(url + "&q=high", headers=auth("ann"))) == [high]
    assert ids(client.get(url + "&priority=high", headers=auth("ann"))) == [low], "at least High: priority 1"
    assert ids(client.get(url + "&priority=9", headers=auth("ann"))) == [high, low]
    assert_problem(client.get(url + "&priority=urgent", headers=auth("ann")), 422, "invalid-input", "priority")
    assert ids(client.get(url + "&process=nope", headers=auth("ann"))) == []
    assert ids(client.get(url + "&due_before=2026-01-07T00:00:00Z", headers=auth("ann"))) == [high]
    assert ids(client.get(url + "&due_before=2026-01-06", headers=auth("ann"))) == []
    assert client.get(url + "&total=true", headers=auth("ann")).json()["total"] == 2


def test_cursor_pagination_walks_every_item_once(
    client: TestClient, auth: Auth, start_deal: Callable[..., str]
) -> None:
    started = {start_deal(f"D-{i}", due=f"P{i + 1}D") for i in range(5)}
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"view": "available", "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/tasks", params=params, headers=auth("ann")).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5 and set(seen) == started


@pytest.mark.parametrize("cursor", ["not-a-cursor", "eyJzIjoiZHVlIiwicCI6MCwidiI6W3siYSI6MX0sMSwxXX0",
                                    "eyJzIjoiZHVlIiwicCI6MCwidiI6WyJub3QgYSB0aW1lIiwxLDFdfQ",
                                    "eyJzIjoiZHVlIiwicCI6NSwidiI6W119"])
def test_tampered_cursor_is_a_422_naming_the_cursor(
    client: TestClient, auth: Auth, start_deal: Callable[..., str], cursor: str
) -> None:
    start_deal()
    body = assert_problem(client.get(f"/api/v1/tasks?view=available&cursor={cursor}", headers=auth("ann")),
                          422, "invalid-input")
    assert "cursor" in body["detail"]


def test_queue_counts(client: TestClient, auth: Auth, start_deal: Callable[..., str]) -> None:
    start_deal("D-1")
    picked = start_deal("D-2")
    client.post(f"/api/v1/tasks/{picked}/pick", headers=auth("bob"))
    counts = client.get("/api/v1/queues", headers=auth("ann")).json()
    sales = next(q for q in counts["queues"] if q["queue"] == "sales")
    assert (counts["mine"], sales["open"], sales["unpicked"], sales["available_to_me"]) == (0, 2, 1, 1)
    assert client.get("/api/v1/queues", headers=auth("bob")).json()["mine"] == 1


# -- one task ------------------------------------------------------------------------------
def test_task_detail_has_rendered_form_and_permissions(
    client: TestClient, auth: Auth, start_deal: Callable[..., str]
) -> None:
    task = start_deal(customer="Umbrella")
    body = client.get(f"/api/v1/tasks/{task}", headers=auth("ann")).json()
    assert body["task"]["id"] == task
    assert body["permissions"] == {"view": True, "pick": True, "release": False, "route": True,
                                   "complete": False, "comment": True}
    assert body["form"]["title"] == "Discount for Umbrella"
    assert body["form"]["values"]["discount_percent"] == 5
    assert body["form"]["instructions"] == "Call Umbrella about pricing"
    assert body["form_error"] is None
    client.post(f"/api/v1/tasks/{task}/pick", headers=auth("ann"))
    assert client.get(f"/api/v1/tasks/{task}", headers=auth("ann")).json()["permissions"]["complete"] is True
    assert client.get(f"/api/v1/tasks/{task}", headers=auth("bob")).json()["permissions"]["complete"] is False


def test_task_detail_refusals(client: TestClient, auth: Auth, start_deal: Callable[..., str]) -> None:
    task = start_deal()
    assert_problem(client.get(f"/api/v1/tasks/{task}", headers=auth("sam")), 403, "forbidden", "sam", task)
    assert_problem(client.get("/api/v1/tasks/no-such-task", headers=auth("ann")), 404, "not-found", "no-such-task")


def test_missing_form_file_still_shows_the_task(
    client: TestClient, auth: Auth, api_engine: Engine, tmp_path, worklist
) -> None:
    from worklist_support import lane_process

    path = tmp_path / "noform.bpmn"
    path.write_text(lane_process("noform", [("ask", "Sales", {"formJsonSchemaFilename": "missing.json"})]))
    api_engine.deploy([path], force=True)  # a missing form on purpose
    task = api_engine.start("noform").open_tasks[0].id
    body = client.get(f"/api/v1/tasks/{task}", headers=auth("ann")).json()
    assert body["form"] is None and "missing.json" in body["form_error"]


# -- pick and release ------------------------------------------------------------------------
def test_pick_then_the_second_agent_is_told_who_has_it(
    client: TestClient, auth: Auth, start_deal: Callable[..., str]
) -> None:
    task = start_deal()
    resp = client.post(f"/api/v1/tasks/{task}/pick", headers=auth("ann"))
    assert resp.status_code == 200 and resp.json()["assignee"] == "ann"
    assert_problem(client.post(f"/api/v1/tasks/{task}/pick", headers=auth("bob")), 409, "conflict",
                   "already picked by ann")
    assert client.post(f"/api/v1/tasks/{task}/pick", headers=auth("ann")).json()["assignee"] == "ann"  # no-op


def test_pick_refusals(client: TestClient, auth: Auth, start_deal: Callable[..., str]) -> None:
    task = start_deal()
    assert_problem(client.post(f"/api/v1/tasks/{task}/pick", headers=auth("sam")), 403, "forbidden",
                   "sam may not pick", "sales")
    assert_problem(client.post("/api/v1/tasks/nope/pick", headers=auth("ann")), 404, "not-found", "nope")


def test_release_by_assignee_or_supervisor_only(
    client: TestClient, auth: Auth, start_deal: Callable[..., str]
) -> None:
    task = start_deal()
    assert_problem(client.post(f"/api/v1/tasks/{task}/release", headers=auth("ann")), 409, "conflict",
                   "not picked by anyone")
    client.post(f"/api/v1/tasks/{task}/pick", headers=auth("ann"))
    assert_problem(client.post(f"/api/v1/tasks/{task}/release", headers=auth("bob")), 403, "forbidden",
                   "picked by ann")
    resp = client.post(f"/api/v1/tasks/{task}/release", headers=auth("mia"))  # supervisor of sales
    assert resp.status_code == 200 and resp.json()["assignee"] is None
    client.post(f"/api/v1/tasks/{task}/pick", headers=auth("bob"))
    assert client.post(f"/api/v1/tasks/{task}/release", headers=auth("bob")).json()["assignee"] is None


# -- route -----------------------------------------------------------------------------------
def test_route_to_queue_and_person(client: TestClient, auth: Auth, start_deal: Callable[..., str]) -> None:
    task = start_deal()
    resp = client.post(f"/api/v1/tasks/{task}/route", json={"to": "bob"}, headers=auth("ann"))
    assert resp.status_code == 200 and resp.json()["assignee"] == "bob"
    resp = client.post(f"/api/v1/tasks/{task}/route", json={"queue": "billing"}, headers=auth("bob"))
    assert resp.status_code == 200
    assert (resp.json()["queue"], resp.json()["assignee"]) == ("billing", None)
    assert ids(client.get("/api/v1/tasks?view=available", headers=auth("carl"))) == [task]


def test_route_refusals(client: TestClient, auth: Auth, start_deal: Callable[..., str]) -> None:
    task = start_deal()
    url = f"/api/v1/tasks/{task}/route"
    assert_problem(client.post(url, json={}, headers=auth("ann")), 422, "invalid-input", "queue")
    body = assert_problem(client.post(url, json={"queue": "moon"}, headers=auth("ann")), 422, "invalid-input",
                          "unknown queue 'moon'")
    assert body["detail"].startswith("queue:")
    assert_problem(client.post(url, json={"to": "sam"}, headers=auth("ann")), 403, "forbidden", "sam cannot work")
    assert_problem(client.post(url, json={"to": "ghost"}, headers=auth("ann")), 422, "invalid-input", "ghost")
    assert_problem(client.post(url, json={"queue": "billing"}, headers=auth("carl")), 403, "forbidden", "carl")
    body = assert_problem(client.post(url, json={"queue": 7}, headers=auth("ann")), 422, "invalid-input")
    assert body["errors"][0]["field"] == "queue"


# -- complete --------------------------------------------------------------------------------
def test_complete_validates_the_form_and_advances(
    client: TestClient, auth: Auth, start_deal: Callable[..., str], api_engine: Engine
) -> None:
    task = start_deal()
    url = f"/api/v1/tasks/{task}/complete"
    assert_problem(client.post(url, json={"data": {"decision": "approve"}}, headers=auth("ann")), 403, "forbidden",
                   "must be picked")
    client.post(f"/api/v1/tasks/{task}/pick", headers=auth("ann"))
    assert_problem(client.post(url, json={"data": {"decision": "approve"}}, headers=auth("bob")), 403, "forbidden",
                   "picked by ann")
    body = assert_problem(
        client.post(url, json={"data": {"decision": "maybe", "discount_percent": 80}}, headers=auth("ann")),
        422, "form-invalid", "decision", "discount_percent",
    )
    assert {"field": "decision", "message": 'must be one of "approve", "reject"'} in body["errors"]
    assert {"field": "discount_percent", "message": "must be ≤ 50"} in body["errors"]
    body = assert_problem(client.post(url, json={"data": {}}, headers=auth("ann")), 422, "form-invalid")
    assert body["errors"] == [{"field": "decision", "message": "is required"}]

    resp = client.post(url, json={"data": {"decision": "approve"}}, headers=auth("ann"))
    assert resp.status_code == 200, resp.text
    instance = resp.json()
    assert [t["element_id"] for t in instance["open_tasks"]] == ["invoice"]
    assert api_engine.get_instance(instance["id"]).data["discount_percent"] == 5  # the form's default
    assert_problem(client.post(url, json={"data": {"decision": "approve"}}, headers=auth("ann")), 409, "conflict",
                   "already completed by ann")
    closed = client.get("/api/v1/tasks?view=closed", headers=auth("ann")).json()["items"]
    assert [t["id"] for t in closed] == [task]


def test_complete_body_refusals(client: TestClient, auth: Auth, start_deal: Callable[..., str]) -> None:
    task = start_deal()
    client.post(f"/api/v1/tasks/{task}/pick", headers=auth("ann"))
    url = f"/api/v1/tasks/{task}/complete"
    body = assert_problem(client.post(url, json={"data": [1, 2]}, headers=auth("ann")), 422, "invalid-input")
    assert body["errors"][0]["field"] == "data"
    resp = client.post(url, content=b'{"data": {"x": NaN}}', headers={**auth("ann"), "content-type":
                                                                       "application/json"})
    assert_problem(resp, 422, "invalid-input", "x must be a finite number")
    resp = client.post(url, content=b'{"data": ', headers={**auth("ann"), "content-type": "application/json"})
    assert_problem(resp, 422, "invalid-input")


# -- comments --------------------------------------------------------------------------------
def test_comments(client: TestClient, auth: Auth, start_deal: Callable[..., str], api_engine: Engine) -> None:
    task = start_deal()
    resp = client.post(f"/api/v1/tasks/{task}/comments", json={"text": "Called, no answer"}, headers=auth("ann"))
    assert resp.status_code == 201, resp.text
    assert (resp.json()["event"], resp.json()["user"]) == ("comment", "ann")
    instance_id = api_engine.get_task(task).instance_id
    history = client.get(f"/api/v1/instances/{instance_id}/history", headers=auth("ann")).json()
    assert any(h["event"] == "comment" and h["data_delta"]["text"] == "Called, no answer" for h in history)
    assert_problem(client.post(f"/api/v1/tasks/{task}/comments", json={"text": "hi"}, headers=auth("sam")),
                   403, "forbidden", "sam may not comment")
    body = assert_problem(client.post(f"/api/v1/tasks/{task}/comments", json={"text": ""}, headers=auth("ann")),
                          422, "invalid-input")
    assert body["errors"][0]["field"] == "text"
    assert_problem(client.post("/api/v1/tasks/zzz/comments", json={"text": "hi"}, headers=auth("ann")),
                   404, "not-found", "zzz")


# -- bulk ------------------------------------------------------------------------------------
def test_bulk_pick_release_route_report_each_task(
    client: TestClient, auth: Auth, start_deal: Callable[..., str]
) -> None:
    a, b, c = start_deal("D-A"), start_deal("D-B"), start_deal("D-C")
    client.post(f"/api/v1/tasks/{c}/pick", headers=auth("bob"))
    resp = client.post("/api/v1/tasks/bulk/pick", json={"task_ids": [a, b, c, "ghost"]}, headers=auth("ann"))
    assert resp.status_code == 200
    body = resp.json()
    assert (body["succeeded"], body["failed"]) == (2, 2)
    by_id = {r["task_id"]: r for r in body["results"]}
    assert by_id[a]["ok"] and by_id[a]["task"]["assignee"] == "ann"
    assert by_id[c]["code"] == "conflict" and "already picked by bob" in by_id[c]["message"]
    assert by_id["ghost"]["code"] == "not_found"

    resp = client.post("/api/v1/tasks/bulk/release", json={"task_ids": [a, c]}, headers=auth("ann"))
    by_id = {r["task_id"]: r for r in resp.json()["results"]}
    assert by_id[a]["ok"] and by_id[c]["code"] == "forbidden"

    resp = client.post("/api/v1/tasks/bulk/route", json={"task_ids": [a, b], "queue": "billing"},
                       headers=auth("ann"))
    assert resp.json()["succeeded"] == 2
    assert set(ids(client.get("/api/v1/tasks?view=available", headers=auth("carl")))) == {a, b}


def test_bulk_refusals(client: TestClient, auth: Auth) -> None:
    body = assert_problem(client.post("/api/v1/tasks/bulk/pick", json={"task_ids": []}, headers=auth("ann")),
                          422, "invalid-input")
    assert body["errors"][0]["field"] == "task_ids"
    assert_problem(client.post("/api/v1/tasks/bulk/route", json={"task_ids": ["x"]}, headers=auth("ann")),
                   422, "invalid-input", "queue")
    assert_problem(client.post("/api/v1/tasks/bulk/pick", json={"task_ids": ["x"] * 501}, headers=auth("ann")),
                   422, "invalid-input", "task_ids")
