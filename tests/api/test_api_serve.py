"""Composition: the scheduler runs with the app's lifespan, the pages join the app but not its
OpenAPI document, and `crmflow serve --demo` really serves (a subprocess on a free port)."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from serve_support import crmflow_serve

from crmflow.web.app import create_app
from engine import Engine
from worklists.service import Worklist

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 240  # the demo history is seeded first; generous for a loaded machine


class FakeScheduler:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def shutdown(self, wait: bool = True) -> None:
        self.calls.append(f"shutdown(wait={wait})")


def test_scheduler_runs_with_the_app(api_engine: Engine, worklist: Worklist) -> None:
    scheduler = FakeScheduler()
    app = create_app(api_engine, worklist, with_pages=False, scheduler=scheduler)
    assert scheduler.calls == []
    with TestClient(app) as client:
        assert scheduler.calls == ["start"]
        assert client.get("/healthz").status_code == 200
    assert scheduler.calls == ["start", "shutdown(wait=True)"]


def test_pages_are_served_but_not_documented(api_engine: Engine, worklist: Worklist) -> None:
    pytest.importorskip("crmflow.web.pages")
    app = create_app(api_engine, worklist, with_pages=True)
    with TestClient(app) as client:
        assert client.get("/login").status_code == 200
        resp = client.get("/", follow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/login")
        paths = client.get("/api/v1/openapi.json").json()["paths"]
        assert "/login" not in paths and all(p.startswith(("/api/v1", "/healthz", "/metrics")) for p in paths)
        assert client.get("/api/v1/tasks").status_code == 401  # the API still wants a token


def test_crmflow_serve_demo_smoke(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CRMFLOW_DB": f"sqlite:///{tmp_path / 'serve.db'}"}
    env.pop("CRMFLOW_LANES", None)
    with crmflow_serve(["--demo", "--poll", "0.2"], cwd=ROOT, env=env, startup_seconds=STARTUP_SECONDS,
                       poll=0.2) as served:
        base, output = served.base, served.output
        token = re.search(r"^\s+ann\s+Authorization: Bearer (\S+)$", output, re.M)
        assert token, output
        resp = httpx.get(f"{base}/api/v1/tasks", params={"view": "available"},
                         headers={"Authorization": f"Bearer {token.group(1)}"}, timeout=10)
        assert resp.status_code == 200, resp.text
        # sales work only: the demo's leads, and (from the demo history) leads campaigns handed over
        assert {"lead_to_invoice"} <= {i["process_id"] for i in resp.json()["items"]} <= {"lead_to_invoice",
                                                                                          "campaign_handover"}
        assert httpx.get(f"{base}/api/v1/tasks", timeout=10).status_code == 401
        assert "password 'demo'" in output and f"{base.replace('127.0.0.1', 'localhost')}/login" in output
    # uvicorn shuts down gracefully, then re-raises the signal so supervisors see how it ended
    assert served.exit_code in (0, -signal.SIGTERM), served.output
