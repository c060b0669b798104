"""Helpers for the demo-history tests: `serve --demo`'s seeding (with the history) on a temp
SQLite database whose engine clock stands at a fixed "now", and a logged-in client for the
dashboard pages. Kept out of conftest.py so test modules can import them."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from crmflow import demo, demo_seed
from crmflow.settings import build_engine, build_worklist
from crmflow.web.app import WebSettings, create_app
from engine import Engine, ManualClock
from worklists.service import Worklist

#: a fixed "now" (a Wednesday in the middle of a quarter), so the figures do not depend on the test day
NOW = datetime(2026, 5, 20, 14, 30, tzinfo=UTC)
SECRET = "test-secret-key-for-demo-history"


@dataclass
class Seeded:
    engine: Engine
    worklist: Worklist
    report: demo_seed.DemoReport
    output: list[str] = field(default_factory=list)


def database(tmp: Path) -> str:
    """A SQLite file in `tmp`, or the PostgreSQL database `CRMFLOW_TEST_DB` names (emptied first)."""
    url = os.environ.get("CRMFLOW_TEST_DB")
    if not url:
        return f"sqlite:///{tmp / 'demo.db'}"
    from sqlalchemy import create_engine, text

    eng = create_engine(url)
    with eng.begin() as conn:
        conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    eng.dispose()
    return url


def seed_demo(db_url: str) -> Seeded:
    """What `crmflow serve --demo` does before serving, on an engine whose clock says NOW."""
    engine = build_engine(db_url, ManualClock(NOW))
    folder = demo.default_processes()
    worklist = build_worklist(engine, folder)  # as serve wires it
    output: list[str] = []
    report = demo_seed.seed(engine, worklist, folder, echo=output.append)
    return Seeded(engine, worklist, report, output)


def app_of(seeded: Seeded) -> FastAPI:
    return create_app(seeded.engine, seeded.worklist, with_pages=True, settings=WebSettings(secret_key=SECRET))


def log_in(app: FastAPI, name: str) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
    assert token, "the login page carries no CSRF token"
    r = client.post("/login", data={"username": name, "password": demo_seed.DEMO_PASSWORD, "csrf": token.group(1),
                                    "next": "/"})
    assert r.status_code == 303, r.text
    return client


def svg_blocks(html: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", html, flags=re.S)


def section(html: str, report: str) -> str:
    match = re.search(rf'<section class="report" id="report-{re.escape(report)}".*?</section>', html, flags=re.S)
    assert match, f"no section for {report}"
    return match.group(0)
