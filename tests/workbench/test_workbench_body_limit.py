"""The workbench's diagram routes take bodies up to the diagram limit (5 MB, engine/xml.py), not
the 1 MiB limit on other requests: a 2 MB draft is saved, a 6 MB one refused with 413; other
routes keep the general limit."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from workbench_world import PROCESSES, WorkbenchWorld

BASE = "/workbench/processes/lead_to_invoice"
ORIGINAL = (PROCESSES / "lead_to_invoice.bpmn").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def ada(bench: WorkbenchWorld) -> TestClient:
    return bench.login("ada")


def padded(megabytes: float) -> str:
    """The diagram with a comment making it `megabytes` MB (1e6 bytes) in all."""
    filler = int(megabytes * 1_000_000) - len(ORIGINAL.encode("utf-8")) - 10
    return ORIGINAL.replace("</bpmn:definitions>", f"<!-- {'x' * filler} -->\n</bpmn:definitions>")


def csrf(client: TestClient) -> str:
    found = re.search(r'data-csrf="([^"]+)"', client.get(BASE).text)
    assert found
    return found.group(1)


def test_a_2_mb_draft_is_saved_and_a_6_mb_one_refused(ada: TestClient) -> None:
    token = csrf(ada)
    big = padded(2)
    saved = ada.post(BASE + "/drafts", data={"csrf": token, "xml": big})
    assert saved.status_code == 200, saved.text
    assert ada.get(saved.json()["download"]).text == big
    checked = ada.post(BASE + "/check", data={"csrf": token, "xml": big})
    assert checked.status_code == 200, checked.text

    huge = ada.post(BASE + "/drafts", data={"csrf": token, "xml": padded(6)})
    assert huge.status_code == 413
    assert "larger than 5 MB" in huge.text


def test_other_routes_keep_the_general_body_limit(ada: TestClient) -> None:
    r = ada.post("/settings", data={"csrf": csrf(ada), "time_zone": "x" * 2_000_000})
    assert r.status_code == 413
