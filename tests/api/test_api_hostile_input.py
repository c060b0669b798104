"""Hostile input at the API's door (issue 23 items 3–6, 8): invalid Unicode, deep or huge JSON,
a locked database, the metrics token, security headers — each a 4xx/503 problem, never a 500."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

import pytest
from api_support import Auth
from fastapi.testclient import TestClient
from test_api_tasks import assert_problem

import engine.db
from engine import Engine
from worklists.service import Worklist

LONE = '"\\ud800"'  # a JSON string holding a lone surrogate, as an attacker sends it


def post_raw(client: TestClient, path: str, body: str, headers: dict[str, str]) -> object:
    return client.post(path, content=body.encode(), headers={**headers, "Content-Type": "application/json"})


def field_errors(resp) -> list[str]:
    return [e["field"] for e in resp.json().get("errors", [])]


# -- item 3: invalid Unicode ----------------------------------------------------------------
def test_start_data_with_a_lone_surrogate_is_refused_naming_the_field(client: TestClient, auth: Auth, deal: str,
                                                                      api_engine: Engine) -> None:
    body = f'{{"process_id": "deal", "data": {{"customer": {{"name": {LONE}}}}}}}'
    resp = post_raw(client, "/api/v1/instances", body, auth("root"))
    assert_problem(resp, 422, "invalid-input", "data.customer.name", "not valid Unicode")
    assert field_errors(resp) == ["data.customer.name"]
    assert api_engine.list_instances() == []  # nothing stored: every later read still works
    resp = post_raw(client, "/api/v1/instances", f'{{"process_id": "deal", "business_key": {LONE}}}', auth("root"))
    assert_problem(resp, 422, "invalid-input", "business_key")


def test_complete_comment_and_message_refuse_lone_surrogates(client: TestClient, auth: Auth,
                                                             start_deal: Callable[..., str]) -> None:
    task = start_deal()
    assert client.post(f"/api/v1/tasks/{task}/pick", headers=auth("ann")).status_code == 200
    resp = post_raw(client, f"/api/v1/tasks/{task}/complete",
                    f'{{"data": {{"decision": "approve", "note": {LONE}}}}}', auth("ann"))
    assert resp.status_code == 422, resp.text
    assert "note" in resp.json()["detail"]
    resp = post_raw(client, f"/api/v1/tasks/{task}/comments", f'{{"text": {LONE}}}', auth("ann"))
    assert_problem(resp, 422, "invalid-input", "text")
    resp = post_raw(client, "/api/v1/messages", f'{{"name": "paid", "key": {LONE}}}', auth("root"))
    assert_problem(resp, 422, "invalid-input", "key")
    assert client.get(f"/api/v1/tasks/{task}", headers=auth("ann")).status_code == 200  # still readable


def test_the_engine_refuses_invalid_unicode_for_every_interface(api_engine: Engine, deal: str) -> None:
    from engine import InvalidInput

    with pytest.raises(InvalidInput, match=r"data\.customer: is not valid Unicode"):
        api_engine.start(deal, {"customer": "\ud800"})
    with pytest.raises(InvalidInput, match=r"data\.x: must not contain NUL"):
        api_engine.start(deal, '{"x": "a\\u0000b"}')  # the CLI's --data


# -- items 4 and 5: deep and large bodies ---------------------------------------------------
def test_900_deep_json_is_a_422_not_a_500(client: TestClient, auth: Auth, deal: str) -> None:
    deep = "[" * 900 + "]" * 900
    resp = post_raw(client, "/api/v1/instances", f'{{"process_id": "deal", "data": {{"x": {deep}}}}}',
                    auth("root"))
    assert_problem(resp, 422, "invalid-input", "nested deeper than 32")
    assert field_errors(resp) == ["(body)"]
    very_deep = "[" * 200_000 + "]" * 200_000  # deeper than Python's parser can go: still a 422
    assert post_raw(client, "/api/v1/instances", very_deep, auth("root")).status_code == 422


def test_data_deeper_than_the_limit_is_refused_by_the_engine_too(api_engine: Engine, deal: str) -> None:
    from engine import InvalidInput

    nested: dict = {}
    inner = nested
    for _ in range(40):
        inner["a"] = {}
        inner = inner["a"]
    with pytest.raises(InvalidInput, match="nested deeper than 32 levels"):
        api_engine.start(deal, {"x": nested})
    with pytest.raises(InvalidInput, match="nested deeper"):
        api_engine.start(deal, '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}")


def test_bodies_over_the_limit_are_a_413(client: TestClient, auth: Auth, deal: str) -> None:
    big = json.dumps({"process_id": "deal", "data": {"blob": "x" * (1024 * 1024 + 10)}})
    resp = post_raw(client, "/api/v1/instances", big, auth("root"))
    assert_problem(resp, 413, "payload-too-large", "limit is 1048576", "CRMFLOW_MAX_BODY_BYTES")


def test_the_limits_are_configurable(api_engine: Engine, worklist: Worklist, auth: Auth, deal: str,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from crmflow.web.app import WebSettings, create_app

    app = create_app(api_engine, worklist, with_pages=False, settings=WebSettings(max_body_bytes=200,
                                                                                   max_json_depth=3))
    with TestClient(app) as client:
        body = json.dumps({"process_id": "deal", "data": {"customer": "y" * 300}})
        assert_problem(post_raw(client, "/api/v1/instances", body, auth("root")), 413, "payload-too-large", "200")
        body = json.dumps({"process_id": "deal", "data": {"a": {"b": {"c": 1}}}})
        assert_problem(post_raw(client, "/api/v1/instances", body, auth("root")), 422, "invalid-input", "3 levels")
    monkeypatch.setenv("CRMFLOW_MAX_JSON_DEPTH", "2")  # the engine's (and so the CLI's) limit
    from engine import InvalidInput

    with pytest.raises(InvalidInput, match="CRMFLOW_MAX_JSON_DEPTH"):
        api_engine.start(deal, '{"a": {"b": {"c": 1}}}')


# -- item 6: a locked database --------------------------------------------------------------
def test_a_locked_database_is_a_503_busy_with_retry_after(client: TestClient, auth: Auth, deal: str,
                                                          api_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    if not api_engine.db.is_sqlite:
        pytest.skip("SQLite's write lock")
    monkeypatch.setattr(engine.db, "BUSY_TIMEOUT_SECONDS", 0.2)
    api_engine.db.write_engine.dispose()  # new connections get the short timeout
    holder = sqlite3.connect(api_engine.db.url.removeprefix("sqlite:///"), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another unit of work that holds the lock
    try:
        resp = client.post("/api/v1/instances", json={"process_id": "deal"}, headers=auth("root"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    body = assert_problem(resp, 503, "busy", "busy", "retry")
    assert "OperationalError" not in body["detail"] and "locked" in body["detail"]
    assert resp.headers["Retry-After"] == "5"


# -- item 8: headers, metrics --------------------------------------------------------------
def test_every_response_carries_the_security_headers(client: TestClient) -> None:
    for path in ("/healthz", "/api/v1/openapi.json", "/api/v1/nothing"):
        resp = client.get(path)
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
        assert resp.headers["X-Frame-Options"] == "DENY"
        assert resp.headers["Referrer-Policy"] == "same-origin"
    docs = client.get("/api/v1/docs").text
    assert "<script>" not in docs and "/api/v1/docs/init.js" in docs  # no inline script under the CSP
    assert "SwaggerUIBundle" in client.get("/api/v1/docs/init.js").text


def test_metrics_can_require_a_token(api_engine: Engine, worklist: Worklist) -> None:
    from crmflow.web.app import WebSettings, create_app

    app = create_app(api_engine, worklist, with_pages=False, settings=WebSettings(metrics_token="s3cret-metrics"))
    with TestClient(app) as client:
        assert_problem(client.get("/metrics"), 401, "unauthorized", "metrics token")
        assert_problem(client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
        resp = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
        assert resp.status_code == 200 and "crmflow_" in resp.text
        assert client.get("/healthz").status_code == 200  # probes stay open


def test_error_messages_carry_no_absolute_server_paths(tmp_path) -> None:
    from crmflow.web.problems import problem_response, without_server_paths
    from engine import NotFound
    from worklists.forms import Forms

    with pytest.raises(NotFound) as err:
        Forms(tmp_path).schema("nope.json")
    assert str(tmp_path) not in str(err.value) and "nope.json" in str(err.value)
    leaked = f"cannot open {tmp_path}/forms/x.json; see /api/v1/docs or /tasks/abc"
    assert without_server_paths(leaked) == "cannot open x.json; see /api/v1/docs or /tasks/abc"
    body = json.loads(problem_response("not-found", leaked).body)
    assert str(tmp_path) not in body["detail"]
