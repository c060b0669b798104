"""Property-based run of the OpenAPI document against the app (schemathesis, stateless).

Every operation gets generated valid (positive) and invalid (negative) requests, sent with an
admin's token (so they reach past authentication) on a database with a few open tasks.
Checked: no 5xx, documented status codes, content types and headers, responses matching their
schemas, invalid input refused with a 4xx. `positive_data_acceptance` is left out on purpose:
well-formed ids of tasks that do not exist are rightly a 404.

The operations are driven with Hypothesis directly: schemathesis' lazy pytest fixture loader
(`schemathesis.pytest.from_fixture`) breaks on pytest 9 (`Function` has no `_nodeid`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engine import Engine

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]
EXPLORE = os.environ.get("API_FUZZ_EXAMPLES")  # set (e.g. 200) for a longer, random exploration
MAX_EXAMPLES = int(EXPLORE or "12")
BUDGET_SECONDS = 3600 if EXPLORE else 60


def _distinguishable(case) -> bool:
    """What the server sees must differ from a valid request: a one-element list in the query
    (`key=["x"]`) is sent as `key=x`, exactly like the string "x", and a parameter whose value is
    None or [] is not sent at all; such "negative" cases are left out. (Two or more values are
    sent as a repeated parameter, which the API refuses.)"""
    return not any(v is None or (isinstance(v, list) and len(v) <= 1) for v in (case.query or {}).values())


@pytest.mark.parametrize(("mode", "known_ids"), [(GenerationMode.POSITIVE, False), (GenerationMode.POSITIVE, True),
                                                 (GenerationMode.NEGATIVE, False)],
                         ids=["positive", "positive-on-existing-records", "negative"])
def test_api_conforms_to_its_openapi(app, tokens: dict[str, str], start_deal: Callable[..., str],
                                     api_engine: Engine, mode: GenerationMode, known_ids: bool) -> None:
    """With `known_ids`, path ids name an existing task, instance and process, so the generated
    bodies reach pick/route/complete/comment on a real task instead of stopping at a 404."""
    tasks = [start_deal(f"S-{i}") for i in range(3)]
    existing = {"task_id": tasks[0], "instance_id": api_engine.get_task(tasks[0]).instance_id,
                "process_id": "deal"}
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {tokens['root']}"}
    started = time.monotonic()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        fixed = {k: v for k, v in existing.items() if k in names} if known_ids else None
        if known_ids and not fixed:
            continue
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)
        if mode == GenerationMode.NEGATIVE:
            strategy = strategy.filter(_distinguishable)

        @given(case=strategy)
        @settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=not EXPLORE, database=None, phases=[Phase.explicit, Phase.generate])
        def run(case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Unsatisfiable:  # nothing to make invalid (no parameters, no body): positive mode covers it
            assert mode == GenerationMode.NEGATIVE, operation.path
        except Exception as err:  # noqa: BLE001 - collect every operation's failure, then report all
            failures.append(f"{operation.method.upper()} {operation.path}: {err}")
    assert not failures, "\n\n".join(failures)
    assert time.monotonic() - started < BUDGET_SECONDS
