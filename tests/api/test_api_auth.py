"""Authentication and the shape of every refusal: 401 with a challenge, problem documents for
unknown paths, wrong methods, unreadable bodies, and a logged 500 (never a traceback) for bugs."""

from __future__ import annotations

import logging

import pytest
from api_support import Auth
from fastapi.testclient import TestClient
from test_api_tasks import PROBLEM, assert_problem

from engine import Engine
from worklists.auth import Accounts


@pytest.mark.parametrize("path", ["/api/v1/tasks", "/api/v1/queues", "/api/v1/processes", "/api/v1/instances",
                                  "/api/v1/incidents"])
def test_no_token_is_401_with_a_challenge(client: TestClient, path: str) -> None:
    resp = client.get(path)
    assert_problem(resp, 401, "unauthorized", "Authorization: Bearer")
    assert resp.headers["www-authenticate"] == 'Bearer realm="crmflow"'


@pytest.mark.parametrize("header", ["Bearer cft_0123456789ab_" + "x" * 43, "Bearer nonsense", "Bearer "])
def test_bad_token_is_401(client: TestClient, header: str, tokens: dict[str, str]) -> None:
    resp = client.get("/api/v1/tasks", headers={"Authorization": header})
    assert resp.status_code == 401
    assert resp.headers["content-type"].startswith(PROBLEM)
    assert "invalid_token" in resp.headers["www-authenticate"] or "realm" in resp.headers["www-authenticate"]


def test_basic_auth_is_not_a_token(client: TestClient) -> None:
    assert_problem(client.get("/api/v1/tasks", headers={"Authorization": "Basic YW5uOmRlbW8="}), 401,
                   "unauthorized")


def test_tampered_secret_is_refused(client: TestClient, tokens: dict[str, str]) -> None:
    token = tokens["ann"]
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    resp = client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {tampered}"})
    assert_problem(resp, 401, "unauthorized", "not valid")
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]


def test_revoked_token_and_deactivated_user_are_refused(client: TestClient, auth: Auth, tokens: dict[str, str],
                                                        api_engine: Engine) -> None:
    accounts = Accounts(api_engine)
    assert client.get("/api/v1/tasks", headers=auth("ann")).status_code == 200
    accounts.revoke_token(tokens["ann"])
    assert_problem(client.get("/api/v1/tasks", headers=auth("ann")), 401, "unauthorized")
    assert client.get("/api/v1/tasks", headers=auth("bob")).status_code == 200
    accounts.set_active("bob", False)
    assert_problem(client.get("/api/v1/tasks", headers=auth("bob")), 401, "unauthorized", "deactivated")


def test_unknown_path_and_wrong_method_are_problems(client: TestClient, auth: Auth) -> None:
    assert_problem(client.get("/api/v1/nothing-here", headers=auth("ann")), 404, "not-found", "/api/v1/nothing-here")
    resp = client.delete("/api/v1/tasks", headers=auth("ann"))
    assert_problem(resp, 405, "method-not-allowed", "DELETE")
    assert "GET" in resp.headers["allow"]


def test_problem_types_explain_themselves(client: TestClient) -> None:
    body = client.get("/api/v1/problems/no-subscriber").json()
    assert body["status"] == 404 and "No instance waits" in body["description"]
    assert_problem(client.get("/api/v1/problems/bogus"), 404, "not-found", "bogus")


def test_openapi_and_docs_are_served(client: TestClient) -> None:
    schema = client.get("/api/v1/openapi.json").json()
    assert "/api/v1/tasks/{task_id}/pick" in schema["paths"]
    pick = schema["paths"]["/api/v1/tasks/{task_id}/pick"]["post"]
    assert set(pick["responses"]) >= {"200", "401", "403", "404", "409", "422"}
    assert list(pick["responses"]["409"]["content"]) == [PROBLEM]
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    start = schema["components"]["schemas"]["StartRequest"]
    assert start["examples"][0]["process_id"] == "lead_to_invoice"
    assert client.get("/api/v1/docs").status_code == 200


def test_a_bug_is_a_logged_500_problem_without_internals(app, client: TestClient,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    @app.get("/api/v1/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    with caplog.at_level(logging.ERROR, logger="crmflow.web.problems"):
        resp = client.get("/api/v1/boom")
    body = assert_problem(resp, 500, "internal-error", "RuntimeError")
    assert "secret internals" not in resp.text
    assert body["instance"] == "/api/v1/boom"
    assert any("secret internals" in (r.exc_text or "") or r.exc_info for r in caplog.records)
