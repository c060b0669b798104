"""`Engine.preview_deploy`: what a deploy would store, stored nowhere — the workbench shows it
before deploying (changed or not, and the element diff against the latest version)."""

from __future__ import annotations

from pathlib import Path

from workbench_world import PROCESSES

from crmflow.settings import build_engine

TABLES = sorted(PROCESSES.glob("*.dmn"))


def test_preview_names_the_changes_and_stores_nothing(tmp_path: Path) -> None:
    engine = build_engine("sqlite://")
    try:
        first = engine.preview_deploy([PROCESSES / "lead_to_invoice.bpmn", *TABLES])
        l2i = next(v for v in first.versions if v.process_id == "lead_to_invoice")
        assert l2i.changed and l2i.version == 1 and l2i.changes is None
        assert engine.list_definitions() == [], "a preview deploys nothing"
        engine.deploy([PROCESSES / "lead_to_invoice.bpmn", *TABLES])
        same = engine.preview_deploy([PROCESSES / "lead_to_invoice.bpmn", *TABLES])
        assert not next(v for v in same.versions if v.process_id == "lead_to_invoice").changed
        edited = tmp_path / "lead_to_invoice.bpmn"
        edited.write_text((PROCESSES / "lead_to_invoice.bpmn").read_text().replace(
            'name="Qualify lead"', 'name="Qualify the lead"'))
        after = next(v for v in engine.preview_deploy([edited, *TABLES]).versions if v.process_id == "lead_to_invoice")
        assert after.changed
        assert after.changes == {"added": [], "removed": [], "changed": {"qualify_task": ["bpmn_name"]}}
        assert [v.version for v in engine.list_definitions("lead_to_invoice")] == [1]
    finally:
        engine.close()
