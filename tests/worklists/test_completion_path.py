"""One completion path (issue 14): `crmflow complete`, `crmflow work complete` and
`POST /api/v1/tasks/{id}/complete` all go through `Worklist.complete`, so the same invalid
completion is refused with the same message by each (the pages call it too: tests/web)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import ok, run
from fastapi.testclient import TestClient
from worklist_support import lane_process

from crmflow.commands.common import one_line
from crmflow.settings import build_engine, build_worklist, lane_map
from crmflow.web.app import create_app

CLI_PATHS = (("complete",), ("work", "complete"))


@pytest.fixture
def task(db: str, tmp_path: Path) -> str:
    """ann and bob sell; one deal whose Sales task 'qualify' has the discount form (≤ 50 %)."""
    for name in ("ann", "bob"):
        ok(db, "users", "add", name, "--groups", "sales")
    path = tmp_path / "deal.bpmn"
    path.write_text(lane_process("deal", [("qualify", "Sales", {"formJsonSchemaFilename": "discount.json"}),
                                          ("invoice", "Billing", {})]))
    ok(db, "deploy", str(path), "--force")
    started = json.loads(ok(db, "start", "deal", "--key", "C-9", "--data", '{"customer": "ACME"}', "--json").stdout)
    return started["open_tasks"][0]["id"]


@pytest.fixture
def api(db: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The API on the CLI's database, with a token per user (the same accounts)."""
    lanes = lane_map()
    eng = build_engine(db, lanes=lanes)
    worklist = build_worklist(eng, lanes=lanes)
    tokens = {name: worklist.accounts.issue_token(name, "parity").token for name in ("ann", "bob")}
    with TestClient(create_app(eng, worklist, with_pages=False)) as client:
        yield client, tokens
    eng.close()


def refusals(db: str, api: tuple[TestClient, dict[str, str]], task: str, user: str, data: dict) -> list[str]:
    """The one-line refusal of each path: the CLI's `error:` line and the API problem's detail."""
    lines = []
    for path in CLI_PATHS:
        result = run(db, *path, task, "--user", user, "--data", json.dumps(data))
        assert result.exit_code == 1 and result.stderr.startswith("error: "), (path, result.stderr)
        lines.append(result.stderr.strip().removeprefix("error: "))
    client, tokens = api
    resp = client.post(f"/api/v1/tasks/{task}/complete", json={"data": data},
                       headers={"Authorization": f"Bearer {tokens[user]}"})
    assert resp.status_code in (403, 409, 422), resp.text
    lines.append(one_line(resp.json()["detail"]))
    return lines


def test_the_same_invalid_completion_is_refused_alike_everywhere(db, task, api):
    unpicked = refusals(db, api, task, "ann", {"decision": "approve"})
    assert len(set(unpicked)) == 1 and "must be picked before completing" in unpicked[0], unpicked

    ok(db, "pick", task, "--user", "ann")
    not_mine = refusals(db, api, task, "bob", {"decision": "approve"})
    assert len(set(not_mine)) == 1 and "picked by ann" in not_mine[0], not_mine

    bad_form = refusals(db, api, task, "ann", {"decision": "approve", "discount_percent": 70})
    assert len(set(bad_form)) == 1 and "discount_percent: must be ≤ 50" in bad_form[0], bad_form

    done = ok(db, "complete", task, "--user", "ann", "--data", '{"decision": "approve"}').stdout
    assert f"completed task {task}" in done
    again = refusals(db, api, task, "ann", {"decision": "approve"})
    assert len(set(again)) == 1 and "already completed by ann" in again[0], again
