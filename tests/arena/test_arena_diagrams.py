"""Diagrams written in spiff-arena's style run unchanged through the engine facade.

Each model in tests/arena/models uses spiff-arena's script namespace the way its analysts do:
`datetime.now()`, `time`, `json`, `re`, `random`, `dateparser`, `pytz`, `calendar`, `uuid`,
`decimal`, `map`/`filter`, and the backend's helper functions in scripts, pre/post scripts and
gateway conditions. The clock is the test's ManualClock (Monday 2026-01-05 09:00 UTC).
"""

from __future__ import annotations

import random
import uuid

import pytest
from arena_support import DATA, DATES, OWN, QUOTE, REVIEW, SECRET, SLEEP, TEAM

from engine import Engine, ManualClock
from worklists.service import Worklist


def finished(engine: Engine, instance_id: int) -> dict:
    detail = engine.get_instance(instance_id, with_history=False)
    assert detail.status == "completed", [i.message for i in detail.incidents]
    return detail.data


def test_dates_follow_the_engines_clock(arena: Engine) -> None:
    data = finished(arena, arena.start(DATES, user="ann").id)
    assert data["started_at"] == "2026-01-05T09:00:00"
    assert data["utc_at"] == "2026-01-05T09:00:00"
    assert data["today"] == "2026-01-05"
    assert data["epoch"] == 1767603600.0
    assert data["stamp"] == "2026-01-05 09:00"
    assert data["hour"] == 9
    assert data["due"] == "2026-01-08"
    assert "started" not in data  # `del` in the script works as in spiff-arena


def test_dateparser_pytz_calendar_and_get_localtime(arena: Engine) -> None:
    data = finished(arena, arena.start(DATES, user="ann").id)
    assert data["in_two_days"] == "2026-01-07"  # relative to the engine's clock
    assert data["meeting"] == "2026-03-04T10:30:00"
    assert data["eastern"] == "04:00 EST"
    assert data["eastern_default"] == "04:00"  # spiff-arena's default zone, US/Eastern
    assert data["berlin"] == "10:00 CET"
    assert data["july_noon_ny"] == "2026-07-01T12:00:00-04:00"  # pytz's localize()
    assert data["days_in_feb_2028"] == 29 and data["leap_2028"] is True
    assert data["weekday_name"] == "Monday"
    assert data["renewal"] == "2026-02-01" and data["renewal_day"] == 32  # strptime, both kinds


def test_gateway_condition_reads_the_clock(arena: Engine, clock: ManualClock) -> None:
    assert finished(arena, arena.start(DATES).id)["slot"] == "weekday"
    clock.set(clock.now().replace(day=10))  # Saturday
    saturday = finished(arena, arena.start(DATES).id)
    assert saturday["slot"] == "weekend" and saturday["started_at"].startswith("2026-01-10")


def test_data_helpers_json_decimal_re_map_filter(arena: Engine) -> None:
    data = finished(arena, arena.start(DATA, {"email": "ada@example.com"}, user="ann").id)
    assert data["total"] == "44.90"
    assert data["skus"] == ["A-1", "B-7"] and data["bulk"] == ["a-1"]
    assert data["order_json"].startswith('{"items": [{"price": "19.90"')
    assert data["code"] == "A1B7" and data["digits"] == ["1", "7"]
    assert data["email_ok"] is True and data["accepted"] is True


def test_a_bad_email_takes_the_other_branch(arena: Engine) -> None:
    data = finished(arena, arena.start(DATA, {"email": "not an address"}).id)
    assert data["email_ok"] is False and data["accepted"] is False


def test_uuid_and_seeded_random(arena: Engine) -> None:
    data = finished(arena, arena.start(DATA, {"email": "ada@example.com"}).id)
    assert data["ref"] == str(uuid.uuid5(uuid.NAMESPACE_DNS, "crmflow.example"))
    assert uuid.UUID(data["ticket"]).version == 4
    expected = random.Random(42)
    assert data["dice"] == [expected.randint(1, 6) for _ in range(3)]
    assert data["pick"] == expected.choice(["ann", "bob", "carl"])


def test_task_data_helpers_and_markdown(arena: Engine) -> None:
    data = finished(arena, arena.start(DATA, {"email": "ada@example.com", "discount": 5}).id)
    assert data["table"] == "| Sku | Quantity |\n| ---- | ---- |\n| a\\-1 | 2 |\n| b\\-7 | 1 |\n"
    assert data["title_md"] == "Q1\\_results \\(draft\\)"
    assert data["discount"] == 5 and data["note"] == "none"
    assert data["stage"] == "priced" and data["currency"] == "EUR"
    assert data["extracted"] == {"tmp_a": 1, "tmp_b": 2}
    assert "tmp_a" not in data and "tmp_a" not in data["snapshot_keys"]
    assert "order" in data["snapshot_keys"] and data["data_size"] > 100


def test_review_request_people_helpers_and_lane_owners(arena: Engine, worklist: Worklist) -> None:
    started = arena.start(REVIEW, {"reviewer": "bob", "title": "Budget 2026"}, user="ann")
    data = arena.get_instance(started.id, with_history=False).data
    assert data["requester"] == "ann" and data["initiator"] == "ann"
    assert data["instance_id"] == started.id
    assert data["model_id"] == REVIEW
    assert data["environment"] == "local_development" and data["home"] == "http://127.0.0.1:8000"
    assert data["started_before"] is True and data["runs"] == 1
    [task] = started.open_tasks
    assert task.assignee == "bob"  # lane_owners {"Reviewer": ["bob"]}, set by the script
    assert data["review_task_id"] == task.id
    assert data["review_url"] == f"http://127.0.0.1:8000/tasks/{task.id}"

    form = worklist.form(task.id, "bob")
    assert form.form == "people/review-request/review-schema.json"  # the model folder's form
    assert form.title == "Review Budget 2026"
    assert form.ui_schema == {"comment": {"ui:widget": "textarea"}}
    assert form.instructions == "Please review Budget 2026 for ann."

    done = worklist.complete(task.id, "bob", {"approved": True, "comment": "fine"})
    data = finished(arena, done.id)
    assert data["reviewed_by"] == "bob" and data["last_reviewer"] == "bob"
    assert data["review_link"] == data["review_url"]
    assert data["owners"] == {"users": ["bob"], "groups": ["reviewers"]}  # lanes.json: Reviewer → reviewers
    assert data["assigned"] == ["bob"]
    assert data["review_task"] == "Activity_record"


def test_times_executed_counts_this_processs_instances(arena: Engine) -> None:
    arena.start(REVIEW, {"reviewer": "bob", "title": "one"}, user="ann")
    second = arena.start(REVIEW, {"reviewer": "bob", "title": "two"}, user="carl")
    assert arena.get_instance(second.id, with_history=False).data["runs"] == 2


def test_current_user_without_anyone_acting_is_a_clear_incident(arena: Engine) -> None:
    started = arena.start(REVIEW, {"reviewer": "bob", "title": "x"})  # no user: a timer or message would do this
    [incident] = started.incidents
    assert "get_current_user(): nobody acts in this step" in incident.message
    assert "get_process_initiator_user()" in incident.message


def test_team_lookup_reads_crmflows_users_and_groups(arena: Engine) -> None:
    data = finished(arena, arena.start(TEAM, user="bob").id)
    assert data["sales_team"] == ["ann", "bob"]
    assert data["my_groups"] == ["reviewers", "sales"]
    assert data["me"] == {"username": "bob", "email": "bob@example.com", "display_name": "bob",
                          "groups": ["reviewers", "sales"]}
    assert data["my_email"] == "bob@example.com" and data["bob_email"] == "bob@example.com"
    assert data["nobody"] is None


def test_quote_calls_the_shared_folders_process_and_decision(arena: Engine, worklist: Worklist) -> None:
    started = arena.start(QUOTE, {"customer": "Ada"}, user="ann")
    [task] = started.open_tasks
    assert task.form == "sales/quote/quote-schema.json"
    assert worklist.form(task.id).title == "Quote for Ada"  # no lane: crmflow's "unassigned" queue
    data = finished(arena, arena.complete_task(task.id, "ann", {"amount": 12000}).id)
    assert data["discount"] == 0.1  # shared/discount-rules/discount-rules.dmn
    assert data["total"] == "10800.00"
    assert data["notice"] == "Dear Ada, your quote of 10800.00 is ready."  # shared/notify-customer
    assert data["notified_by"] == "ann" and data["notified_at"] == "2026-01-05T09:00:00"
    assert data["notify_requested_at"] == "2026-01-05T09:00:00" and data["notified"] is True  # pre/post script


@pytest.mark.parametrize(
    ("process_id", "expected"),
    [
        (SECRET, "get_secret() is not available in crmflow: secrets never enter process data; use a service task"),
        (SLEEP, "time.sleep() is refused in diagram scripts"),
    ],
)
def test_refused_helpers_become_incidents_naming_the_alternative(arena: Engine, process_id: str, expected: str) -> None:
    started = arena.start(process_id, user="ann")
    assert started.status == "incident"
    [incident] = started.incidents
    assert expected in incident.message


def test_the_initiator_lane_and_group_owners_route_as_in_spiff_arena(arena: Engine, worklist: Worklist) -> None:
    started = arena.start(OWN, user="ann")
    [confirm] = started.open_tasks
    assert (confirm.name, confirm.assignee) == ("Confirm the request", "ann"), "the Process Initiator lane is ann's"
    worklist.complete(confirm.id, "ann", {})
    [approve] = arena.get_instance(started.id, with_history=False).open_tasks
    assert approve.assignee is None
    assert approve.candidate_groups == ["reviewers", "user:carl"]  # `group:reviewers` is a group, carl a user
    assert approve.queue == "approvals"
    worklist.pick(approve.id, "carl")
    worklist.complete(approve.id, "carl", {})
    assert arena.get_instance(started.id, with_history=False).status == "completed"


def test_validate_knows_the_initiator_lane_needs_no_worklist() -> None:
    from arena_support import MODELS

    from engine.validation import ValidationContext, load_lane_map, validate

    lanes, problem = load_lane_map(MODELS / "lanes.json")
    assert problem is None
    report = validate([MODELS / "people" / "own-request"], ValidationContext(lanes=lanes))
    assert [d for d in report.diagnostics if d.rule == "crmflow/lane-unmapped"] == []
    del lanes["approver"]
    flagged = validate([MODELS / "people" / "own-request"], ValidationContext(lanes=lanes))
    assert [d.message.split(":")[0] for d in flagged.diagnostics if d.rule == "crmflow/lane-unmapped"] == [
        "lane 'Approver' has user tasks (Activity_approve) but no worklist in the lane map"]
