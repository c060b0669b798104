"""Helpers for the dashboard tests: the whole app on an engine filled by `crmflow demo`, a manager
with a password and an API token, and a logged-in client. Kept out of conftest.py so test
modules can import them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient

from crmflow import demo
from crmflow.settings import build_engine
from crmflow.web.app import WebSettings, create_app
from engine import Engine, ManualClock
from worklists.auth import Accounts
from worklists.routing import LaneMap
from worklists.service import Worklist

PASSWORD = "correct horse 1"
SECRET = "test-secret-key-for-dashboards"
MANAGER = "mia"
AFTER_STORY = timedelta(days=120)  # the demo's clock runs weeks ahead; look at its records afterwards


@dataclass
class Demo:
    engine: Engine
    app: FastAPI
    token: str


def demo_app(db_url: str, clock: ManualClock) -> Demo:
    """`crmflow demo` on `db_url`, then the app on an engine whose clock stands after the story."""
    demo.run(db_url, echo=lambda *_: None)
    clock.set(demo.story_start() + AFTER_STORY)
    engine = build_engine(db_url, clock)
    accounts = Accounts(engine)
    # one user who reads every area's reports (each manager group reads only its own: issue 21)
    groups = ["sales_managers", "marketing_managers", "service_supervisors", "analysts"]
    _, issued = accounts.add_user(MANAGER, groups, password=PASSWORD, token_label="dashboards")
    assert issued is not None
    worklist = Worklist(engine, LaneMap.load(demo.PROCESSES / "lanes.json"), accounts=accounts)
    app = create_app(engine, worklist, with_pages=True, settings=WebSettings(secret_key=SECRET))
    return Demo(engine, app, issued.token)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)


def log_in(app: FastAPI, name: str = MANAGER) -> TestClient:
    client = TestClient(app, follow_redirects=False)
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": name, "password": PASSWORD, "csrf": token, "next": "/"})
    assert r.status_code == 303, r.text
    return client


def svg_blocks(html: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", html, flags=re.S)


def section(html: str, report: str) -> str:
    """The HTML of one report's section on a dashboard page."""
    match = re.search(rf'<section class="report" id="report-{re.escape(report)}".*?</section>', html, flags=re.S)
    assert match, f"no section for {report}"
    return match.group(0)
