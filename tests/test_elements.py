"""One small diagram per supported BPMN element, run through the facade.

Every action (start, complete, correlate, fire timers) runs on a NEW Engine made by
`make_engine()`, so each wait is crossed only through the state saved in the database.
Diagrams live in tests/diagrams/elements/ and open in bpmn.io (full BPMNDI).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from element_helpers import ELEMENTS, Restarting
from lxml import etree

from engine import BpmnError, Engine, HandlerRegistry, ManualClock, NoSubscriber

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # the `clock` fixture's start
SECOND = timedelta(seconds=1)


@pytest.fixture
def run(make_engine: Callable[..., Engine], clock: ManualClock) -> Restarting:
    assert clock.now() == START
    return Restarting(make_engine, clock)


def task_states(run: Restarting, instance_id: int) -> dict[str, list[str]]:
    """element id -> states of its task rows, in creation order."""
    states: dict[str, list[str]] = {}
    rows = sorted(run.engine().list_tasks(state="all", instance_id=instance_id), key=lambda t: t.created_at)
    for row in rows:
        states.setdefault(row.element_id, []).append(row.state)
    return states


def timer_rows(run: Restarting, instance_id: int) -> list[tuple[str, str, datetime, str]]:
    return [(t.element_id, t.kind, t.due_at, t.state) for t in run.timers(instance_id)]


# -- the diagrams themselves -----------------------------------------------------------

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
NS = {
    "bpmn": BPMN[1:-1],
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
}
NOT_DRAWN = {"sequenceFlow", "extensionElements", "incoming", "outgoing", "script", "documentation", "property",
             "multiInstanceLoopCharacteristics", "standardLoopCharacteristics", "laneSet"}


@pytest.mark.parametrize("path", sorted(ELEMENTS.glob("*.bpmn")), ids=lambda p: p.name)
def test_element_diagram_is_drawable(path: Any) -> None:
    """bpmn.io needs a shape with bounds for every flow node and an edge for every flow."""
    tree = etree.parse(str(path))
    containers = tree.xpath("//bpmn:process | //bpmn:subProcess", namespaces=NS)
    nodes = {
        child.get("id")
        for container in containers
        for child in container
        if isinstance(child.tag, str) and child.tag.startswith(BPMN) and etree.QName(child).localname not in NOT_DRAWN
    }
    flows = set(tree.xpath("//bpmn:sequenceFlow/@id", namespaces=NS))
    shapes = {
        s.get("bpmnElement") for s in tree.xpath("//bpmndi:BPMNShape[dc:Bounds]", namespaces=NS)
    }
    edges = {
        e.get("bpmnElement") for e in tree.xpath("//bpmndi:BPMNEdge", namespaces=NS)
        if len(e.xpath("di:waypoint", namespaces=NS)) >= 2
    }
    assert nodes and flows
    assert nodes - shapes == set()
    assert flows - edges == set()


# -- start and end events -------------------------------------------------------------

def test_plain_start_and_end(run: Restarting) -> None:
    run.deploy("start_end_plain.bpmn")
    iid = run.start("el_plain", {"lead": "L-1"})
    assert run.instance(iid).status == "waiting"
    assert run.open_tasks(iid) == ["review"]

    run.complete(iid, "review", {"ok": True}, user="ann")

    inst = run.instance(iid)
    assert inst.status == "completed"
    assert inst.ended_at is not None
    assert run.path(iid) == ["start", "review", "end"]
    assert inst.data == {"lead": "L-1", "ok": True}
    assert run.task(iid, "review", state="completed").completed_by == "ann"
    assert [h.event for h in inst.history][-1] == "instance_completed"


def test_terminate_end_cancels_open_parallel_task(run: Restarting) -> None:
    run.deploy("end_terminate.bpmn")
    iid = run.start("el_terminate")
    assert run.open_tasks(iid) == ["finish", "keep_open"]

    run.complete(iid, "finish")

    inst = run.instance(iid)
    # SpiffWorkflow marks a terminated workflow as successfully completed.
    assert inst.status == "completed"
    assert run.path(iid) == ["start", "split", "finish", "terminate"]
    assert "keep_open" not in run.path(iid) and "end_normal" not in run.path(iid)
    assert task_states(run, iid) == {"finish": ["completed"], "keep_open": ["cancelled"]}
    assert inst.open_tasks == []


def test_uncaught_error_end_event_completes_the_instance(run: Restarting) -> None:
    """Real behaviour: an error end event with no catcher at the top level just ends the
    process (SpiffWorkflow queues the error as an external event; the engine ignores it)."""
    run.deploy("end_error_uncaught.bpmn")
    iid = run.start("el_error_end")
    run.complete(iid, "check")

    inst = run.instance(iid)
    assert inst.status == "completed"
    assert run.path(iid) == ["start", "check", "fail"]
    assert inst.incidents == []


# -- tasks ----------------------------------------------------------------------------

def test_script_task_runs_after_reload(run: Restarting) -> None:
    run.deploy("script_task.bpmn")
    iid = run.start("el_script", {"price": 5})
    assert "compute" not in run.path(iid)

    run.complete(iid, "enter", {"qty": 3})

    inst = run.instance(iid)
    assert inst.status == "completed"
    assert run.path(iid) == ["start", "enter", "compute", "end"]
    assert inst.data == {"price": 5, "qty": 3, "total": 15, "label": "3 x 5"}
    compute = next(h for h in inst.history if h.event == "completed" and h.element_id == "compute")
    assert compute.data_delta == {"set": {"total": 15, "label": "3 x 5"}}


def test_service_task_calls_handler_with_parameters(run: Restarting, registry: HandlerRegistry) -> None:
    calls: list[dict[str, Any]] = []

    @registry.operation("test/lookup_lead")
    def lookup_lead(ctx: Any, lead_id: int, source: str) -> dict[str, Any]:
        calls.append({"lead_id": lead_id, "source": source, "element": ctx.element_id, "instance": ctx.instance_id})
        return {"id": lead_id, "name": "Ada"}

    run.deploy("service_task.bpmn")
    iid = run.start("el_service", {"lead_id": 7})
    assert calls == [{"lead_id": 7, "source": "web", "element": "lookup", "instance": iid}]
    assert run.instance(iid).data["lead"] == {"id": 7, "name": "Ada"}

    run.complete(iid, "confirm")

    inst = run.instance(iid)
    assert inst.status == "completed"
    assert run.path(iid) == ["start", "lookup", "confirm", "end"]
    assert len(calls) == 1, "the handler must not run again when the instance is reloaded"


def test_user_task_properties_and_completion(run: Restarting) -> None:
    run.deploy("user_task.bpmn")
    iid = run.start("el_user", {"owner": "ann"})
    task = run.task(iid, "approve")
    assert task.kind == "user"
    assert task.name == "Approve deal"
    assert task.assignee == "ann"
    assert task.candidate_groups == ["sales", "managers"]
    assert task.priority == 2
    assert task.due_at == START + timedelta(days=2)
    assert task.form == "approve.schema.json"
    assert task.instructions == "Approve the deal"

    run.complete(iid, "approve", {"approved": True}, user="ann")

    inst = run.instance(iid)
    assert inst.status == "completed"
    assert inst.data == {"owner": "ann", "approved": True}
    done = next(h for h in inst.history if h.event == "completed" and h.element_id == "approve")
    assert done.user == "ann"
    assert done.data_delta == {"set": {"approved": True}}


def test_manual_task(run: Restarting) -> None:
    run.deploy("manual_task.bpmn")
    iid = run.start("el_manual")
    assert run.task(iid, "post_letter").kind == "manual"

    run.complete(iid, "post_letter", user="bob")

    assert run.instance(iid).status == "completed"
    assert run.path(iid) == ["start", "post_letter", "end"]


@pytest.mark.parametrize(
    ("customer_type", "amount", "discount"),
    [("gold", 5000, 15), ("gold", 500, 10), ("silver", 5000, 5), ("silver", 10, 0)],
)
def test_business_rule_task_with_dmn(run: Restarting, customer_type: str, amount: int, discount: int) -> None:
    run.deploy("business_rule.bpmn", "discount.dmn")
    iid = run.start("el_dmn", {"customer_type": customer_type, "amount": amount})
    assert run.instance(iid).data["discount"] == discount

    run.complete(iid, "review")

    inst = run.instance(iid)
    assert inst.status == "completed"
    assert run.path(iid) == ["start", "decide_discount", "review", "end"]
    assert inst.data == {"customer_type": customer_type, "amount": amount, "discount": discount}


# -- gateways -------------------------------------------------------------------------

def test_exclusive_gateway_condition_branch(run: Restarting) -> None:
    run.deploy("gateway_exclusive.bpmn")
    iid = run.start("el_xor", {"amount": 5000})
    assert run.open_tasks(iid) == ["manager_approval"]

    run.complete(iid, "manager_approval", {"approved_by": "boss"})

    assert run.path(iid) == ["start", "big_deal", "manager_approval", "merge", "end"]
    assert run.instance(iid).data == {"amount": 5000, "approved_by": "boss"}


def test_exclusive_gateway_default_branch(run: Restarting) -> None:
    run.deploy("gateway_exclusive.bpmn")
    iid = run.start("el_xor", {"amount": 50})

    inst = run.instance(iid)
    assert inst.status == "completed"
    assert run.path(iid) == ["start", "big_deal", "auto_approve", "merge", "end"]
    assert inst.data == {"amount": 50, "approved_by": "system"}


def test_parallel_gateway_waits_for_both_branches(run: Restarting) -> None:
    run.deploy("gateway_parallel.bpmn")
    iid = run.start("el_and")
    assert run.open_tasks(iid) == ["check_credit", "check_stock"]

    run.complete(iid, "check_credit", {"credit_ok": True})
    assert run.instance(iid).status == "waiting"
    assert "join" not in run.path(iid)
    assert run.open_tasks(iid) == ["check_stock"]

    run.complete(iid, "check_stock", {"stock_ok": False})

    inst = run.instance(iid)
    assert inst.status == "completed"
    assert run.path(iid) == ["start", "fork", "check_credit", "check_stock", "join", "summarize", "end"]
    assert inst.data == {"credit_ok": True, "stock_ok": False, "both": False}


def test_inclusive_gateway_takes_every_true_branch_and_joins(run: Restarting) -> None:
    run.deploy("gateway_inclusive.bpmn")
    iid = run.start("el_or", {"by_phone": True, "by_email": True, "by_letter": False})
    assert run.open_tasks(iid) == ["call", "email"]

    run.complete(iid, "email")
    assert run.instance(iid).status == "waiting"
    assert run.open_tasks(iid) == ["call"]

    run.complete(iid, "call")

    assert run.instance(iid).status == "completed"
    assert run.path(iid) == ["start", "channels", "email", "call", "join", "end"]
    assert "letter" not in task_states(run, iid)


def test_event_based_gateway_message_first_cancels_timer(run: Restarting, clock: ManualClock) -> None:
    run.deploy("gateway_event_based.bpmn")
    iid = run.start("el_eventgw", business_key="C-1")
    inst = run.instance(iid)
    assert [(s.element_id, s.message_name) for s in inst.subscriptions] == [("wait", "customer_reply")]
    assert timer_rows(run, iid) == [("wait", "duration", START + timedelta(days=1), "pending")]

    clock.advance(timedelta(hours=3))
    run.correlate("customer_reply", key="C-1", data={"text": "yes please"})

    inst = run.instance(iid)
    assert inst.status == "completed"
    assert run.path(iid) == ["start", "wait", "reply", "record_reply", "end_reply"]
    assert inst.data == {"text": "yes please", "outcome": "replied"}
    assert timer_rows(run, iid) == [("wait", "duration", START + timedelta(days=1), "cancelled")]
    assert inst.subscriptions == []
    assert run.fire_at(START + timedelta(days=2)) == []


def test_event_based_gateway_timer_first_drops_subscription(run: Restarting) -> None:
    run.deploy("gateway_event_based.bpmn")
    iid = run.start("el_eventgw", business_key="C-2")
    due = START + timedelta(days=1)

    assert run.fire_at(due - SECOND) == []
    assert run.instance(iid).status == "waiting"
    fired = run.fire_at(due + SECOND)

    assert [(f.instance_id, f.element_id, f.due_at) for f in fired] == [(iid, "wait", due)]
    inst = run.instance(iid)
    assert inst.status == "completed"
    assert run.path(iid) == ["start", "wait", "one_day", "chase", "end_timeout"]
    assert inst.data == {"outcome": "chased"}
    assert inst.subscriptions == []
    with pytest.raises(NoSubscriber):
        run.correlate("customer_reply", key="C-2")


# -- timers ---------------------------------------------------------------------------

def test_timer_date_intermediate(run: Restarting) -> None:
    run.deploy("timer_date_intermediate.bpmn")
    due = datetime(2026, 1, 6, 12, 0, tzinfo=UTC)
    iid = run.start("el_timer_date", {"follow_up_at": due.isoformat()})
    assert timer_rows(run, iid) == [("until_date", "date", due, "pending")]
    assert run.engine().list_timers(due_before=due - SECOND) == []

    assert run.fire_at(due - SECOND) == []
    assert run.path(iid) == ["start"]
    fired = run.fire_at(due + SECOND)

    assert [(f.element_id, f.due_at, f.fired_at) for f in fired] == [("until_date", due, due + SECOND)]
    inst = run.instance(iid)
    assert inst.status == "completed"
    assert run.path(iid) == ["start", "until_date", "follow_up", "end"]
    assert inst.data["followed_up"] is True
    assert timer_rows(run, iid) == [("until_date", "date", due, "fired")]
    assert run.fire_at(due + timedelta(days=1)) == [], "a timer fires once"


def test_timer_duration_intermediate(run: Restarting) -> None:
    run.deploy("timer_duration_intermediate.bpmn")
    iid = run.start("el_timer_duration")
    due = START + timedelta(hours=2)
    assert timer_rows(run, iid) == [("two_hours", "duration", due, "pending")]

    assert run.fire_at(due - SECOND) == []
    assert run.fire_at(due + SECOND)[0].element_id == "two_hours"

    assert run.instance(iid).status == "completed"
    assert run.path(iid) == ["start", "two_hours", "follow_up", "end"]
    assert [e.element_id for e in run.events(iid, "timer_fired")] == ["two_hours"]


def test_timer_fires_exactly_at_its_due_time(run: Restarting) -> None:
    run.deploy("timer_duration_intermediate.bpmn")
    iid = run.start("el_timer_duration")
    due = START + timedelta(hours=2)

    fired = run.fire_at(due)

    assert [f.element_id for f in fired] == ["two_hours"]
    assert run.instance(iid).status == "completed"


def test_timer_boundary_interrupting_fires(run: Restarting) -> None:
    run.deploy("timer_boundary_interrupting.bpmn")
    iid = run.start("el_timer_bi")
    due = START + timedelta(hours=4)
    assert timer_rows(run, iid) == [("too_late", "duration", due, "pending")]

    assert run.fire_at(due - SECOND) == []
    assert run.open_tasks(iid) == ["call_customer"]
    assert [f.element_id for f in run.fire_at(due + SECOND)] == ["too_late"]

    assert task_states(run, iid) == {"call_customer": ["cancelled"], "escalate": ["open"]}
    run.complete(iid, "escalate")
    assert run.instance(iid).status == "completed"
    assert run.path(iid) == ["start", "too_late", "escalate", "end_escalated"]


def test_timer_boundary_interrupting_not_reached(run: Restarting, clock: ManualClock) -> None:
    run.deploy("timer_boundary_interrupting.bpmn")
    iid = run.start("el_timer_bi")
    clock.advance(timedelta(hours=1))
    run.complete(iid, "call_customer")

    assert run.instance(iid).status == "completed"
    assert run.path(iid) == ["start", "call_customer", "end"]
    assert timer_rows(run, iid) == [("too_late", "duration", START + timedelta(hours=4), "cancelled")]
    assert run.fire_at(START + timedelta(hours=5)) == []


def test_timer_boundary_non_interrupting_keeps_task_open(run: Restarting) -> None:
    run.deploy("timer_boundary_noninterrupting.bpmn")
    iid = run.start("el_timer_bn")
    due = START + timedelta(hours=1)
    assert timer_rows(run, iid) == [("sla_warning", "duration", due, "pending")]

    assert run.fire_at(due - SECOND) == []
    assert [f.element_id for f in run.fire_at(due + SECOND)] == ["sla_warning"]

    inst = run.instance(iid)
    assert inst.status == "waiting"
    assert run.open_tasks(iid) == ["resolve_case"], "a non-interrupting timer leaves the task open"
    assert run.path(iid) == ["start", "sla_warning", "warn", "end_warned"]
    assert inst.data == {"warned": True}

    run.complete(iid, "resolve_case")
    assert run.instance(iid).status == "completed"
    assert run.path(iid)[-2:] == ["resolve_case", "end"]


def test_timer_cycle_boundary_fires_twice_then_stops(run: Restarting) -> None:
    """`R2/PT1H` on a non-interrupting boundary: SpiffWorkflow's first occurrence is one
    interval after the task starts (10:00), the second at 11:00; then the boundary event
    itself completes and nothing more is scheduled. Each firing runs the branch once."""
    run.deploy("timer_cycle_boundary.bpmn")
    iid = run.start("el_timer_cycle")
    first, second = START + timedelta(hours=1), START + timedelta(hours=2)
    assert timer_rows(run, iid) == [("hourly", "cycle", first, "pending")]

    assert run.fire_at(first - SECOND) == []
    assert [f.due_at for f in run.fire_at(first + SECOND)] == [first]
    assert timer_rows(run, iid) == [("hourly", "cycle", first, "fired"), ("hourly", "cycle", second, "pending")]
    assert run.path(iid).count("nudge") == 1
    assert run.open_tasks(iid) == ["work_case"]

    assert run.fire_at(second - SECOND) == []
    assert [f.due_at for f in run.fire_at(second + SECOND)] == [second]
    assert run.path(iid).count("nudge") == 2
    assert timer_rows(run, iid) == [("hourly", "cycle", first, "fired"), ("hourly", "cycle", second, "fired")]

    assert run.fire_at(START + timedelta(hours=3, seconds=1)) == []
    assert run.fire_at(START + timedelta(days=1)) == []
    assert run.path(iid).count("nudge") == 2
    assert run.open_tasks(iid) == ["work_case"]

    run.complete(iid, "work_case")
    assert run.instance(iid).status == "completed"
    assert run.path(iid)[-2:] == ["work_case", "end"]


# -- messages -------------------------------------------------------------------------

def test_message_intermediate_catch_by_business_key(run: Restarting) -> None:
    run.deploy("message_catch.bpmn")
    other = run.start("el_msg_catch", business_key="ORD-0")
    iid = run.start("el_msg_catch", business_key="ORD-1")
    subs = run.instance(iid).subscriptions
    assert [(s.element_id, s.message_name) for s in subs] == [("wait_payment", "order_paid")]

    delivered = run.correlate("order_paid", key="ORD-1", data={"amount": 120})

    assert delivered.id == iid
    inst = run.instance(iid)
    assert inst.status == "completed"
    assert run.path(iid) == ["start", "wait_payment", "book", "end"]
    assert inst.data == {"payment": {"amount": 120}, "booked": 120}
    assert [e.element_id for e in run.events(iid, "message_received")] == ["wait_payment"]
    assert run.instance(other).status == "waiting"


def test_message_throw_is_delivered_to_other_instance(run: Restarting) -> None:
    run.deploy("message_catch.bpmn", "message_throw.bpmn")
    bystander = run.start("el_msg_catch", business_key="ORD-9")
    receiver = run.start("el_msg_catch", business_key="ORD-2")
    sender = run.start("el_msg_throw", {"amount": 99}, business_key="ORD-2")
    assert run.instance(receiver).status == "waiting"

    run.complete(sender, "confirm")

    assert run.instance(sender).status == "completed"
    assert run.path(sender) == ["start", "confirm", "notify_paid", "end"]
    inst = run.instance(receiver)
    assert inst.status == "completed"
    assert inst.data == {"payment": {"amount": 99, "paid_by": "throw"}, "booked": 99}
    assert run.instance(bystander).status == "waiting"


def test_message_throw_with_no_receiver_is_recorded(run: Restarting) -> None:
    run.deploy("message_throw.bpmn")
    sender = run.start("el_msg_throw", {"amount": 1}, business_key="ORD-X")
    run.complete(sender, "confirm")

    assert run.instance(sender).status == "completed"
    unhandled = run.events(sender, "message_unhandled")
    assert [e.data_delta["message"] for e in unhandled] == ["order_paid"]


def test_message_start_event_starts_and_runs_process(run: Restarting) -> None:
    run.deploy("message_start.bpmn")

    started = run.correlate("lead_received", key="L-9", data={"lead_name": "Bo"})

    assert started.process_id == "el_msg_start"
    assert started.business_key == "L-9"
    inst = run.instance(started.id)
    assert run.path(started.id) == ["lead_in"]
    assert run.open_tasks(started.id) == ["qualify"]
    assert inst.subscriptions == []
    assert inst.data == {"lead_name": "Bo"}


def test_message_boundary_interrupts_task(run: Restarting) -> None:
    run.deploy("message_boundary.bpmn")
    iid = run.start("el_msg_boundary", business_key="Q-1")
    assert [s.element_id for s in run.instance(iid).subscriptions] == ["withdrawn"]

    run.correlate("request_withdrawn", key="Q-1", data={"reason": "budget"})

    inst = run.instance(iid)
    assert inst.status == "completed"
    assert run.path(iid) == ["start", "withdrawn", "close_request", "end_withdrawn"]
    assert task_states(run, iid) == {"prepare_quote": ["cancelled"]}
    assert inst.data == {"reason": "budget", "closed": True}
    assert inst.subscriptions == []


def test_message_boundary_not_triggered(run: Restarting) -> None:
    run.deploy("message_boundary.bpmn")
    iid = run.start("el_msg_boundary", business_key="Q-2")
    run.complete(iid, "prepare_quote")

    assert run.path(iid) == ["start", "prepare_quote", "end"]
    assert run.instance(iid).subscriptions == []
    with pytest.raises(NoSubscriber):
        run.correlate("request_withdrawn", key="Q-2")


# -- errors and escalations -------------------------------------------------------------

def _charge_handler(registry: HandlerRegistry) -> list[int]:
    calls: list[int] = []

    @registry.operation("test/charge_card")
    def charge_card(ctx: Any, amount: int) -> dict[str, Any]:
        calls.append(amount)
        if amount > 100:
            raise BpmnError("E42", "card declined", data={"limit": 100})
        return {"ok": True}

    return calls


def test_error_boundary_on_service_task(run: Restarting, registry: HandlerRegistry) -> None:
    calls = _charge_handler(registry)
    run.deploy("error_boundary_service.bpmn")
    iid = run.start("el_error_service", {"amount": 500})

    inst = run.instance(iid)
    assert calls == [500]
    assert inst.status == "waiting"
    assert inst.incidents == []
    assert [(e.element_id, e.data_delta) for e in run.events(iid, "error_thrown")] == [
        ("charge_card", {"code": "E42"})
    ]
    assert run.path(iid) == ["start", "declined"]
    assert run.open_tasks(iid) == ["fix_payment"]

    run.complete(iid, "fix_payment")
    assert run.instance(iid).status == "completed"
    assert run.path(iid) == ["start", "declined", "fix_payment", "end_fixed"]
    assert calls == [500]


def test_error_boundary_not_triggered(run: Restarting, registry: HandlerRegistry) -> None:
    _charge_handler(registry)
    run.deploy("error_boundary_service.bpmn")
    iid = run.start("el_error_service", {"amount": 50})

    inst = run.instance(iid)
    assert inst.status == "completed"
    assert run.path(iid) == ["start", "charge_card", "end"]
    assert inst.data == {"amount": 50, "charge": {"ok": True}}


def test_error_end_in_subprocess_caught_on_subprocess(run: Restarting) -> None:
    run.deploy("error_end_subprocess.bpmn")
    iid = run.start("el_error_sub")
    assert run.open_tasks(iid) == ["check_docs"]

    run.complete(iid, "check_docs", {"docs_complete": False})

    inst = run.instance(iid)
    assert inst.status == "completed"
    path = run.path(iid)
    assert path == [
        "start", "sub_start", "check_docs", "docs_ok", "sub_error", "docs_missing", "request_docs", "end_requested"
    ]
    assert "verify" not in path and "end" not in path
    assert inst.data["docs_requested"] is True


def test_subprocess_without_error_takes_normal_path(run: Restarting) -> None:
    run.deploy("error_end_subprocess.bpmn")
    iid = run.start("el_error_sub")
    run.complete(iid, "check_docs", {"docs_complete": True})

    assert run.path(iid) == ["start", "sub_start", "check_docs", "docs_ok", "sub_end", "verify", "end"]
    assert "docs_requested" not in run.instance(iid).data


def test_escalation_non_interrupting_from_subprocess(run: Restarting) -> None:
    run.deploy("escalation_subprocess.bpmn")
    iid = run.start("el_escalation")

    run.complete(iid, "draft", {"price": 10})

    inst = run.instance(iid)
    assert inst.status == "waiting"
    assert run.path(iid) == [
        "start", "sub_start", "draft", "need_approval", "escalated", "notify_manager", "end_notified"
    ]
    assert run.open_tasks(iid) == ["finalize"], "the subprocess goes on after a non-interrupting escalation"
    assert inst.data["manager_notified"] is True

    run.complete(iid, "finalize")
    assert run.instance(iid).status == "completed"
    assert run.path(iid)[-4:] == ["finalize", "sub_end", "offer", "end"]


def test_escalation_end_interrupting_boundary(run: Restarting) -> None:
    run.deploy("escalation_end_interrupting.bpmn")
    iid = run.start("el_escalation_end")

    run.complete(iid, "assess")

    assert run.path(iid) == ["start", "sub_start", "assess", "sub_escalate", "claim_escalated"]
    assert run.open_tasks(iid) == ["senior_review"]
    run.complete(iid, "senior_review")
    assert run.instance(iid).status == "completed"
    path = run.path(iid)
    assert path[-2:] == ["senior_review", "end_senior"]
    assert "handle_claim" not in path and "end" not in path


# -- signals --------------------------------------------------------------------------

def test_signal_throw_caught_by_intermediate_catch_in_parallel_branch(run: Restarting) -> None:
    run.deploy("signal_parallel.bpmn")
    iid = run.start("el_signal")
    assert run.open_tasks(iid) == ["prepare"]
    assert "wait_go" not in run.path(iid)

    run.complete(iid, "prepare")

    inst = run.instance(iid)
    assert inst.status == "completed"
    assert run.path(iid) == ["start", "fork", "prepare", "send_go", "wait_go", "launch", "join", "end"]
    assert inst.data == {"launched": True}


def test_signal_throw_caught_by_boundary_in_parallel_branch(run: Restarting) -> None:
    run.deploy("signal_boundary.bpmn")
    iid = run.start("el_signal_boundary")
    assert run.open_tasks(iid) == ["decide", "draft_mail"]

    run.complete(iid, "decide")

    assert run.instance(iid).status == "completed"
    path = run.path(iid)
    assert path[:3] == ["start", "fork", "decide"]
    assert {"send_stop", "stop_signal", "end_b", "end_stopped"} <= set(path)
    assert "draft_mail" not in path and "end_a" not in path
    assert task_states(run, iid) == {"decide": ["completed"], "draft_mail": ["cancelled"]}


# -- subprocesses and call activities ---------------------------------------------------

def test_embedded_subprocess(run: Restarting) -> None:
    run.deploy("subprocess_embedded.bpmn")
    iid = run.start("el_subprocess")
    assert run.open_tasks(iid) == ["fill_form"]

    run.complete(iid, "fill_form", {"size": 6})

    inst = run.instance(iid)
    assert inst.status == "completed"
    assert run.path(iid) == ["start", "sub_start", "fill_form", "score", "sub_end", "assess", "grade", "end"]
    assert inst.data == {"size": 6, "score": 60, "grade": "A"}


def test_call_activity_across_two_files(run: Restarting) -> None:
    run.deploy("call_activity_parent.bpmn", "call_activity_child.bpmn")
    iid = run.start("el_call_parent", {"x": 21})
    task = run.task(iid, "child_task")
    assert task.process_id == "el_call_parent"

    run.complete(iid, "child_task")

    inst = run.instance(iid)
    assert inst.status == "completed"
    assert run.path(iid) == ["start", "start", "child_task", "double_it", "end", "call_child", "after_call", "end"]
    assert inst.data == {"x": 21, "doubled": 42, "parent_saw": 42}


# -- loops ----------------------------------------------------------------------------

def test_multi_instance_sequential(run: Restarting) -> None:
    run.deploy("multi_instance_sequential.bpmn")
    iid = run.start("el_mi_seq", {"contacts": ["ann", "bob", "cy"]})

    answers = {"ann": "yes", "bob": "no", "cy": "yes"}
    seen = []
    for _ in range(3):
        open_rows = run.engine().list_tasks(state="open", instance_id=iid)
        assert len(open_rows) == 1, "a sequential multi-instance offers one item at a time"
        seen.append(open_rows[0].assignee)
        row = open_rows[0]
        run.engine().complete_task(row.id, user=row.assignee, data={"answer": answers[row.assignee]})

    assert seen == ["ann", "bob", "cy"]
    inst = run.instance(iid)
    assert inst.status == "completed"
    assert inst.data["answers"] == ["yes", "no", "yes"]
    assert inst.data["yes_count"] == 2
    assert task_states(run, iid) == {"survey": ["completed"] * 3}
    assert run.path(iid)[-2:] == ["tally", "end"]


def test_multi_instance_parallel(run: Restarting) -> None:
    run.deploy("multi_instance_parallel.bpmn")
    iid = run.start("el_mi_par", {"contacts": ["ann", "bob", "cy"]})
    rows = run.engine().list_tasks(state="open", instance_id=iid)
    assert sorted(r.assignee for r in rows) == ["ann", "bob", "cy"], "all items are open at once"

    by_assignee = {r.assignee: r.id for r in rows}
    for who, answer in [("cy", "maybe"), ("ann", "yes"), ("bob", "no")]:
        assert run.instance(iid).status == "waiting"
        run.engine().complete_task(by_assignee[who], user=who, data={"answer": answer})

    inst = run.instance(iid)
    assert inst.status == "completed"
    # SpiffWorkflow appends a parallel instance's output item to a list output when that
    # instance completes, so the list is in completion order (a dict output would be keyed).
    assert inst.data["answers"] == ["maybe", "yes", "no"]
    assert inst.data["yes_count"] == 1
    assert run.path(iid)[-2:] == ["tally", "end"]


def test_standard_loop_until_condition(run: Restarting) -> None:
    """`loopCondition` is a while-condition (`not reached`): the task repeats until it is false."""
    run.deploy("standard_loop.bpmn")
    iid = run.start("el_loop")

    for reached in (False, False, True):
        rows = run.engine().list_tasks(state="open", instance_id=iid)
        assert [r.element_id for r in rows] == ["attempt_contact"]
        run.engine().complete_task(rows[0].id, data={"reached": reached})

    inst = run.instance(iid)
    assert inst.status == "completed"
    assert inst.data == {"reached": True}
    assert task_states(run, iid) == {"attempt_contact": ["completed"] * 3}
    assert run.path(iid)[-1] == "end"


def test_event_gateway_message_after_the_timer_is_due_takes_only_the_message_branch(run: Restarting) -> None:
    """Upstream SpiffWorkflow 3.2 ran both branches here (see engine/spiff/event_gateway.py)."""
    from datetime import timedelta

    run.deploy("gateway_event_based.bpmn")
    iid = run.start("el_eventgw", business_key="C-1")
    run.clock.advance(timedelta(days=1, seconds=1))  # the timer is due, no scheduler pass yet
    run.correlate("customer_reply", key="C-1")
    path = run.path(iid)
    assert "record_reply" in path and "chase" not in path, path
