"""The workbench tests' world: the shipped processes deployed on a SQLite file with the CRM
handlers, the demo users (ada the analyst, ann the sales rep, password "demo"), and the whole app."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from crmflow import demo_seed
from crmflow.settings import build_engine, build_worklist
from crmflow.web.app import WebSettings, create_app
from engine import Engine
from worklists.service import Worklist

ROOT = Path(__file__).resolve().parents[2]
PROCESSES = ROOT / "processes"
SECRET = "workbench-tests-secret"


@dataclass
class WorkbenchWorld:
    engine: Engine
    worklist: Worklist
    app: FastAPI
    db_url: str

    def login(self, user: str) -> TestClient:
        client = TestClient(self.app, follow_redirects=False)
        token = csrf_of(client.get("/login").text)
        r = client.post("/login", data={"username": user, "password": demo_seed.DEMO_PASSWORD, "csrf": token,
                                        "next": "/"})
        assert r.status_code == 303, r.text
        return client

    def close(self) -> None:
        self.engine.close()


def build_world(folder: Path) -> WorkbenchWorld:
    db_url = f"sqlite:///{folder / 'workbench.db'}"
    engine = build_engine(db_url)
    worklist = build_worklist(engine, PROCESSES)
    demo_seed.seed_users(engine, worklist)
    demo_seed.deploy_processes(engine, PROCESSES, demo_seed.DemoReport())
    app = create_app(engine, worklist, settings=WebSettings(secret_key=SECRET))
    return WorkbenchWorld(engine, worklist, app, db_url)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "the page carries no CSRF token"
    return match.group(1)
