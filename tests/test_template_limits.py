"""Issue 23 items 1 and 2: user-written templates and huge durations cannot freeze the server.

Templates: arithmetic is size-checked (``{{ (7**(6*10**7)) > 1 }}`` is refused at once), templates
that loop render in a child bounded by the sandbox limits, and another client is answered
meanwhile. Durations: bounded by CRMFLOW_MAX_DURATION_YEARS, refused by validate, an incident at
run time, computed without SpiffWorkflow's per-month loop.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from bpmn_builder import Process, props, timer_duration

from engine import spiff
from engine.durations import DurationTooLong, get_timedelta_from_start
from engine.validation import validate_paths
from handlers import templates
from handlers.templates import TemplateProblem
from worklists.forms import render_text

POW_BOMB = "{{ (7**(6*10**7)) > 1 }}"
LOOP_BOMB = "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"


@pytest.fixture(autouse=True)
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMFLOW_SANDBOX_CPU_SECONDS", "1")
    monkeypatch.setenv("CRMFLOW_SANDBOX_MEMORY_MB", "128")
    monkeypatch.setenv("CRMFLOW_SANDBOX_WALL_SECONDS", "4")


@pytest.mark.parametrize("source, reason", [
    (POW_BOMB, "'**' result is too large"),
    ("{{ 'x' * 10**9 }}", "would create 1,000,000,000"),
    (LOOP_BOMB, "limit"),
    ("{{ 'x' * 10**6 }}{{ 'y' * 10**6 }}", "produces 2,000,000 characters"),
])
def test_a_template_asking_too_much_is_refused_with_a_reason(source, reason):
    with pytest.raises(TemplateProblem, match="subject template cannot be rendered") as refused:
        templates.render_email(source, None, templates.SAMPLE_CONTEXT)
    assert reason in str(refused.value)


def test_ordinary_templates_still_render():
    mail = templates.render_email("Hi {{ member.first_name }}", "{% for i in range(3) %}{{ i * 2 }}{% endfor %}",
                                  templates.SAMPLE_CONTEXT)
    assert (mail.subject, mail.body) == ("Hi Ada", "024")


def test_form_instructions_say_why_they_are_not_filled_in():
    shown = render_text(f"Total: {POW_BOMB}", {})
    assert shown.startswith("Total: {{") and "This text was not filled in" in shown and "too large" in shown


def test_another_client_is_answered_while_a_template_bomb_is_attempted():
    """Bound: while bombs render in one thread, another thread's ordinary render answers within
    2 s each time on a loaded machine (the bombs wait on a child process, without the GIL; before the
    limits one bomb held the GIL for over a minute)."""
    done = threading.Event()

    def attacker() -> None:
        for source in (POW_BOMB, LOOP_BOMB, POW_BOMB):
            with pytest.raises(TemplateProblem):
                templates.render(source, templates.SAMPLE_CONTEXT)
        done.set()

    thread = threading.Thread(target=attacker)
    thread.start()
    slowest = 0.0
    answers = 0
    while not done.is_set():
        began = time.monotonic()
        assert templates.render("Hello {{ member.name }}", templates.SAMPLE_CONTEXT) == "Hello Ada Lovelace"
        slowest = max(slowest, time.monotonic() - began)
        answers += 1
        time.sleep(0.01)
    thread.join(30)
    assert answers > 10 and slowest < 2.0, (answers, slowest)


# -- durations ----------------------------------------------------------------------------------------


def test_huge_duration_is_refused_without_looping():
    spiff.install()  # what building an Engine does (engine/spiff/timer_durations.py)
    began = time.monotonic()
    with pytest.raises(DurationTooLong, match="'P99999999Y' is longer than the limit of 100 years"):
        from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

        TimerEventDefinition.parse_iso_duration("P99999999Y")
    start = datetime(2026, 1, 31, tzinfo=UTC)
    assert get_timedelta_from_start({"years": 99}, start) == datetime(2125, 1, 31, tzinfo=UTC) - start
    assert get_timedelta_from_start({"months": 1}, start) == timedelta(days=31)
    assert time.monotonic() - began < 5, "a generous bound: the per-month loop it replaces ran for minutes"


def _timer_diagram(expr: str) -> Process:
    p = Process("long_wait")
    p.node("start", "startEvent").node("wait", "intermediateCatchEvent", "Wait", timer_duration(expr))
    p.node("end", "endEvent")
    return p.chain("start", "wait", "end")


def test_validate_names_the_duration_limit(tmp_path):
    path = _timer_diagram('"P99999999Y"').write(tmp_path)
    messages = [d.message for d in validate_paths([path])]
    assert any("longer than the limit of 100 years" in m for m in messages), messages


def test_a_huge_duration_at_run_time_is_an_incident(engine, tmp_path):
    engine.deploy([_timer_diagram('"P" + str(years) + "Y"').write(tmp_path)])
    began = time.monotonic()
    inst = engine.start("long_wait", {"years": 99999999})
    assert time.monotonic() - began < 5
    assert inst.status == "incident"
    assert "longer than the limit of 100 years" in inst.incidents[0].message


def test_a_huge_task_due_date_does_not_hang_and_is_reported(engine, tmp_path):
    p = Process("due")
    p.node("start", "startEvent").node("work", "userTask", "Work", props(dueDate='"P99999999Y"'))
    p.node("end", "endEvent").chain("start", "work", "end")
    engine.deploy([p.write(tmp_path)], force=True)  # validate refuses it; the run-time bound is tested here
    began = time.monotonic()
    inst = engine.start("due", {})
    assert time.monotonic() - began < 5
    detail = engine.get_instance(inst.id)
    warnings = [h for h in detail.history if h.event == "warning"]
    assert inst.status == "waiting" and len(inst.open_tasks) == 1, "the task is kept, without a due date"
    assert any("longer than the limit of 100 years" in str(w.data_delta) for w in warnings), warnings


@pytest.mark.parametrize("prop, expr, warning", [
    ("priority", "10**30", "out of range"),
    ("priority", "[1]", "priority must be a whole number, not list"),
    ("assignee", "['ann', 'bob']", "assignee must be one user name, not a list"),
])
def test_routing_values_unfit_for_their_field_warn_and_keep_the_task(engine, tmp_path, prop, expr, warning):
    p = Process("routed")
    p.node("start", "startEvent").node("work", "userTask", "Work", props(**{prop: expr}))
    p.node("end", "endEvent").chain("start", "work", "end")
    engine.deploy([p.write(tmp_path)])
    inst = engine.start("routed", {})
    assert inst.status == "waiting" and len(inst.open_tasks) == 1
    warnings = [str(h.data_delta) for h in engine.get_instance(inst.id).history if h.event == "warning"]
    assert any(warning in w for w in warnings), warnings
