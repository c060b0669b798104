"""Versions side by side: what changed, and moving running instances safely."""

from __future__ import annotations

from bpmn_builder import Process, timer_duration


def order_process(review_name: str = "Review order", extra: bool = False, drop_review: bool = False) -> Process:
    p = Process("order")
    p.node("start", "startEvent")
    if not drop_review:
        p.node("review", "userTask", review_name)
    p.node("wait", "intermediateCatchEvent", "Cooling off", timer_duration('"P1D"'))
    if extra:
        p.node("confirm", "userTask", "Confirm")
    p.node("end", "endEvent")
    ids = ["start"] + ([] if drop_review else ["review"]) + ["wait"] + (["confirm"] if extra else []) + ["end"]
    return p.chain(*ids)


def test_deploy_reports_what_changed(engine, tmp_path):
    engine.deploy([order_process().write(tmp_path)])
    result = engine.deploy([order_process(review_name="Check order", extra=True).write(tmp_path)])
    [v2] = result.versions
    assert v2.version == 2
    assert v2.changes["added"] == ["confirm"]
    assert "review" in v2.changes["changed"]
    assert engine.diff_versions("order", 1, 2).added == ["confirm"]


def test_instance_moves_when_its_active_elements_still_exist(engine, clock, tmp_path):
    engine.deploy([order_process().write(tmp_path)])
    inst = engine.start("order", {})
    engine.deploy([order_process(review_name="Check order", extra=True).write(tmp_path)])

    dry = engine.migrate(inst.id, dry_run=True)
    assert (dry.allowed, dry.from_version, dry.to_version) == (True, 1, 2)
    assert engine.get_instance(inst.id).version == 1, "a dry run changes nothing"

    done = engine.migrate(inst.id, user="analyst")
    assert done.allowed
    detail = engine.get_instance(inst.id)
    assert detail.version == 2
    assert detail.open_tasks[0].name == "Check order"
    assert any(h.event == "migrated" and h.data_delta == {"from_version": 1, "to_version": 2} for h in detail.history)
    engine.complete_task(detail.open_tasks[0].id, "ann", {})
    from datetime import timedelta

    clock.advance(timedelta(days=2))
    engine.tick()
    after = engine.get_instance(inst.id)
    assert [t.element_id for t in after.open_tasks] == ["confirm"], "the new version's path is taken"


def test_waiting_timer_keeps_its_due_time_across_a_migration(engine, clock, tmp_path):
    engine.deploy([order_process().write(tmp_path)])
    inst = engine.start("order", {})
    engine.complete_task(inst.open_tasks[0].id, "ann", {})
    due = engine.get_instance(inst.id).timers[0].due_at
    from datetime import timedelta

    clock.advance(timedelta(hours=5))
    engine.deploy([order_process(review_name="Check order").write(tmp_path)])
    assert engine.migrate(inst.id).allowed
    assert engine.get_instance(inst.id).timers[0].due_at == due


def test_refused_when_an_active_element_is_gone(engine, tmp_path):
    engine.deploy([order_process().write(tmp_path)])
    inst = engine.start("order", {})
    engine.deploy([order_process(drop_review=True).write(tmp_path)])
    plan = engine.migrate(inst.id)
    assert not plan.allowed
    assert "'review' is active here but does not exist in the new version" in plan.reasons[0]
    assert engine.get_instance(inst.id).version == 1


def test_migrate_all_and_finished_instances(engine, tmp_path):
    engine.deploy([order_process().write(tmp_path)])
    a = engine.start("order", {})
    b = engine.start("order", {})
    engine.complete_task(b.open_tasks[0].id, "ann", {})
    engine.deploy([order_process(drop_review=True).write(tmp_path)])
    plans = {p.instance_id: p.allowed for p in engine.migrate_all("order")}
    assert plans == {a.id: False, b.id: True}
    c = engine.start("order", {})
    assert c.version == 2
    same = engine.migrate(c.id, to_version=2)
    assert not same.allowed and "already on version 2" in same.reasons[0]
    engine.complete_task(c.open_tasks[0].id, "ann", {}) if c.open_tasks else None


def test_cli_versions_and_migrate(tmp_path):
    from typer.testing import CliRunner

    from crmflow.cli import app

    db = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    v1 = order_process().write(tmp_path / "v1")
    v2 = order_process(review_name="Check order", extra=True).write(tmp_path / "v2")
    assert runner.invoke(app, ["--db", db, "deploy", str(v1)]).exit_code == 0
    started = runner.invoke(app, ["--db", db, "start", "order", "--json"])
    assert started.exit_code == 0, started.output
    deployed = runner.invoke(app, ["--db", db, "deploy", str(v2)])
    assert "+confirm" in deployed.output and "~review" in deployed.output
    listed = runner.invoke(app, ["--db", db, "versions", "order"])
    assert listed.exit_code == 0 and "+confirm" in listed.output
    dry = runner.invoke(app, ["--db", db, "migrate", "--all", "order", "--dry-run"])
    assert dry.exit_code == 0 and "would move v1 → v2" in dry.output
    moved = runner.invoke(app, ["--db", db, "migrate", "1"])
    assert moved.exit_code == 0 and "moved v1 → v2" in moved.output
    again = runner.invoke(app, ["--db", db, "migrate", "1"])
    assert again.exit_code == 1 and "already on version 2" in again.output
    neither = runner.invoke(app, ["--db", db, "migrate"])
    assert neither.exit_code == 1 and "error:" in neither.output
