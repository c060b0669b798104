"""Two agents pick the same task at the same moment, 200 times: exactly one gets it each time,
the other a 409 naming the winner."""

from __future__ import annotations

import threading
from collections.abc import Callable

from api_support import Auth
from fastapi.testclient import TestClient

from engine import Engine

ROUNDS = 200


def test_pick_race_has_exactly_one_winner(
    client: TestClient, auth: Auth, start_deal: Callable[..., str], api_engine: Engine
) -> None:
    tasks = [start_deal(f"R-{i}") for i in range(ROUNDS)]
    agents = ("ann", "bob")
    for task in tasks:
        barrier = threading.Barrier(len(agents))
        answers: dict[str, tuple[int, dict]] = {}

        def pick(agent: str, task: str = task, barrier: threading.Barrier = barrier,
                 answers: dict[str, tuple[int, dict]] = answers) -> None:
            headers = auth(agent)
            barrier.wait()
            resp = client.post(f"/api/v1/tasks/{task}/pick", headers=headers)
            answers[agent] = (resp.status_code, resp.json())

        threads = [threading.Thread(target=pick, args=(a,)) for a in agents]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        statuses = sorted(status for status, _ in answers.values())
        assert statuses == [200, 409], answers
        winner = next(a for a, (status, _) in answers.items() if status == 200)
        loser = next(a for a in agents if a != winner)
        assert answers[winner][1]["assignee"] == winner
        assert f"already picked by {winner}" in answers[loser][1]["detail"]
        assert api_engine.get_task(task).assignee == winner
