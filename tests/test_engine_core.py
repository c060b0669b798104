"""Engine core: durability, loops, incidents, versions, concurrency and bad input."""

from __future__ import annotations

import json
import signal
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from bpmn_builder import Process, linear_service_process, loop_process, script, service
from sqlalchemy import Column, Integer, MetaData, String, Table, select, text

from engine import BpmnError, Conflict, DefinitionError, InvalidInput, NoSubscriber, NotFound
from engine.models import Instance

ROOT = Path(__file__).resolve().parents[1]


def user_task_process(pid: str = "approval", task_name: str = "Approve") -> Process:
    p = Process(pid, "Approval")
    p.node("start", "startEvent").node("review", "userTask", task_name).node("end", "endEvent")
    return p.chain("start", "review", "end")


# -- loops and state size ------------------------------------------------------------

def test_ten_thousand_round_loop_completes_with_flat_step_cost(engine, registry, tmp_path):
    stamps: list[float] = []
    # CPU time of this process, not the wall clock: other processes on a shared machine do not count.
    registry.register("loop/tick", lambda ctx, n: stamps.append(time.process_time()) or n)
    p = loop_process("long_loop")
    p.nodes.insert(3, p.nodes[2].__class__("tick", "serviceTask", "Tick", service("loop/tick", "last", n="round")))
    p.flows = [f for f in p.flows if not (f.source == "step" and f.target == "more")]
    p.flow("step", "tick").flow("tick", "more")
    engine.deploy([p.write(tmp_path)])

    inst = engine.start("long_loop", {"target": 10_000})

    assert inst.status == "completed"
    assert inst.data["round"] == 10_000
    assert len(stamps) == 10_000
    rounds = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    early = statistics.median(rounds[100:1_000])
    late = statistics.median(rounds[9_099:9_999])
    # Medians, so a pause of the machine does not count; without pruning late rounds cost 10x or more.
    assert late < 3 * early, f"step cost grew: {early * 1e6:.0f} us -> {late * 1e6:.0f} us"
    with engine.db.read() as session:
        row = session.get(Instance, inst.id)
        assert len(row.state) < 100_000, "finished history must not accumulate in the live state"
        assert '"spec"' not in row.state[:200] and "subprocess_specs" not in row.state


def test_raw_spiffworkflow_would_stall_where_we_do_not(tmp_path):
    """Documents the upstream pitfall the runner exists for: do_engine_steps stops early."""
    from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
    from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

    path = loop_process("raw_loop").write(tmp_path)
    parser = SpiffBpmnParser()
    parser.add_bpmn_file(str(path))
    workflow = BpmnWorkflow(parser.get_spec("raw_loop"))
    workflow.get_tasks(spec_name="Start")[0].data["target"] = 2_000
    workflow.do_engine_steps()
    assert not workflow.is_completed() or workflow.data.get("round", 0) < 2_000


def test_loop_with_a_user_task_per_round_keeps_state_bounded(engine, tmp_path):
    engine.deploy([loop_process("follow", with_user_task=True).write(tmp_path)])
    inst = engine.start("follow", {"target": 120})
    sizes = []
    for _ in range(120):
        task = engine.list_tasks(instance_id=inst.id)[0]
        engine.complete_task(task.id, "ann", {})
        with engine.db.read() as session:
            sizes.append(len(session.get(Instance, inst.id).state))
    assert engine.get_instance(inst.id).status == "completed"
    assert max(sizes[60:119]) < 2 * max(sizes[10:40]), sizes


# -- durability ----------------------------------------------------------------------

def test_state_lives_in_the_database_a_new_engine_continues(make_engine, tmp_path):
    first = make_engine()
    first.deploy([user_task_process().write(tmp_path)])
    inst = first.start("approval", {"amount": 5}, business_key="Q-1")
    task_id = inst.open_tasks[0].id
    first.close()

    second = make_engine()
    done = second.complete_task(task_id, "max", {"approved": True})
    assert done.status == "completed"
    assert second.get_instance(inst.id).data == {"amount": 5, "approved": True}


def test_killed_process_between_steps_loses_nothing(db_url, make_engine, tmp_path):
    if not db_url.startswith("sqlite"):
        pytest.skip("the kill test drives its own SQLite file")
    path = user_task_process().write(tmp_path)
    child = textwrap.dedent(
        f"""
        import os, sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from engine import Engine
        eng = Engine({db_url!r})
        eng.deploy([{str(path)!r}])
        inst = eng.start("approval", {{"n": 1}}, business_key="K")
        print(inst.open_tasks[0].id, flush=True)
        time.sleep(60)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        task_id = proc.stdout.readline().strip()
        assert task_id, "child did not start the instance"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    eng = make_engine()
    [inst] = eng.list_instances(process_id="approval")
    assert inst.status == "waiting"
    assert eng.complete_task(task_id, "zoe", {}).status == "completed"


# -- service tasks, incidents and retries ------------------------------------------

def _service_process(pid: str, operation: str) -> Process:
    p = Process(pid)
    p.node("start", "startEvent")
    p.node("call", "serviceTask", "Call CRM", service(operation, "result", lead_id="lead_id"))
    p.node("after", "scriptTask", "After", script("done = True"))
    p.node("end", "endEvent")
    return p.chain("start", "call", "after", "end")


def test_raising_handler_makes_an_incident_then_automatic_retry_succeeds(engine, registry, clock, tmp_path):
    calls = []

    def flaky(ctx, lead_id):
        calls.append(ctx.attempt)
        if len(calls) == 1:
            raise ConnectionError("CRM database unreachable")
        return {"lead": lead_id, "attempt": ctx.attempt}

    registry.register("sales/flaky", flaky)
    engine.deploy([_service_process("svc", "sales/flaky").write(tmp_path)])
    inst = engine.start("svc", {"lead_id": 7})

    assert inst.status == "incident"
    [incident] = inst.incidents
    assert incident.element_id == "call"
    assert "ConnectionError: CRM database unreachable" in incident.message
    assert incident.retries_left == 3
    assert incident.next_retry_at == clock.now() + timedelta(seconds=30)

    assert engine.tick(clock.now() + timedelta(seconds=10)).incidents_retried == []
    clock.advance(timedelta(seconds=31))
    result = engine.tick()
    assert result.incidents_retried == [incident.id]
    after = engine.get_instance(inst.id)
    assert after.status == "completed"
    assert after.data["result"] == {"lead": 7, "attempt": 2}
    assert calls == [1, 2]
    assert engine.list_incidents(state="resolved")[0].id == incident.id
    events = [h.event for h in after.history]
    assert events.index("incident") < events.index("incident_resolved")


def test_manual_retry_that_fails_again_counts_down_and_backs_off(engine, registry, clock, tmp_path):
    registry.register("sales/down", lambda ctx, lead_id: (_ for _ in ()).throw(TimeoutError("still down")))
    engine.deploy([_service_process("svc2", "sales/down").write(tmp_path)])
    inst = engine.start("svc2", {"lead_id": 1})
    incident_id = inst.incidents[0].id
    engine.retry_incident(incident_id)
    [incident] = engine.list_incidents()
    assert (incident.attempts, incident.retries_left) == (2, 2)
    assert incident.next_retry_at == clock.now() + timedelta(seconds=60)
    assert engine.get_instance(inst.id).status == "incident"


def test_failed_handler_writes_roll_back_but_the_incident_stays(engine, registry, tmp_path):
    records = Table("crm_note", MetaData(), Column("id", Integer, primary_key=True), Column("text", String(50)))
    records.create(engine.db.write_engine)

    def write_then_fail(ctx, lead_id):
        ctx.session.execute(records.insert().values(text=f"lead {lead_id}"))
        raise ValueError("validation failed after writing")

    registry.register("sales/half", write_then_fail)
    engine.deploy([_service_process("svc3", "sales/half").write(tmp_path)])
    inst = engine.start("svc3", {"lead_id": 3})
    assert inst.status == "incident"
    with engine.db.read() as session:
        assert session.execute(select(records)).all() == []


def test_unknown_operation_becomes_an_incident_naming_the_closest_handler(engine, registry, tmp_path):
    registry.register("sales/qualify_lead", lambda ctx, lead_id: None)
    engine.deploy([_service_process("svc4", "sales/qualify_leads").write(tmp_path)], force=True)  # validate refuses it
    inst = engine.start("svc4", {"lead_id": 1})
    message = inst.incidents[0].message
    assert "sales/qualify_leads" in message and "did you mean 'sales/qualify_lead'" in message


def test_parameter_mismatch_is_named(engine, registry, tmp_path):
    registry.register("sales/by_contact", lambda ctx, contact_id: None)
    engine.deploy([_service_process("svc5", "sales/by_contact").write(tmp_path)])
    message = engine.start("svc5", {"lead_id": 1}).incidents[0].message
    assert "lead_id" in message and "contact_id" in message


def test_bpmn_error_with_no_boundary_is_an_incident(engine, registry, tmp_path):
    def refuse(ctx, lead_id):
        raise BpmnError("credit_refused", "credit check failed")

    registry.register("sales/credit", refuse)
    engine.deploy([_service_process("svc6", "sales/credit").write(tmp_path)])
    inst = engine.start("svc6", {"lead_id": 1})
    assert inst.status == "incident"
    assert "credit_refused" in inst.incidents[0].message


def test_endless_automatic_loop_stops_at_the_step_budget(make_engine, tmp_path):
    eng = make_engine(max_steps=500)
    eng.deploy([loop_process("endless", target="10**9").write(tmp_path)])
    inst = eng.start("endless", {})
    assert inst.status == "incident"
    assert "more than 500 automatic steps" in inst.incidents[0].message


def test_script_error_names_the_element(engine, tmp_path):
    p = Process("bad_script")
    p.node("start", "startEvent").node("calc", "scriptTask", "Compute total", script("total = price * qty"))
    p.node("end", "endEvent").chain("start", "calc", "end")
    engine.deploy([p.write(tmp_path)])
    inst = engine.start("bad_script", {"price": 2})
    [incident] = inst.incidents
    assert incident.element_id == "calc" and incident.element_name == "Compute total"
    assert "qty" in incident.message


# -- versions ------------------------------------------------------------------------

def test_changed_diagram_is_a_new_version_and_running_instances_keep_theirs(engine, tmp_path):
    v1 = engine.deploy([user_task_process(task_name="Approve").write(tmp_path)])
    assert [(v.version, v.changed) for v in v1.versions] == [(1, True)]
    assert [(v.version, v.changed) for v in engine.deploy([tmp_path / "approval.bpmn"]).versions] == [(1, False)]
    old = engine.start("approval", {})

    v2 = engine.deploy([user_task_process(task_name="Approve quote").write(tmp_path)])
    assert [(v.version, v.changed) for v in v2.versions] == [(2, True)]
    new = engine.start("approval", {})

    assert (old.version, new.version) == (1, 2)
    assert old.open_tasks[0].name == "Approve"
    assert new.open_tasks[0].name == "Approve quote"
    assert engine.complete_task(old.open_tasks[0].id, "a", {}).status == "completed"
    assert [v.version for v in engine.list_definitions("approval")] == [1, 2]


def test_same_diagram_from_another_folder_is_not_a_new_version(engine, tmp_path):
    engine.deploy([user_task_process().write(tmp_path / "a")])
    result = engine.deploy([user_task_process().write(tmp_path / "b")])
    assert not result.versions[0].changed


# -- concurrency ---------------------------------------------------------------------

def test_two_concurrent_completions_exactly_one_wins(make_engine, tmp_path):
    setup = make_engine()
    setup.deploy([user_task_process().write(tmp_path)])
    engines = [make_engine(), make_engine()]
    for round_no in range(15):
        inst = setup.start("approval", {"round": round_no})
        task_id = inst.open_tasks[0].id
        barrier = threading.Barrier(2)
        outcomes: list[str] = []

        def complete(eng, user, barrier=barrier, task_id=task_id, outcomes=outcomes):
            barrier.wait()
            try:
                eng.complete_task(task_id, user, {"by": user})
                outcomes.append("won")
            except Conflict as err:
                outcomes.append(f"conflict: {err}")

        threads = [threading.Thread(target=complete, args=(e, f"agent{i}")) for i, e in enumerate(engines)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "won"], outcomes
        assert "already completed by agent" in [o for o in outcomes if o != "won"][0]
        completions = [h for h in setup.history(inst.id) if h.event == "completed" and h.element_id == "review"]
        assert len(completions) == 1


# -- bad input -----------------------------------------------------------------------

def test_malformed_xml_is_refused_with_file_and_line(engine, tmp_path):
    bad = tmp_path / "broken.bpmn"
    bad.write_text('<?xml version="1.0"?>\n<bpmn:definitions xmlns:bpmn="x">\n<bpmn:process id="p">\n')
    with pytest.raises(DefinitionError) as err:
        engine.deploy([bad])
    assert "broken.bpmn:" in str(err.value) and "not well-formed" in str(err.value)
    assert engine.list_definitions() == []


def test_entity_declarations_are_refused_unread(engine, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xxe = tmp_path / "xxe.bpmn"
    xxe.write_text(
        f'<?xml version="1.0"?>\n<!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">&x;</bpmn:definitions>'
    )
    with pytest.raises(DefinitionError) as err:
        engine.deploy([xxe])
    assert "DOCTYPE" in str(err.value) and "TOP-SECRET" not in str(err.value)


def test_schema_violation_names_the_file(engine, tmp_path):
    bad = tmp_path / "invalid.bpmn"
    bad.write_text(user_task_process().xml().replace("<bpmn:userTask", "<bpmn:userTaskk").replace(
        "</bpmn:userTask>", "</bpmn:userTaskk>"))
    with pytest.raises(DefinitionError) as err:
        engine.deploy([bad])
    assert "invalid.bpmn" in str(err.value)


def test_unknown_process_lists_what_is_deployed(engine, tmp_path):
    with pytest.raises(NotFound, match="nothing is deployed"):
        engine.start("nope", {})
    engine.deploy([user_task_process().write(tmp_path)])
    with pytest.raises(NotFound, match="deployed processes: approval"):
        engine.start("nope", {})


@pytest.mark.parametrize("data", ["{not json", "[1, 2]", '{"__class__": 1}', '"text"'])
def test_bad_data_is_refused_before_anything_changes(engine, tmp_path, data):
    engine.deploy([user_task_process().write(tmp_path)])
    with pytest.raises(InvalidInput):
        engine.start("approval", data)
    assert engine.list_instances() == []


def test_completing_twice_and_unknown_tasks_are_clear(engine, tmp_path):
    engine.deploy([user_task_process().write(tmp_path)])
    task_id = engine.start("approval", {}).open_tasks[0].id
    engine.complete_task(task_id, "ann", {})
    with pytest.raises(Conflict, match="already completed by ann"):
        engine.complete_task(task_id, "bob", {})
    with pytest.raises(NotFound):
        engine.complete_task("00000000-0000-0000-0000-000000000000", "bob", {})


def test_message_nobody_waits_for(engine, tmp_path):
    engine.deploy([user_task_process().write(tmp_path)])
    with pytest.raises(NoSubscriber, match="no instance is waiting for message 'quote_accepted' with key 'Q-9'"):
        engine.correlate("quote_accepted", "Q-9", {})


def test_linear_service_process_records_every_step(engine, registry, tmp_path):
    registry.register("bench/echo", lambda ctx, value: {"value": value})
    engine.deploy([linear_service_process().write(tmp_path)])
    inst = engine.start("linear", {}, business_key="L-1", user="api")
    detail = engine.get_instance(inst.id)
    assert detail.status == "completed"
    assert detail.data["total"] == pytest.approx(120.0)
    completed = [h.element_id for h in detail.history if h.event == "completed"]
    assert completed == ["start", "prepare", "call", "finish", "end"]
    call = next(h for h in detail.history if h.element_id == "call")
    assert call.data_delta == {"set": {"echo": {"value": 100}}}
    assert detail.history[0].event == "instance_started" and detail.history[-1].event == "instance_completed"
    with engine.db.read() as session:
        assert session.execute(text("select count(*) from wf_history")).scalar() == len(detail.history)
    assert json.loads(json.dumps(detail.to_dict()))["status"] == "completed"


def test_pruning_keeps_parallel_branch_data_when_one_branch_loops_long(engine, tmp_path):
    p = Process("branchy")
    p.node("start", "startEvent").node("split", "parallelGateway", "Split")
    p.node("quick", "scriptTask", "Quick branch", script("quick_done = True"), row=1)
    p.node("init", "scriptTask", "Init", script("round = 0"))
    p.node("step", "scriptTask", "Count", script("round += 1"))
    p.node("more", "exclusiveGateway", "More?")
    p.node("join", "parallelGateway", "Join").node("end", "endEvent")
    p.chain("start", "split", "init", "step", "more")
    p.flow("more", "step", condition="round < 200").flow("more", "join", default=True)
    p.chain("split", "quick", "join").chain("join", "end")
    engine.deploy([p.write(tmp_path)])
    inst = engine.start("branchy", {})
    assert inst.status == "completed"
    assert inst.data["round"] == 200 and inst.data["quick_done"] is True
