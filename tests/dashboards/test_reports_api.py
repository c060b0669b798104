"""`/api/v1/reports`: the list, a report as JSON and as CSV, with a bearer token; problems otherwise."""

from __future__ import annotations

import csv
import io

from dashboards_support import Demo

from handlers import reports


def auth(filled: Demo) -> dict[str, str]:
    return {"Authorization": f"Bearer {filled.token}"}


def test_list_and_pipeline(filled: Demo, anon) -> None:
    r = anon.get("/api/v1/reports", headers=auth(filled))
    assert r.status_code == 200
    assert [d["name"] for d in r.json()] == reports.names()
    doc = anon.get("/api/v1/reports/pipeline", headers=auth(filled))
    assert doc.status_code == 200
    with filled.engine.db.read() as session:
        expected = reports.run(session, "pipeline", filled.engine.now())
    assert doc.json() == expected


def test_windowed_report_and_csv(filled: Demo, anon) -> None:
    r = anon.get("/api/v1/reports/win-rate?since=2000-01-01", headers=auth(filled))
    assert r.status_code == 200 and r.json()["params"] == {"since": "2000-01-01"}
    c = anon.get("/api/v1/reports/waits.csv", headers=auth(filled))
    assert c.status_code == 200 and c.headers["content-type"].startswith("text/csv")
    with filled.engine.db.read() as session:
        rows = reports.run(session, "waits", filled.engine.now())["rows"]
    assert c.text == reports.to_csv(reports.get("waits"), rows)
    assert list(csv.reader(io.StringIO(c.text)))[0] == reports.get("waits").keys


def test_without_token_401(anon) -> None:
    for path in ("/api/v1/reports", "/api/v1/reports/pipeline", "/api/v1/reports/pipeline.csv"):
        r = anon.get(path)
        assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    assert anon.get("/api/v1/reports", headers={"Authorization": "Bearer cft_nope"}).status_code == 401


def test_unknown_report_and_bad_params_are_problems(filled: Demo, anon) -> None:
    r = anon.get("/api/v1/reports/nope", headers=auth(filled))
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    assert "pipeline" in r.json()["detail"]
    assert anon.get("/api/v1/reports/nope.csv", headers=auth(filled)).status_code == 404
    snap = anon.get("/api/v1/reports/pipeline?since=2026-01-01", headers=auth(filled))
    assert snap.status_code == 422 and "no parameter since" in snap.json()["detail"]
    twice = anon.get("/api/v1/reports/win-rate?since=2026-01-01&since=2026-02-01", headers=auth(filled))
    assert twice.status_code == 422
