"""The operator console's engine operations (issue 16): cancel, suspend/resume, edit variables,
modify (move a token, with a dry run), fire a timer now and history cleanup. Runs on PostgreSQL
too (CRMFLOW_TEST_DB)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from bpmn_builder import Process, script, timer_duration

from engine import Conflict, InvalidInput
from engine.operations import Suspended
from engine.retention import Retention


def repair_process(tmp_path) -> Process:
    p = Process("repair", "Repair")
    p.node("start", "startEvent").node("qualify", "userTask", "Qualify lead")
    p.node("compute", "scriptTask", "Compute total", script("total = 100 / divisor"))
    p.node("wait", "intermediateCatchEvent", "Wait an hour", timer_duration('"PT1H"'))
    p.node("finish", "userTask", "Finish").node("end", "endEvent")
    p.chain("start", "qualify", "compute", "wait", "finish", "end")
    p.write(tmp_path)
    return p


def message_process(tmp_path) -> None:
    p = Process("pinged", "Pinged")
    p.root_elements = '<bpmn:message id="msg_ping" name="ping"/>'
    p.node("start", "startEvent").node("catch", "intermediateCatchEvent", "Ping",
                                       '<bpmn:messageEventDefinition messageRef="msg_ping"/>')
    p.node("end", "endEvent").chain("start", "catch", "end")
    p.write(tmp_path)


@pytest.fixture
def repair(engine, tmp_path):
    repair_process(tmp_path)
    message_process(tmp_path)
    engine.deploy([tmp_path / "repair.bpmn", tmp_path / "pinged.bpmn"])
    return engine


def start_at_qualify(engine, key: str = "R-1", divisor: int = 0):
    inst = engine.start("repair", {"divisor": divisor}, business_key=key)
    return inst.id, inst.open_tasks[0].id


def stuck(engine, key: str = "R-1"):
    """An instance whose 'Compute total' failed (division by zero)."""
    iid, task = start_at_qualify(engine, key)
    inst = engine.complete_task(task, user="ann")
    assert inst.status == "incident"
    return iid


def events(engine, iid):
    return [h for h in engine.history(iid)]


# -- edit variables, then retry ------------------------------------------------------------------

def test_editing_the_bad_variable_then_retrying_lets_the_instance_go_on(repair):
    iid = stuck(repair)
    [incident] = repair.get_instance(iid).incidents
    edited = repair.edit_variables(iid, '{"divisor": 4}', user="olga", reason="typo in the divisor")
    assert edited.status == "incident" and edited.data["divisor"] == 4, "nothing runs on an edit"
    entry = [h for h in events(repair, iid) if h.event == "variables_edited"][0]
    assert entry.user == "olga"
    assert entry.data_delta == {"old": {"divisor": 0}, "new": {"divisor": 4}, "reason": "typo in the divisor"}
    after = repair.retry_incident(incident.id)
    assert after.status == "waiting" and after.data["total"] == 25
    assert [t.element_id for t in after.timers] == ["wait"]


def test_variables_must_be_a_json_object_with_usable_names(repair):
    iid = stuck(repair)
    with pytest.raises(InvalidInput, match="not valid JSON"):
        repair.edit_variables(iid, "{divisor: 4}")
    with pytest.raises(InvalidInput, match="not usable as process variables"):
        repair.edit_variables(iid, {"bad name": 1})
    with pytest.raises(InvalidInput, match="nothing to change"):
        repair.edit_variables(iid, {})
    with pytest.raises(InvalidInput, match="no variable 'nope'"):
        repair.edit_variables(iid, None, remove=["nope"])
    removed = repair.edit_variables(iid, None, remove=["divisor"], user="olga")
    assert "divisor" not in removed.data


# -- suspend and resume ------------------------------------------------------------------------------

def test_a_suspended_instance_fires_no_timer_until_resumed(repair, clock):
    iid = stuck(repair)
    repair.edit_variables(iid, {"divisor": 2})
    repair.retry_incident(repair.get_instance(iid).incidents[0].id)
    suspended = repair.suspend_instance(iid, user="olga", reason="customer on hold")
    assert suspended.status == "suspended"
    clock.advance(timedelta(hours=2))
    assert repair.tick().timers_fired == [], "a due timer does not fire while suspended"
    assert repair.next_due_at() is None, "the scheduler is not woken for it either"
    with pytest.raises(Conflict, match="already suspended"):
        repair.suspend_instance(iid)
    resumed = repair.resume_instance(iid, user="olga")
    assert resumed.status == "waiting"
    fired = repair.tick().timers_fired
    assert [f.element_id for f in fired] == ["wait"]
    assert [t.element_id for t in repair.get_instance(iid).open_tasks] == ["finish"]
    kinds = [(h.event, h.user) for h in events(repair, iid)]
    assert ("instance_suspended", "olga") in kinds and ("instance_resumed", "olga") in kinds


def test_a_suspended_instance_takes_no_completion_and_no_message(repair):
    iid, task = start_at_qualify(repair, divisor=1)
    repair.suspend_instance(iid, user="olga")
    with pytest.raises(Suspended, match=f"instance {iid} is suspended.*resume it first"):
        repair.complete_task(task, user="ann")
    ping = repair.start("pinged", business_key="P-1").id
    repair.suspend_instance(ping)
    with pytest.raises(Suspended, match="resume it first"):
        repair.correlate("ping", key="P-1")
    repair.resume_instance(ping)
    assert repair.correlate("ping", key="P-1").status == "completed"
    with pytest.raises(Conflict, match="is not suspended"):
        repair.resume_instance(ping)


# -- cancel ----------------------------------------------------------------------------------------

def test_cancel_takes_open_tasks_off_every_list_and_keeps_who_and_why(repair):
    iid, task = start_at_qualify(repair)
    with pytest.raises(InvalidInput, match="reason"):
        repair.cancel_instance(iid, user="olga")
    cancelled = repair.cancel_instance(iid, user="olga", reason="duplicate lead")
    assert cancelled.status == "cancelled" and cancelled.ended_at is not None
    assert cancelled.open_tasks == [] and repair.list_tasks() == []
    assert repair.get_task(task).state == "cancelled"
    entry = [h for h in events(repair, iid) if h.event == "instance_cancelled"][0]
    assert entry.user == "olga" and entry.data_delta["reason"] == "duplicate lead"
    assert entry.data_delta["tasks_cancelled"] == 1
    with pytest.raises(Conflict, match="already cancelled"):
        repair.cancel_instance(iid, reason="again")
    with pytest.raises(Conflict, match="already cancelled"):
        repair.complete_task(task, user="ann")


def test_cancel_removes_timers_subscriptions_and_incidents(repair, clock):
    iid = stuck(repair, "R-2")
    repair.edit_variables(iid, {"divisor": 1})
    repair.retry_incident(repair.get_instance(iid).incidents[0].id)
    repair.cancel_instance(iid, reason="not needed")
    assert repair.list_timers() == []
    ping = repair.start("pinged", business_key="P-2").id
    repair.cancel_instance(ping, reason="gone")
    assert repair.get_instance(ping).subscriptions == []
    failing = stuck(repair, "R-3")
    repair.cancel_instance(failing, reason="bad data")
    assert repair.list_incidents() == []
    clock.advance(timedelta(hours=3))
    assert repair.tick().timers_fired == []


# -- modify ------------------------------------------------------------------------------------------

def test_moving_back_to_qualify_shows_a_dry_run_first_then_does_it(repair):
    iid = stuck(repair)
    old_task = [t for t in repair.list_tasks(state="all", instance_id=iid)][0]
    plan = repair.modify_instance(iid, start_at="qualify", dry_run=True, user="olga")
    assert plan.allowed and plan.dry_run and plan.how == "back"
    assert plan.active_before == ["Compute total (compute)"] and plan.active_after == ["Qualify lead (qualify)"]
    assert repair.get_instance(iid).status == "incident", "a dry run changes nothing"
    done = repair.modify_instance(iid, start_at="qualify", user="olga", reason="re-qualify")
    assert done.allowed and not done.dry_run
    inst = repair.get_instance(iid)
    assert inst.status == "waiting" and inst.incidents == []
    [task] = inst.open_tasks
    assert task.element_id == "qualify" and task.id != old_task.id
    assert repair.get_task(old_task.id).state == "completed", "the first round stays in the closed lists"
    entry = [h for h in events(repair, iid) if h.event == "instance_modified"][0]
    assert entry.user == "olga" and entry.data_delta["start"] == "Qualify lead (qualify)"
    repair.edit_variables(iid, {"divisor": 5})
    assert repair.complete_task(task.id, user="ann").data["total"] == 20


def test_moving_forward_replaces_the_token(repair):
    iid, _ = start_at_qualify(repair, divisor=1)
    plan = repair.modify_instance(iid, cancel_at="qualify", start_at="finish", dry_run=True)
    assert plan.allowed and plan.how == "forward" and plan.active_after == ["Finish (finish)"]
    repair.modify_instance(iid, cancel_at="qualify", start_at="finish", user="olga")
    inst = repair.get_instance(iid)
    assert [t.element_id for t in inst.open_tasks] == ["finish"]
    assert repair.complete_task(inst.open_tasks[0].id, user="ann").status == "completed"


def test_a_modification_that_cannot_be_done_says_why(repair):
    iid, _ = start_at_qualify(repair)
    assert "no element 'nope'" in repair.modify_instance(iid, start_at="nope").reasons[0]
    assert "no token at 'finish'" in repair.modify_instance(iid, cancel_at="finish").reasons[0]
    assert "leaves nothing to run" in repair.modify_instance(iid, cancel_at="qualify").reasons[0]
    assert "has not run" in repair.modify_instance(iid, start_at="finish").reasons[0]
    assert not repair.modify_instance(iid, start_at="nope").allowed
    assert repair.get_instance(iid).open_tasks[0].element_id == "qualify"


# -- timers ------------------------------------------------------------------------------------------

def test_fire_a_timer_now(repair):
    iid = stuck(repair)
    repair.edit_variables(iid, {"divisor": 1})
    repair.retry_incident(repair.get_instance(iid).incidents[0].id)
    [timer] = repair.list_timers()
    after = repair.fire_timer_now(timer.id, user="olga")
    assert [t.element_id for t in after.open_tasks] == ["finish"]
    assert any(h.event == "timer_fired_now" and h.user == "olga" for h in events(repair, iid))
    with pytest.raises(Conflict, match="already fired"):
        repair.fire_timer_now(timer.id)


# -- history cleanup ------------------------------------------------------------------------------------

def test_cleanup_removes_finished_instances_past_their_retention_in_batches(repair, clock):
    old = [repair.cancel_instance(start_at_qualify(repair, f"O-{i}")[0], reason="old").id for i in range(3)]
    running, _ = start_at_qualify(repair, "RUN")
    clock.advance(timedelta(days=40))
    recent = repair.cancel_instance(start_at_qualify(repair, "NEW")[0], reason="recent").id
    keep_long = Retention(default_days=30, per_process={"pinged": 5})
    dry = repair.cleanup_history(keep_long, dry_run=True, batch=2)
    assert sorted(dry.instances) == old and dry.by_process == {"repair": 3}
    assert repair.get_instance(old[0]).status == "cancelled", "a dry run removes nothing"
    done = repair.cleanup_history(keep_long, batch=2)
    assert sorted(done.instances) == old
    assert {i.id for i in repair.list_instances()} == {running, recent}
    assert repair.cleanup_history(Retention(default_days=90, per_process={"repair": 60})).instances == []


def test_retention_is_read_from_text_with_clear_errors():
    r = Retention.parse("30", "lead_to_invoice=365, case_resolution=90")
    assert r.days("lead_to_invoice") == 365 and r.days("other") == 30
    with pytest.raises(InvalidInput, match="PROCESS=DAYS"):
        Retention.parse(None, "lead_to_invoice")
    with pytest.raises(InvalidInput, match="at least 1 day"):
        Retention.parse("0")


def test_the_worker_s_scheduler_cleans_up_history_between_its_passes(repair, clock):
    from engine.scheduler import Scheduler

    gone = repair.cancel_instance(start_at_qualify(repair, "OLD")[0], reason="old").id
    clock.advance(timedelta(days=3))
    scheduler = Scheduler(repair, retention=Retention(default_days=2), cleanup_every=10 * 86400)
    scheduler._run()
    assert repair.list_instances() == [], f"instance {gone} past its retention is removed"
    kept = repair.cancel_instance(start_at_qualify(repair, "NEW")[0], reason="new").id
    clock.advance(timedelta(days=3))
    scheduler._run()
    assert [i.id for i in repair.list_instances()] == [kept], "not before the next cleanup interval"
    clock.advance(timedelta(days=7))
    scheduler._run()
    assert repair.list_instances() == []
    assert scheduler.errors == []


def test_moving_back_from_a_task_with_a_boundary_timer_drops_the_timer(engine, tmp_path, clock):
    from bpmn_builder import timer_cycle

    p = Process("followed", "Followed")
    p.node("start", "startEvent").node("a", "userTask", "Qualify lead").node("b", "userTask", "Work")
    p.node("remind", "boundaryEvent", "Every day", timer_cycle('"R/P1D"'), row=1, attrs=' attachedToRef="b"')
    p.node("note", "scriptTask", "Note", script("reminded = True"), row=1).node("end2", "endEvent", row=1)
    p.node("end", "endEvent").chain("start", "a", "b", "end")
    p.chain("remind", "note", "end2")
    engine.deploy([p.write(tmp_path)])
    inst = engine.start("followed")
    inst = engine.complete_task(inst.open_tasks[0].id, user="ann")
    assert [t.element_id for t in inst.timers] == ["remind"]
    done = engine.modify_instance(inst.id, start_at="a", user="olga")
    assert done.allowed
    moved = engine.get_instance(inst.id)
    assert [t.element_id for t in moved.open_tasks] == ["a"] and moved.timers == []
    clock.advance(timedelta(days=2))
    assert engine.tick().timers_fired == []
    again = engine.complete_task(moved.open_tasks[0].id, user="ann")
    assert [t.element_id for t in again.open_tasks] == ["b"] and [t.element_id for t in again.timers] == ["remind"]


# -- messages to a suspended instance ---------------------------------------------------------------

ELEMENTS = Path(__file__).parent / "diagrams" / "elements"


def test_a_message_sent_directly_to_a_suspended_instance_is_refused_naming_it(repair):
    ping = repair.start("pinged", business_key="P-7").id
    repair.suspend_instance(ping)
    with pytest.raises(Suspended, match=f"instance {ping} is suspended; message 'ping' is refused.*resume it first"):
        repair.correlate("ping", key="P-7")
    assert not [h for h in events(repair, ping) if h.event in ("message_unhandled", "message_received")]


def test_a_message_thrown_to_a_suspended_instance_waits_and_arrives_on_resume(engine):
    engine.deploy([ELEMENTS / "message_catch.bpmn", ELEMENTS / "message_throw.bpmn"])
    receiver = engine.start("el_msg_catch", business_key="ORD-5").id
    engine.suspend_instance(receiver, user="olga")
    sender = engine.start("el_msg_throw", {"amount": 42}, business_key="ORD-5")
    assert engine.complete_task(sender.open_tasks[0].id, user="ann").status == "completed"
    assert engine.get_instance(receiver).status == "suspended"
    held = [h for h in events(engine, receiver) if h.event == "message_held"]
    assert len(held) == 1 and held[0].data_delta["from_instance"] == sender.id
    said = [h for h in events(engine, sender.id) if h.event == "message_held"]
    assert said and said[0].data_delta["to_instance"] == receiver and "suspended" in said[0].data_delta["reason"]
    assert not [h for h in events(engine, sender.id) if h.event == "message_unhandled"]
    resumed = engine.resume_instance(receiver, user="olga")
    assert resumed.status == "completed"
    assert engine.get_instance(receiver).data["payment"] == {"amount": 42, "paid_by": "throw"}
    assert [h.event for h in events(engine, receiver)].count("message_received") == 1


def test_a_held_message_nothing_waits_for_any_more_is_said_on_both_instances(engine):
    engine.deploy([ELEMENTS / "message_catch.bpmn", ELEMENTS / "message_throw.bpmn"])
    receiver = engine.start("el_msg_catch", business_key="ORD-6").id
    engine.suspend_instance(receiver)
    senders = [engine.start("el_msg_throw", {"amount": n}, business_key="ORD-6") for n in (1, 2)]
    for sender in senders:
        engine.complete_task(sender.open_tasks[0].id, user="ann")
    assert engine.resume_instance(receiver).status == "completed"
    assert engine.get_instance(receiver).data["payment"]["amount"] == 1, "the first held message arrived"
    for iid in (receiver, senders[1].id):
        unhandled = [h for h in events(engine, iid) if h.event == "message_unhandled"]
        assert unhandled and "no longer waits for message 'order_paid'" in unhandled[-1].data_delta["reason"], iid
    assert not [h for h in events(engine, senders[0].id) if h.event == "message_unhandled"]


# -- moves inside a sub-process ---------------------------------------------------------------------

def test_a_forward_move_inside_the_same_sub_process(engine):
    engine.deploy([ELEMENTS / "subprocess_embedded.bpmn"])
    iid = engine.start("el_subprocess", {"size": 6}).id
    assert [t.element_id for t in engine.get_instance(iid).open_tasks] == ["fill_form"]
    plan = engine.modify_instance(iid, "fill_form", "score", dry_run=True, user="olga", reason=None)
    assert plan.allowed and plan.how == "forward", plan.reasons
    assert plan.active_before == ["Assess (assess)", "Fill form (fill_form)"]
    assert plan.active_after == ["Assess (assess)", "Score (score)"]
    moved = engine.modify_instance(iid, "fill_form", "score", dry_run=False, user="olga", reason="form on paper")
    assert moved.allowed, moved.reasons
    inst = engine.get_instance(iid)
    assert inst.status == "completed", inst
    assert inst.data["score"] == 60 and inst.data["grade"] == "A"
    assert not inst.open_tasks
    assert [h for h in events(engine, iid) if h.event == "instance_modified"][0].data_delta["start"] == "Score (score)"


def test_a_forward_move_out_of_a_sub_process_ends_it(engine):
    engine.deploy([ELEMENTS / "subprocess_embedded.bpmn"])
    iid = engine.start("el_subprocess", {"size": 6, "score": 70}).id
    form = engine.get_instance(iid).open_tasks[0].id
    plan = engine.modify_instance(iid, "fill_form", "grade", dry_run=True, user="olga", reason=None)
    assert plan.allowed, plan.reasons
    assert plan.active_after == ["Grade (grade)"], "the sub-process and its tokens go"
    engine.modify_instance(iid, "fill_form", "grade", dry_run=False, user="olga", reason="assessed elsewhere")
    inst = engine.get_instance(iid)
    assert inst.status == "completed" and inst.data["grade"] == "A" and "score" in inst.data
    assert engine.get_task(form).state != "open"


def test_a_forward_move_into_a_sub_process_from_outside_says_why_not(engine):
    engine.deploy([ELEMENTS / "subprocess_embedded.bpmn"])
    iid = engine.start("el_subprocess", {"size": 6}).id
    plan = engine.modify_instance(iid, "assess", "score", dry_run=True, user="olga", reason=None)
    assert not plan.allowed and "'score' is not in the (sub)process of 'assess'" in plan.reasons[0]


def test_cancelling_a_suspended_instance_says_its_held_messages_never_arrive(engine):
    engine.deploy([ELEMENTS / "message_catch.bpmn", ELEMENTS / "message_throw.bpmn"])
    receiver = engine.start("el_msg_catch", business_key="ORD-8").id
    engine.suspend_instance(receiver)
    sender = engine.start("el_msg_throw", {"amount": 3}, business_key="ORD-8")
    engine.complete_task(sender.open_tasks[0].id, user="ann")
    engine.cancel_instance(receiver, user="olga", reason="duplicate order")
    for iid in (receiver, sender.id):
        unhandled = [h for h in events(engine, iid) if h.event == "message_unhandled"]
        assert unhandled and "was cancelled while the message was held" in unhandled[-1].data_delta["reason"], iid
