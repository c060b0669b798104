"""Handlers learn who set their step going (ctx.user), e.g. to make the qualifier an opportunity's owner."""

from __future__ import annotations

from datetime import timedelta

from bpmn_builder import Process, service, timer_duration


def test_ctx_user_is_whoever_started_or_completed_the_step_and_none_for_a_timer(engine, registry, clock, tmp_path):
    seen: list[tuple[str, str | None]] = []
    registry.register("who/am_i", lambda ctx, label: seen.append((label, ctx.user)) or ctx.user)
    p = Process("who")
    p.node("start", "startEvent").node("on_start", "serviceTask", "On start", service("who/am_i", "a", label='"start"'))
    p.node("review", "userTask", "Review")
    p.node("after", "serviceTask", "After review", service("who/am_i", "b", label='"task"'))
    p.node("wait", "intermediateCatchEvent", "Wait", timer_duration('"PT1H"'))
    p.node("later", "serviceTask", "Later", service("who/am_i", "c", label='"timer"')).node("end", "endEvent")
    p.chain("start", "on_start", "review", "after", "wait", "later", "end")
    engine.deploy([p.write(tmp_path)])
    inst = engine.start("who", {}, user="bob")
    engine.complete_task(inst.open_tasks[0].id, "ann", {})
    clock.advance(timedelta(hours=2))
    engine.fire_due_timers()
    assert seen == [("start", "bob"), ("task", "ann"), ("timer", None)]
