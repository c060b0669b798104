"""Conformance: one small diagram per element and variant, run through the engine facade.

Every action runs on a NEW Engine (same database), so each wait is crossed only through
saved state. Runs on SQLite, and on PostgreSQL when CRMFLOW_TEST_DB names one (tests/conftest.py).
The README's element support table is generated from `conformance_cases.CASES`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conformance_cases import CASES, README, Case, block, readme_block

from engine import DefinitionError, Engine, ManualClock
from engine.validation import validate

DIAGRAMS = Path(__file__).parent / "diagrams"


class Run:
    """Drives one diagram through fresh engines and reads what happened."""

    def __init__(self, make_engine: Callable[..., Engine], clock: ManualClock, name: str) -> None:
        self.make_engine, self.clock, self.name = make_engine, clock, name
        make_engine().deploy([DIAGRAMS / f"{name}.bpmn"])

    def start(self, data: dict[str, Any] | None = None, key: str | None = None) -> int:
        return self.make_engine().start(self.name, data or {}, business_key=key).id

    def show(self, instance_id: int) -> Any:
        return self.make_engine().get_instance(instance_id)

    def completed(self, instance_id: int) -> list[str]:
        return [h.element_id for h in self.make_engine().history(instance_id) if h.event == "completed"]

    def open_tasks(self, instance_id: int) -> list[str]:
        return sorted(t.element_id for t in self.make_engine().list_tasks(state="open", instance_id=instance_id))

    def complete(self, instance_id: int, element_id: str, data: dict[str, Any] | None = None) -> None:
        eng = self.make_engine()
        task = next(t for t in eng.list_tasks(state="open", instance_id=instance_id) if t.element_id == element_id)
        eng.complete_task(task.id, data=data)

    def correlate(self, message: str, key: str | None = None, data: dict[str, Any] | None = None) -> None:
        self.make_engine().correlate(message, key=key, data=data)

    def later(self, delta: timedelta) -> None:
        self.clock.set(self.clock.now() + delta)
        self.make_engine().fire_due_timers()


DIAGRAM_OF = {"esp_trigger_leaves_the_spec_alone": "esp_message_interrupting",
              "transaction_completes": "transaction_cancel",
              "esp_timer_retired": "esp_timer_interrupting"}


@pytest.fixture
def run(make_engine: Callable[..., Engine], clock: ManualClock, request: pytest.FixtureRequest) -> Run:
    name = request.node.name.removeprefix("test_")
    return Run(make_engine, clock, DIAGRAM_OF.get(name, name))


# -- link events ------------------------------------------------------------------------------


def test_link_top(run: Run) -> None:
    i = run.start()
    assert run.show(i).status == "completed"
    assert run.completed(i) == ["start", "before", "go_page2", "page2", "after", "end"]
    assert run.show(i).data == {"a": 1, "b": 2}


def test_link_subprocess(run: Run) -> None:
    i = run.start()
    assert run.show(i).status == "completed"
    done = run.completed(i)
    assert done.index("go_page2") < done.index("page2") < done.index("after") < done.index("outside")
    assert run.show(i).data["c"] == 3


# -- event sub-processes ----------------------------------------------------------------------


def test_esp_message_interrupting(run: Run) -> None:
    i = run.start(key="o1")
    assert [s.message_name for s in run.show(i).subscriptions] == ["cancel_order"]  # armed
    run.correlate("cancel_order", key="o1", data={"reason": "late"})
    inst = run.show(i)
    assert inst.status == "completed"
    assert run.open_tasks(i) == []  # the main flow was interrupted
    assert "work" not in run.completed(i) and "end" not in run.completed(i)
    assert {"cancel_received", "mark_cancelled", "cancel_end"} <= set(run.completed(i))
    assert inst.data["cancelled"] is True and inst.data["reason"] == "late"


def test_esp_signal_interrupting(run: Run) -> None:
    i = run.start()
    assert run.make_engine().signal("cancel_all").delivered == [i]
    inst = run.show(i)
    assert inst.status == "completed" and run.open_tasks(i) == []
    assert "work" not in run.completed(i) and inst.data["cancelled"] is True


def test_esp_trigger_leaves_the_spec_alone(run: Run) -> None:
    """One engine (one cached spec): triggering an event sub-process in one instance does not
    make the next instance start it with its main flow."""
    eng = run.make_engine()
    first = eng.start("esp_message_interrupting", {}, business_key="a").id
    eng.correlate("cancel_order", key="a")
    second = eng.start("esp_message_interrupting", {}, business_key="b")
    assert [t.element_id for t in second.open_tasks] == ["work"]
    assert [s.element_id for s in second.subscriptions] == ["cancel_received"]
    assert "mark_cancelled" not in run.completed(second.id) and run.show(first).status == "completed"


def test_esp_error_top(run: Run) -> None:
    i = run.start()
    inst = run.show(i)
    assert inst.status == "completed" and inst.data["refused"] is True
    # caught after it was thrown (it used to run as soon as the instance started: issue 15)
    assert run.completed(i) == ["start", "check_start", "refuse", "refused", "mark_refused", "refused_end",
                                "on_refusal"]
    assert "end" not in run.completed(i)


def test_esp_conditional_interrupting(run: Run) -> None:
    i = run.start({"cancel_requested": False})
    assert run.open_tasks(i) == ["review", "work"]  # false at the start: not triggered
    run.complete(i, "review", {"cancel_requested": True})  # the data changes: it triggers
    inst = run.show(i)
    assert inst.status == "completed" and run.open_tasks(i) == []
    assert "work" not in run.completed(i) and inst.data["cancelled"] is True


def test_esp_conditional_noninterrupting(run: Run) -> None:
    i = run.start({"cancel_requested": False})
    run.complete(i, "review", {"cancel_requested": True})
    assert run.open_tasks(i) == ["work"]
    assert run.completed(i).count("mark_cancelled") == 1
    run.complete(i, "work", {"note": "still true"})  # stays true: no second start
    inst = run.show(i)
    assert inst.status == "completed" and run.completed(i).count("mark_cancelled") == 1


def test_esp_timer_in_subprocess(run: Run) -> None:
    i = run.start()
    assert [t.element_id for t in run.show(i).timers] == ["stop_received"]
    run.later(timedelta(hours=2))
    inst = run.show(i)
    assert inst.status == "completed" and run.open_tasks(i) == []
    done = run.completed(i)
    assert "check" not in done and done.index("mark_stopped") < done.index("after_review")


def test_esp_message_noninterrupting(run: Run) -> None:
    i = run.start(key="o2")
    run.correlate("cancel_order", key="o2")
    assert run.open_tasks(i) == ["work"]  # the main flow goes on
    assert "mark_cancelled" in run.completed(i)
    assert [(s.element_id, s.message_name) for s in run.show(i).subscriptions] == [("cancel_received", "cancel_order")]
    run.complete(i, "work")
    assert run.show(i).status == "completed"


def test_esp_message_in_subprocess(run: Run) -> None:
    i = run.start(key="r1")
    assert [s.element_id for s in run.show(i).subscriptions] == ["stop_received"]
    run.correlate("stop_review", key="r1")
    inst = run.show(i)
    assert run.open_tasks(i) == []
    assert inst.status == "completed"
    done = run.completed(i)
    assert "check" not in done and done.index("mark_stopped") < done.index("after_review")
    assert inst.data["reviewed"] is True


def test_esp_timer_interrupting(run: Run) -> None:
    i = run.start()
    assert [t.element_id for t in run.show(i).timers] == ["timeout"]
    run.later(timedelta(hours=2))
    inst = run.show(i)
    assert inst.status == "completed" and run.open_tasks(i) == []
    assert "work" not in run.completed(i)
    assert inst.data["timed_out"] is True


def test_esp_timer_noninterrupting(run: Run) -> None:
    i = run.start()
    run.later(timedelta(hours=2))
    assert run.open_tasks(i) == ["work"]
    assert "mark_timed_out" in run.completed(i)
    run.complete(i, "work")
    assert run.show(i).status == "completed"


@pytest.mark.parametrize("name", ["esp_timer_interrupting"])
def test_esp_timer_retired(make_engine: Callable[..., Engine], clock: ManualClock, name: str) -> None:
    run = Run(make_engine, clock, name)
    i = run.start()
    run.complete(i, "work")  # the flow ends first: the timer start is no longer needed
    inst = run.show(i)
    assert inst.status == "completed" and inst.timers == []
    assert "mark_timed_out" not in run.completed(i)


# -- signals -----------------------------------------------------------------------------------


# -- escalation start events in event sub-processes ---------------------------------------------


def test_esp_escalation_interrupting(run: Run) -> None:
    i = run.start()
    inst = run.show(i)
    assert inst.status == "completed" and run.open_tasks(i) == []  # the main flow was interrupted
    assert run.completed(i) == ["start", "raise_late", "late_caught", "mark_escalated", "escalated_end", "on_late"]
    assert inst.data == {"escalated": True}


def test_esp_escalation_noninterrupting(run: Run) -> None:
    i = run.start()
    assert run.show(i).status == "waiting" and run.open_tasks(i) == ["work"]  # the main flow goes on
    assert run.completed(i) == ["start", "raise_late", "late_caught", "mark_escalated", "escalated_end", "on_late"]
    run.complete(i, "work")
    inst = run.show(i)
    assert inst.status == "completed" and inst.data == {"escalated": True}
    assert run.completed(i)[-2:] == ["work", "end"]


def test_esp_escalation_in_subprocess(run: Run) -> None:
    i = run.start()
    inst = run.show(i)
    assert inst.status == "completed" and run.open_tasks(i) == []
    done = run.completed(i)
    assert "work" not in done and "handle_end" not in done  # the sub-process's flow was interrupted
    assert done == ["start", "handle_start", "raise_late", "late_caught", "mark_escalated", "escalated_end",
                    "on_late", "handle", "after", "end"]
    assert inst.data == {"escalated": True, "after": True}


def test_esp_escalation_noninterrupting_in_subprocess(run: Run) -> None:
    i = run.start()
    assert run.open_tasks(i) == ["work"] and run.show(i).data == {"escalated": True}
    run.complete(i, "work")
    inst = run.show(i)
    assert inst.status == "completed" and inst.data == {"escalated": True, "after": True}
    done = run.completed(i)
    assert done.index("work") < done.index("handle_end") < done.index("handle") < done.index("after")


@pytest.mark.parametrize("is_late", [False, True])
def test_esp_escalation_waits_for_throw(make_engine: Callable[..., Engine], clock: ManualClock, is_late: bool) -> None:
    """The event sub-process runs only when the escalation is thrown (not with its scope), and is
    retired when the scope's flow ends without one."""
    run = Run(make_engine, clock, "esp_escalation_waits_for_throw")
    i = run.start()
    assert run.open_tasks(i) == ["work"] and run.show(i).data == {}
    assert run.completed(i) == ["start"]
    run.complete(i, "work", {"is_late": is_late})
    inst = run.show(i)
    assert inst.status == "completed"
    if is_late:
        assert inst.data == {"is_late": True, "escalated": True}
        assert {"raise_late", "late_caught", "mark_escalated", "end"} <= set(run.completed(i))
    else:
        assert inst.data == {"is_late": False}
        assert run.completed(i)[-1] == "end_on_time" and "late_caught" not in run.completed(i)


# -- transactions and cancel events -----------------------------------------------------------


def test_transaction_cancel(run: Run) -> None:
    i = run.start({"paid": False})
    inst = run.show(i)
    # a cancelled transaction's data stays inside it (`booked` is not copied out)
    assert inst.status == "completed" and inst.data == {"paid": False, "cancelled": True}
    done = run.completed(i)
    assert done.index("book") < done.index("cancel_booking") < done.index("cancelled") < done.index("end_cancelled")
    assert "end" not in done and "booked_end" not in done


def test_transaction_completes(run: Run) -> None:
    i = run.start({"paid": True})
    inst = run.show(i)
    assert inst.status == "completed" and inst.data == {"paid": True, "booked": True}
    done = run.completed(i)
    assert done[-3:] == ["booked_end", "booking", "end"]
    assert not {"cancel_booking", "cancelled", "mark_cancelled"} & set(done)


def test_signal_end_interrupts_boundary(run: Run) -> None:
    i = run.start()
    inst = run.show(i)
    assert inst.status == "completed" and run.open_tasks(i) == []
    done = run.completed(i)
    assert done.index("send_stop") < done.index("stopped") < done.index("note_stop")
    assert "work" not in done
    assert inst.data["was_stopped"] is True


def test_signal_catch_broadcast(run: Run) -> None:
    first, second = run.start(), run.start()
    assert run.show(first).status == "waiting"
    sent = run.make_engine().signal("price_list_changed", {"list_name": "2027"})
    assert sorted(sent.delivered) == [first, second] and sent.started == []
    for i in (first, second):
        inst = run.show(i)
        assert inst.status == "completed" and inst.data["repriced"] is True and inst.data["list_name"] == "2027"
        assert run.completed(i) == ["start", "wait_prices", "reprice", "end"]


def test_signal_start(run: Run) -> None:
    sent = run.make_engine().signal("price_list_changed", {"list_name": "2027"})
    assert sent.delivered == [] and len(sent.started) == 1
    inst = run.show(sent.started[0])
    assert inst.status == "completed" and inst.data["notified"] == "2027"
    assert run.completed(inst.id) == ["prices_changed", "notify", "end"]


def test_signal_throw_broadcast(run: Run) -> None:
    run.make_engine().deploy([DIAGRAMS / "signal_catch_broadcast.bpmn"])
    waiting = run.make_engine().start("signal_catch_broadcast", {}).id
    thrower = run.start()
    assert run.show(thrower).status == "completed"
    assert run.show(waiting).status == "completed"
    assert "reprice" in run.completed(waiting)


def test_conditional_boundary(run: Run) -> None:
    i = run.start({"escalate": False})
    assert run.open_tasks(i) == ["review", "work"]
    run.complete(i, "review", {"escalate": True})  # a sibling branch changes the data
    inst = run.show(i)
    assert inst.status == "completed" and run.open_tasks(i) == []
    assert "work" not in run.completed(i) and inst.data["handed_over"] is True


# -- parallel multiple catch -------------------------------------------------------------------


@pytest.mark.parametrize("timer_first", [True, False], ids=["timer_first", "signal_first"])
def test_parallel_multiple_catch(make_engine: Callable[..., Engine], clock: ManualClock, timer_first: bool) -> None:
    run = Run(make_engine, clock, "parallel_multiple_catch")
    i = run.start()
    assert [t.element_id for t in run.show(i).timers] == ["signed_and_due"]
    if timer_first:
        run.later(timedelta(hours=2))
        assert run.show(i).status == "waiting" and run.show(i).timers == []  # fired: no longer armed
        assert run.make_engine().signal("books_open").delivered == [i]
    else:
        assert run.make_engine().signal("books_open").delivered == [i]
        assert run.show(i).status == "waiting"
        assert run.make_engine().signal("books_open").delivered == []  # caught: no longer armed
        run.later(timedelta(hours=2))
    inst = run.show(i)
    assert inst.status == "completed" and inst.data["invoiced"] is True
    assert run.completed(i) == ["start", "signed_and_due", "invoice", "end"]


# -- conditional events ------------------------------------------------------------------------


def test_conditional_reevaluated(run: Run) -> None:
    i = run.start({"approved": False})
    assert "when_approved" not in run.completed(i)  # false on arrival: it waits
    run.complete(i, "approve", {"approved": True})  # another branch changes the data
    inst = run.show(i)
    assert inst.status == "completed"
    done = run.completed(i)
    assert done.index("approve") < done.index("when_approved") < done.index("ship")
    assert inst.data["shipped"] is True


# -- refused elements: validate and deploy both name the element and its line ------------------


@pytest.mark.parametrize(("name", "element", "line", "words"), [
    ("refused_complex_gateway", "decide", 5, "complex gateway"),
    ("refused_compensation", "undo", 6, "compensation"),
])
def test_refused(make_engine: Callable[..., Engine], name: str, element: str, line: int, words: str) -> None:
    path = DIAGRAMS / f"{name}.bpmn"
    found = [d for d in validate([path]).diagnostics if d.is_error and d.rule == "crmflow/unsupported-element"]
    assert [(d.element_id, d.line) for d in found] == [(element, line)] and words in found[0].message
    with pytest.raises(DefinitionError) as refused:
        make_engine().deploy([path])
    assert f"{name}.bpmn:{line}:" in str(refused.value) and element in str(refused.value)
    assert words in str(refused.value)


@pytest.mark.parametrize("case", [c for c in CASES if c.status == "supported"], ids=lambda c: c.name)
def test_supported_diagram_validates(case: Case) -> None:
    """Each supported diagram passes `crmflow validate` (so a deploy that runs its checks takes it)."""
    path = DIAGRAMS / f"{DIAGRAM_OF.get(case.name, case.name)}.bpmn"
    errors = [f"{d.line}: {d.rule}: {d.message}" for d in validate([path]).diagnostics if d.is_error]
    assert errors == []


# -- the support table ------------------------------------------------------------------------


def test_every_case_has_a_test() -> None:
    names = {n.removeprefix("test_") for n in globals() if n.startswith("test_")}
    assert {c.name for c in CASES if c.status == "supported"} <= names
    refused = {c.name for c in CASES if c.status == "refused"}
    assert refused == {p[0] for p in test_refused.pytestmark[0].args[1]}


def test_readme_table_matches() -> None:
    assert readme_block(README.read_text()) == block(), (
        "README element table is out of date: run python tests/conformance/conformance_cases.py --write"
    )
