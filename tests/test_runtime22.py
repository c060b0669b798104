"""Issue 22's runtime defects, each on a small diagram in tests/diagrams/runtime22/.

Runs on SQLite, and on PostgreSQL when CRMFLOW_TEST_DB names one (see conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import Engine, HandlerRegistry

FOLDER = Path(__file__).parent / "diagrams" / "runtime22"


@pytest.fixture
def charges(registry: HandlerRegistry) -> list[int]:
    """Every call of the charging handler: its effects commit with the step."""
    calls: list[int] = []

    def charge(ctx, amount):
        calls.append(amount)
        return {"charged": amount}

    registry.register("pay/charge", charge)
    return calls


@pytest.mark.parametrize("diagram", ["charge_then_bad_timer", "charge_then_bad_boundary"])
def test_failing_next_element_books_the_incident_on_itself_and_retry_never_recharges(
    engine: Engine, charges: list[int], monkeypatch: pytest.MonkeyPatch, diagram: str
) -> None:
    monkeypatch.delenv("CRMFLOW_ENV", raising=False)
    engine.deploy([FOLDER / f"{diagram}.bpmn"])
    failing = "wait" if diagram == "charge_then_bad_timer" else "late"

    inst = engine.start(diagram, {"amount": 40})
    assert inst.status == "incident"
    [incident] = inst.incidents
    assert incident.element_id == failing, incident
    assert charges == [40]

    again = engine.retry_incident(incident.id)  # not fixed yet: fails again, still no new charge
    assert again.status == "incident"
    assert charges == [40]
    [incident] = engine.list_incidents(instance_id=inst.id)
    assert (incident.element_id, incident.attempts) == (failing, 2)

    monkeypatch.setenv("CRMFLOW_ENV", "fixed")
    fixed = engine.retry_incident(incident.id)
    assert fixed.status == "waiting"
    assert charges == [40]
    assert engine.list_incidents(instance_id=inst.id) == []
    assert [t.element_id for t in engine.list_timers()] == [failing]
    events = [(h.event, h.element_id) for h in engine.get_instance(inst.id).history]
    assert events.count(("completed", "charge")) == 1
    assert ("incident_resolved", failing) in events


def test_an_activity_waits_while_its_boundary_timer_has_an_incident(
    engine: Engine, charges: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CRMFLOW_ENV", raising=False)
    engine.deploy([FOLDER / "capture_with_bad_deadline.bpmn"])
    inst = engine.start("capture_with_bad_deadline", {"amount": 40})
    [incident] = inst.incidents
    assert incident.element_id == "late"
    assert charges == [], "the service must not run without the deadline its diagram gives it"
    monkeypatch.setenv("CRMFLOW_ENV", "fixed")
    assert engine.retry_incident(incident.id).status == "completed"
    assert charges == [40]


def test_a_task_whose_own_completion_fails_is_not_run_again_on_retry(engine: Engine, charges: list[int]) -> None:
    """The handler ran and committed; the task's data output is missing: the retry only
    tries to complete the task again, it never charges twice."""
    engine.deploy([FOLDER / "charge_with_missing_output.bpmn"])
    inst = engine.start("charge_with_missing_output", {"amount": 40})
    [incident] = inst.incidents
    assert (incident.element_id, "Missing data ouput" in incident.message) == ("charge", True)
    assert engine.retry_incident(incident.id).status == "incident"
    assert engine.retry_incident(incident.id).status == "incident"
    assert charges == [40]


def test_an_incident_whose_element_was_cancelled_is_closed(
    engine: Engine, charges: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bad boundary timer fails; the person still finishes the review, which cancels the
    boundary event: its incident can never be retried, so it must not stay open."""
    monkeypatch.delenv("CRMFLOW_ENV", raising=False)
    engine.deploy([FOLDER / "charge_then_bad_boundary.bpmn"])
    inst = engine.start("charge_then_bad_boundary", {"amount": 40})
    [review] = engine.list_tasks(instance_id=inst.id)
    done = engine.complete_task(review.id, "ann")
    assert done.status == "completed"
    assert engine.list_incidents(instance_id=inst.id) == []
    [closed] = engine.list_incidents(state="resolved", instance_id=inst.id)
    assert closed.element_id == "late"
    assert charges == [40]


def test_a_process_calling_itself_stops_at_the_call_depth_limit(make_engine) -> None:
    engine = make_engine(max_call_depth=5, max_steps=5_000)  # the step budget keeps a regression short
    engine.deploy([FOLDER / "calls_itself.bpmn"])
    inst = engine.start("calls_itself")
    assert inst.status == "incident"
    [incident] = inst.incidents
    assert incident.element_id == "again"
    assert incident.message.startswith("again would start") and "depth 6" in incident.message
    assert "limit of 5" in incident.message
    assert incident.error_type == "CallDepthExceeded"


def test_the_default_call_depth_limit_is_fifty(make_engine) -> None:
    engine = make_engine()
    engine.deploy([FOLDER / "calls_itself.bpmn"])
    inst = engine.start("calls_itself")
    [incident] = inst.incidents
    assert (incident.element_id, "limit of 50" in incident.message) == ("again", True)


ELEMENTS = Path(__file__).parent / "diagrams" / "elements"


@pytest.mark.parametrize(
    ("diagram", "process", "task", "data", "subprocess", "boundary"),
    [
        ("error_end_subprocess", "el_error_sub", "check_docs", {"docs_complete": False}, "verify", "docs_missing"),
        ("escalation_end_interrupting", "el_escalation_end", "assess", {}, "handle_claim", "claim_escalated"),
    ],
)
def test_a_subprocess_ended_by_an_interrupting_boundary_has_its_entry_in_the_history(
    engine: Engine, diagram: str, process: str, task: str, data: dict, subprocess: str, boundary: str
) -> None:
    engine.deploy([ELEMENTS / f"{diagram}.bpmn"])
    inst = engine.start(process)
    [open_task] = [t for t in engine.list_tasks(instance_id=inst.id) if t.element_id == task]
    engine.complete_task(open_task.id, "ann", data)
    history = engine.history(inst.id)
    ended = [h for h in history if h.element_id == subprocess]
    assert [(h.event, h.data_delta) for h in ended] == [("cancelled", {"interrupted_by": boundary})]
    events = [(h.event, h.element_id) for h in history]
    assert events.index(("cancelled", subprocess)) < events.index(("completed", boundary))


@pytest.mark.parametrize(
    ("diagram", "expected"),
    [
        ("form_in_variable", {"order": {"count": 2, "topping": "olive"}, "total": 24}),
        ("form_with_empty_variable", {"count": 2, "topping": "olive", "total": 24}),
    ],
)
def test_user_task_variable_name_nests_the_form_data(engine: Engine, diagram: str, expected: dict) -> None:
    engine.deploy([FOLDER / f"{diagram}.bpmn"])
    inst = engine.start(diagram)
    [task] = engine.list_tasks(instance_id=inst.id)
    done = engine.complete_task(task.id, "ann", {"count": 2, "topping": "olive"})
    assert done.status == "completed"
    assert engine.get_instance(inst.id).data == expected


@pytest.mark.parametrize("message", ["lead_from_web", "lead_from_phone"])
def test_a_multiple_start_event_starts_on_either_message(engine: Engine, message: str) -> None:
    engine.deploy([FOLDER / "either_message_starts.bpmn"])
    inst = engine.correlate(message, "lead-1", {"who": "bob"})
    assert (inst.status, inst.business_key) == ("waiting", "lead-1")
    assert [t.element_id for t in engine.list_tasks(instance_id=inst.id)] == ["qualify"]
    assert engine.get_instance(inst.id).data == {"who": "bob"}


def test_a_parallel_multiple_catch_takes_each_message_once(engine: Engine) -> None:
    from engine import NoSubscriber

    engine.deploy([FOLDER / "both_messages_needed.bpmn"])
    inst = engine.start("both_messages_needed", business_key="lead-2")
    assert sorted(s.message_name for s in inst.subscriptions) == ["lead_from_phone", "lead_from_web"]

    after_web = engine.correlate("lead_from_web", "lead-2", {"web": 1})
    assert [s.message_name for s in after_web.subscriptions] == ["lead_from_phone"]
    with pytest.raises(NoSubscriber):
        engine.correlate("lead_from_web", "lead-2", {"web": 2})

    done = engine.correlate("lead_from_phone", "lead-2", {"phone": 1})
    assert done.subscriptions == []
    assert [t.element_id for t in engine.list_tasks(instance_id=inst.id)] == ["qualify"]
    assert engine.get_instance(inst.id).data == {"web": 1, "phone": 1}


@pytest.mark.parametrize(
    ("kind", "value", "expected"),
    [
        ("timeDuration", "P", "is not an ISO 8601 duration"),
        ("timeDuration", "", "is not an ISO 8601 duration"),
        ("timeDuration", "-PT1H", "is not an ISO 8601 duration"),
        ("timeDuration", 42, "is not an ISO 8601 duration"),
        ("timeDate", "P", "is not an ISO 8601 date-time"),
        ("timeDate", "tomorrow", "is not an ISO 8601 date-time"),
        ("timeCycle", "R3/P", "is not an ISO 8601 repeating interval"),
        ("timeCycle", "PT1H", "is not an ISO 8601 repeating interval"),
    ],
)
def test_a_timer_with_a_garbage_value_is_an_incident_naming_it(
    engine: Engine, kind: str, value: object, expected: str
) -> None:
    engine.deploy([FOLDER / f"garbage_{kind}.bpmn"])
    inst = engine.start(f"garbage_{kind}", {"when": value})
    assert inst.status == "incident", "a garbage timer must never let the instance run on"
    [incident] = inst.incidents
    assert incident.element_id == "wait"
    assert incident.message.startswith(f"timer wait: its expression 'when' gave {value!r}")
    assert expected in incident.message


def test_a_timer_expression_giving_a_timedelta_says_to_write_an_iso_duration(engine: Engine, tmp_path: Path) -> None:
    diagram = tmp_path / "timedelta_timer.bpmn"
    diagram.write_text((FOLDER / "garbage_timeDuration.bpmn").read_text().replace(
        ">when</bpmn:timeDuration>", ">timedelta(hours=4, minutes=30)</bpmn:timeDuration>"))
    engine.deploy([diagram], force=True)  # validate refuses it; a value from data reaches run time the same way
    inst = engine.start("garbage_timeDuration")
    assert inst.status == "incident"
    [incident] = inst.incidents
    assert incident.element_id == "wait"
    assert incident.message.startswith("timer wait: its expression 'timedelta(hours=4, minutes=30)' gave")
    assert "write an ISO 8601 duration string, here 'PT4H30M'" in incident.message
    assert "AttributeError" not in incident.message


def test_a_good_zero_duration_still_fires_at_once(engine: Engine) -> None:
    engine.deploy([FOLDER / "garbage_timeDuration.bpmn"])
    assert engine.start("garbage_timeDuration", {"when": "PT0S"}).status == "completed"


def test_a_date_timer_whose_value_is_fixed_recovers_on_retry(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime

    monkeypatch.delenv("CRMFLOW_ENV", raising=False)
    engine.deploy([FOLDER / "date_timer_fixed_later.bpmn"])
    inst = engine.start("date_timer_fixed_later")
    [incident] = inst.incidents
    assert (incident.element_id, "gave 'tomorrow'" in incident.message) == ("wait", True)
    monkeypatch.setenv("CRMFLOW_ENV", "fixed")
    fixed = engine.retry_incident(incident.id)
    assert fixed.status == "waiting"
    assert [(t.element_id, t.due_at) for t in fixed.timers] == [("wait", datetime(2026, 1, 6, 12, tzinfo=UTC))]
