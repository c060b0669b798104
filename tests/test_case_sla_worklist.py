"""Worklist items of a case show the case's SLA: status and due time of its next KPI."""

from __future__ import annotations

from datetime import timedelta

from bpmn_builder import Process

from crmflow.settings import build_engine, sla_provider
from engine.services import ServiceContext
from handlers.service.cases import open_case
from handlers.service.sla import check_sla, start_sla, triage
from worklists.routing import LaneMap
from worklists.service import Worklist


def test_case_work_item_carries_its_sla(db_url, clock, tmp_path):
    eng = build_engine(db_url, clock)
    try:
        with eng.db.write() as session:
            ctx = ServiceContext(session=session, instance_id=0, process_id="t", business_key=None, element_id="e",
                                 task_id="t1", now=clock.now())
            case_id = open_case(ctx, title="VPN down", origin="Phone", customer_email="kim@example.com")[
                "case_id"]
            ctx.task_id = "t2"
            triage(ctx, case_id=case_id, priority="High", queue="Support", first_response_hours=1,
                           resolve_hours=8)
            ctx.task_id = "t3"
            start_sla(ctx, case_id=case_id)
        p = Process("case_work")
        p.node("start", "startEvent").node("work", "userTask", "Work case").node("end", "endEvent")
        eng.deploy([p.chain("start", "work", "end").write(tmp_path)])
        eng.start("case_work", {"case": {"case_id": case_id}}, business_key="CASE-K")
        worklist = Worklist(eng, LaneMap(), sla_provider())

        [item] = worklist.queue("unassigned").items
        assert item.sla_status == "ok"
        assert item.sla_due_at == clock.now() + timedelta(hours=1), "the first-response KPI is due first"

        clock.advance(timedelta(minutes=50))  # past 75 % of the first-response target
        with eng.db.write() as session:
            ctx = ServiceContext(session=session, instance_id=0, process_id="t", business_key=None, element_id="e",
                                 task_id="t4", now=clock.now())
            check_sla(ctx, case_id=case_id)
        [item] = worklist.queue("unassigned").items
        assert item.sla_status == "nearing"
        assert item.sla_seconds_left == 10 * 60
    finally:
        eng.close()
