"""The CRM processes' reminders fire once, on time, with two schedulers, across restarts and downtime.

Many instances of the real diagrams (processes/*.bpmn, real handlers and reference data) are
driven to their reminder waits; then two schedulers (two Engine objects, each ticking in its
own thread, released together) run passes on the manual clock. For every timer row the tests
check that it fired at the first pass at or after its due time, that the two schedulers
reported it once between them, and that what it causes (a follow-up call, an overdue check,
a payment reminder, an SLA escalation, a task's overdue entry) happened once. Expected due
times come from the times the tests act at, not from the engine.

Downtime: the clock jumps three weeks in one pass; a cycle fires once for the whole missed
period and then waits for its next occurrence in the future. Restarts: fresh Engine objects
on the same database between passes, and a pass at the same time again fires nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from crm_timers_support import (
    L2I_FILES,
    SECOND,
    Schedulers,
    around,
    check_fired_once_on_time,
    check_timer_fired_entries_once,
    count,
    history,
    next_occurrence,
    schedule,
    seed_marketing,
    seed_sales,
    seed_support,
    timers,
    working,
)
from lxml import etree
from sqlalchemy import select

from engine import ManualClock

LEADS = 20  # per test: enough that both schedulers find work due in the same pass
CASES = 20
BATCHES = 2  # instances start in batches BATCH_GAP apart: several due per pass, at several times
BATCH_GAP = timedelta(minutes=10)
FOLLOW_UP, PAYMENT_CHECK = timedelta(days=3), timedelta(days=7)  # R/P3D and R/P7D in the diagram
THREE_WEEKS = timedelta(weeks=3)
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
SPIFF = "{http://spiffworkflow.org/bpmn/schema/1.0/core}"
LINES = [{"product_number": "CRM-PRO", "quantity": 2}]


@pytest.fixture
def sched(db_url: str, clock: ManualClock) -> Iterator[Schedulers]:
    s = Schedulers(db_url, clock)
    yield s
    s.close()


def offset(i: int) -> timedelta:
    return (i % BATCHES) * BATCH_GAP


# -- lead to invoice ----------------------------------------------------------------------------
def start_leads(sched: Schedulers, at: datetime) -> dict[int, datetime]:
    """LEADS hot web leads (each its own company), started in batches from `at`; instance → start."""
    started = {}
    for i in sorted(range(LEADS), key=offset):
        when = at + offset(i)
        sched.at(when)
        inquiry = {"email": f"buyer{i}@firm{i}.example", "company_name": f"Firm {i}", "topic": "CRM rollout",
                   "lead_source": "Web", "budget": 60000}
        inst = sched.driver.start("lead_to_invoice", {"inquiry": inquiry}, business_key=f"L2I-{i}", user="web")
        assert inst.status == "waiting", inst
        started[inst.id] = when
    return started


def one_task(sched: Schedulers, iid: int, element_id: str) -> Any:
    tasks = [t for t in sched.driver.list_tasks(instance_id=iid) if t.element_id == element_id]
    assert len(tasks) == 1, f"instance {iid}: expected one open {element_id}, got {tasks}"
    return tasks[0]


def act_in_batches(sched: Schedulers, ids: list[int], at: datetime, action: Any) -> dict[int, datetime]:
    """Run `action(iid)` for every instance, batch by batch from `at`; instance → when."""
    done = {}
    for n, iid in sorted(enumerate(ids), key=lambda p: offset(p[0])):
        when = at + offset(n)
        sched.at(when)
        action(iid)
        done[iid] = when
    return done


def qualify(sched: Schedulers, price_list_id: int) -> Any:
    def run(iid: int) -> None:
        task = one_task(sched, iid, "qualify_task")
        sched.driver.complete_task(task.id, user="ann", data={"decision": "qualify", "price_list_id": price_list_id})
    return run


def activities(sched: Schedulers, subject_prefix: str) -> Counter[int]:
    """Per opportunity id: logged activities whose subject starts with `subject_prefix`."""
    from handlers.models import Activity

    with sched.driver.db.read() as s:
        rows = s.execute(
            select(Activity.regarding_id, Activity.subject).where(Activity.regarding_type == "opportunity")
        )
        return Counter(rid for rid, subject in rows if subject.startswith(subject_prefix))


def opportunity_of(sched: Schedulers, iid: int) -> int:
    return sched.driver.get_instance(iid, with_history=False).data["opportunity"]["opportunity_id"]


def test_qualify_due_dates_and_follow_up_cycle_fire_once_on_time_across_restarts_and_downtime(
    sched: Schedulers, db_url: str, clock: ManualClock,
) -> None:
    price_list_id = seed_sales(db_url, clock)
    t0 = clock.now()
    started = start_leads(sched, t0)
    ids = sorted(started)
    # a hot lead must be qualified within 4 hours: the qualify task's due date is a timer row
    for iid in ids:
        assert one_task(sched, iid, "qualify_task").due_at == started[iid] + timedelta(hours=4)
    overdue_at = {iid: s + timedelta(hours=4) for iid, s in started.items()}
    sched.run(schedule(t0 + timedelta(hours=1), t0 + timedelta(hours=6), timedelta(hours=1), overdue_at.values()))

    qualified = act_in_batches(sched, ids, t0 + timedelta(hours=6, minutes=5), qualify(sched, price_list_id))
    for iid in ids:
        pending = {(t.element_id, t.kind): t.due_at for t in sched.driver.get_instance(iid).timers}
        # the diagram's cycle and the work task's follow-up date, both three days on
        assert pending == {("followup_timer", "cycle"): qualified[iid] + FOLLOW_UP,
                           ("work_opportunity", "task_follow_up"): qualified[iid] + FOLLOW_UP}, pending
    q0 = min(qualified.values())
    dues = [q + k * FOLLOW_UP for q in qualified.values() for k in (1, 2)]
    times = schedule(q0 + timedelta(hours=12), q0 + timedelta(days=7), timedelta(hours=12), dues)
    sched.run(t for t in times if t < q0 + timedelta(days=4))
    sched.restart()  # between passes: the next passes run on fresh engines
    sched.run(t for t in times if t >= q0 + timedelta(days=4))

    events = history(sched.driver, ids)
    assert count(events, "task_overdue", "qualify_task") == dict.fromkeys(ids, 1)
    assert count(events, "task_follow_up", "work_opportunity") == dict.fromkeys(ids, 1)
    fired_cycles = {(e.instance_id, e.data["due_at"]) for e in events
                    if e.event == "timer_fired" and e.element_id == "followup_timer"}
    assert fired_cycles == {(iid, (qualified[iid] + k * FOLLOW_UP).isoformat()) for iid in ids for k in (1, 2)}
    assert count(events, "completed", "log_followup") == dict.fromkeys(ids, 2)
    opportunities = {iid: opportunity_of(sched, iid) for iid in ids}
    assert activities(sched, "Follow up: ") == {opportunities[iid]: 2 for iid in ids}

    # downtime: every process stops for three weeks; the first pass after it fires each cycle once
    sched.restart()
    last = sched.pass_times()[-1]
    back = last + THREE_WEEKS
    missed = {iid: next_occurrence(qualified[iid], FOLLOW_UP, last) for iid in ids}
    following = {iid: next_occurrence(qualified[iid], FOLLOW_UP, back) for iid in ids}
    assert all(back - missed[iid] > 5 * FOLLOW_UP for iid in ids)  # several intervals were missed
    fired = sched.tick(back)
    assert sorted((f.instance_id, f.element_id, f.due_at) for f in fired) == sorted(
        (iid, "followup_timer", missed[iid]) for iid in ids), "once for the missed period, at its first due time"
    for iid in ids:
        [pending] = sched.driver.get_instance(iid).timers
        assert (pending.element_id, pending.due_at) == ("followup_timer", following[iid])
        assert pending.due_at > back, "the next occurrence is in the future"
    sched.restart()
    assert sched.tick(back) == [], "a restarted scheduler at the same time fires nothing again"
    sched.run(around(following.values()))

    events = history(sched.driver, ids)
    check_timer_fired_entries_once(events)
    assert count(events, "completed", "log_followup") == dict.fromkeys(ids, 4)
    assert activities(sched, "Follow up: ") == {opportunities[iid]: 4 for iid in ids}
    rows = timers(sched.driver, ids)
    fired_rows = check_fired_once_on_time(sched, rows)
    assert Counter((r.instance_id, r.element_id, r.kind) for r in fired_rows) == Counter(
        {**{(iid, "followup_timer", "cycle"): 4 for iid in ids},
         **{(iid, "qualify_task", "task_due"): 1 for iid in ids},
         **{(iid, "work_opportunity", "task_follow_up"): 1 for iid in ids}})
    # on time: every firing outside the downtime came exactly at its due time
    assert [r for r in fired_rows if r.fired_at != r.due_at and r.fired_at != back] == []
    assert sched.driver.list_incidents() == []
    for iid in ids:
        assert [(t.element_id, t.due_at) for t in sched.driver.get_instance(iid).timers] == [
            ("followup_timer", following[iid] + FOLLOW_UP)]


def reminder_steps() -> tuple[set[str], bool]:
    """The diagram's payment reminder step(s), and whether they email through sales/send_payment_reminder
    (the diagram may move from logging the reminder to emailing it; its timer ids stay)."""
    root = etree.parse(str(L2I_FILES[0])).getroot()
    operators = {t.get("id"): op.get("id") for t in root.iter(f"{BPMN}serviceTask")
                 if (op := t.find(f".//{SPIFF}serviceTaskOperator")) is not None}
    emailing = {step for step, op in operators.items() if op == "sales/send_payment_reminder"}
    return emailing or {"send_reminder"}, bool(emailing)


def test_payment_reminder_cycle_fires_once_on_time_across_restarts_and_downtime(
    sched: Schedulers, db_url: str, clock: ManualClock,
) -> None:
    from engine.models import OutboxMessage
    from handlers.models import Invoice

    price_list_id = seed_sales(db_url, clock)
    t0 = clock.now()
    ids = sorted(start_leads(sched, t0))
    act_in_batches(sched, ids, t0 + timedelta(minutes=30), qualify(sched, price_list_id))

    def quote_and_accept(iid: int) -> None:
        task = one_task(sched, iid, "work_opportunity")
        sched.driver.complete_task(task.id, user="ann", data={"outcome": "quote", "quote_lines": LINES,
                                                              "discount_percent": 0, "tax_rate": 20})
        key = sched.driver.get_instance(iid, with_history=False).business_key
        inst = sched.driver.correlate("quote_accepted", key=key, data={"accepted_by": "Buyer"})
        assert [s.element_id for s in inst.subscriptions] == ["await_payment"], inst

    accepted = act_in_batches(sched, ids, t0 + timedelta(hours=2), quote_and_accept)
    invoices = {iid: sched.driver.get_instance(iid, with_history=False).data["invoice"] for iid in ids}
    for iid in ids:
        # 30 days' payment terms from the day the order was invoiced
        assert invoices[iid]["due_date"] == (accepted[iid].date() + timedelta(days=30)).isoformat()
        pending = [(t.element_id, t.kind, t.due_at) for t in sched.driver.get_instance(iid).timers]
        assert pending == [("overdue_timer", "cycle", accepted[iid] + PAYMENT_CHECK)], pending

    a0 = min(accepted.values())
    dues = [a + k * PAYMENT_CHECK for a in accepted.values() for k in (1, 2)]
    times = schedule(a0 + timedelta(days=1), a0 + timedelta(days=15), timedelta(days=1), dues)
    sched.run(t for t in times if t < a0 + timedelta(days=10))
    sched.restart()
    sched.run(t for t in times if t >= a0 + timedelta(days=10))
    last = sched.pass_times()[-1]

    # three weeks down: past the invoices' due date, the one catch-up check finds them overdue
    sched.restart()
    back = last + THREE_WEEKS
    missed = {iid: next_occurrence(accepted[iid], PAYMENT_CHECK, last) for iid in ids}
    following = {iid: next_occurrence(accepted[iid], PAYMENT_CHECK, back) for iid in ids}
    assert all(back - missed[iid] > 2 * PAYMENT_CHECK for iid in ids)  # several weekly checks were missed
    fired = sched.tick(back)
    assert sorted((f.instance_id, f.element_id, f.due_at) for f in fired) == sorted(
        (iid, "overdue_timer", missed[iid]) for iid in ids)
    for iid in ids:
        [pending] = sched.driver.get_instance(iid).timers
        assert (pending.element_id, pending.due_at) == ("overdue_timer", following[iid]) and pending.due_at > back
    sched.restart()
    assert sched.tick(back) == []
    sched.run(around(following.values()))

    # what each firing should have found, worked out from the invoice's due date
    checks = {iid: [accepted[iid] + PAYMENT_CHECK, accepted[iid] + 2 * PAYMENT_CHECK, back, following[iid]]
              for iid in ids}
    reminders = {iid: sum(1 for at in checks[iid] if at.date().isoformat() > invoices[iid]["due_date"])
                 for iid in ids}
    assert set(reminders.values()) == {2}  # the two checks before the due date find nothing to remind
    events = history(sched.driver, ids)
    check_timer_fired_entries_once(events)
    assert count(events, "timer_fired", "overdue_timer") == dict.fromkeys(ids, 4)
    assert count(events, "completed", "check_overdue") == dict.fromkeys(ids, 4)
    steps, emailing = reminder_steps()
    assert Counter(e.instance_id for e in events if e.event == "completed" and e.element_id in steps) == reminders
    opportunities = {iid: opportunity_of(sched, iid) for iid in ids}
    assert activities(sched, "Payment reminder: invoice ") == {opportunities[iid]: reminders[iid] for iid in ids}
    if emailing:
        with sched.driver.db.read() as s:
            sent = {i.id: i.reminders_sent for i in s.scalars(select(Invoice))}
            emails = Counter(m.instance_id for m in s.scalars(select(OutboxMessage).where(
                OutboxMessage.channel == "email")) if m.payload["subject"].startswith("Payment reminder"))
        assert {iid: sent[invoices[iid]["invoice_id"]] for iid in ids} == reminders
        assert emails == reminders

    fired_rows = check_fired_once_on_time(sched, timers(sched.driver, ids))
    assert Counter((r.instance_id, r.element_id) for r in fired_rows) == {(iid, "overdue_timer"): 4 for iid in ids}
    assert [r for r in fired_rows if r.fired_at != r.due_at and r.fired_at != back] == []
    assert sched.driver.list_incidents() == []


# -- case resolution ----------------------------------------------------------------------------
PROBLEM = {"title": "Cannot reset my password", "origin": "Email", "customer_email": "ada@example.com",
           "case_type": "Problem", "description": "The password reset link says the token expired."}


def open_cases(sched: Schedulers, at: datetime) -> dict[int, datetime]:
    opened = {}
    for i in sorted(range(CASES), key=offset):
        when = at + offset(i)
        sched.at(when)
        inst = sched.driver.start("case_resolution", {"request": {**PROBLEM, "title": f"Case {i}"}},
                                  business_key=f"CASE-{i}", user="email-to-case")
        assert inst.status == "waiting" and [t.element_id for t in inst.open_tasks] == ["work_case"], inst
        opened[inst.id] = when
    return opened


def sla_times(opened: datetime) -> dict[str, datetime]:
    """An entitled Problem by email is High: first response in 2 working hours (warning at 75%),
    resolution in 16, on the support calendar."""
    return {"fr_warn": working(opened, 1.5), "fr_fail": working(opened, 2), "rs_warn": working(opened, 12),
            "rs_fail": working(opened, 16)}


def kpis(sched: Schedulers, iid: int) -> dict[str, tuple[str, str, datetime | None, datetime | None]]:
    from handlers.models import SlaKpiInstance

    case_id = sched.driver.get_instance(iid, with_history=False).data["case"]["case_id"]
    with sched.driver.db.read() as s:
        rows = s.scalars(select(SlaKpiInstance).where(SlaKpiInstance.case_id == case_id))
        return {k.kpi: (k.state, k.status, k.warned_at, k.failed_at) for k in rows}


def check_case_outcome(sched: Schedulers, ids: list[int], sla: dict[int, dict[str, datetime]]) -> None:
    """Each case warned once, escalated once, breached once, every task date fired once."""
    events = history(sched.driver, ids)
    check_timer_fired_entries_once(events)
    once = dict.fromkeys(ids, 1)
    assert count(events, "timer_fired", "sla_warning") == once
    assert count(events, "timer_fired", "sla_failure") == once
    assert count(events, "completed", "check_warning") == once
    assert count(events, "completed", "check_breach") == once
    created = [(e.instance_id, e.element_id) for e in events if e.event == "task_created"]
    assert Counter(created) == {**{(i, "work_case"): 1 for i in ids}, **{(i, "supervise_case"): 1 for i in ids},
                                **{(i, "review_breach"): 1 for i in ids}}
    # one overdue entry per dated task: the agent's (resolve-by) and the supervisor's (first response)
    overdue = Counter((e.instance_id, e.element_id) for e in events if e.event == "task_overdue")
    assert overdue == {**{(i, "work_case"): 1 for i in ids}, **{(i, "supervise_case"): 1 for i in ids}}
    assert count(events, "task_follow_up", "work_case") == once
    rows = timers(sched.driver, ids)
    fired = check_fired_once_on_time(sched, rows)
    assert sorted((r.instance_id, r.element_id, r.kind, r.due_at) for r in fired) == sorted(
        [(i, "sla_warning", "date", sla[i]["fr_warn"]) for i in ids]
        + [(i, "sla_failure", "date", sla[i]["rs_fail"]) for i in ids]
        + [(i, "work_case", "task_follow_up", sla[i]["fr_fail"]) for i in ids]
        + [(i, "work_case", "task_due", sla[i]["rs_fail"]) for i in ids]
        + [(i, "supervise_case", "task_due", sla[i]["fr_fail"]) for i in ids])
    assert [r for r in rows if r.state == "pending"] == []
    for iid in ids:
        # the KPIs failed at their failure times, whenever the check ran
        assert kpis(sched, iid) == {
            "first_response": ("Closed", "Noncompliant", sla[iid]["fr_warn"], sla[iid]["fr_fail"]),
            "resolve": ("Closed", "Noncompliant", sla[iid]["rs_warn"], sla[iid]["rs_fail"]),
        }
        assert sorted(t.element_id for t in sched.driver.list_tasks(instance_id=iid)) == [
            "review_breach", "supervise_case", "work_case"]
    assert sched.driver.list_incidents() == []


def test_case_sla_warning_and_breach_fire_once_on_time_with_two_schedulers(
    sched: Schedulers, db_url: str, clock: ManualClock,
) -> None:
    seed_support(db_url, clock, CASES)
    t0 = clock.now()
    opened = open_cases(sched, t0)
    ids = sorted(opened)
    sla = {iid: sla_times(at) for iid, at in opened.items()}
    for iid in ids:
        pending = sorted((t.element_id, t.kind, t.due_at) for t in sched.driver.get_instance(iid).timers)
        assert pending == [("sla_failure", "date", sla[iid]["rs_fail"]), ("sla_warning", "date", sla[iid]["fr_warn"]),
                           ("work_case", "task_due", sla[iid]["rs_fail"]),
                           ("work_case", "task_follow_up", sla[iid]["fr_fail"])], pending
    dues = [at for times in sla.values() for at in times.values()]
    end = max(s["rs_fail"] for s in sla.values()) + timedelta(hours=1)
    times = schedule(t0 + timedelta(minutes=30), end, timedelta(hours=2), dues)
    midday = t0 + timedelta(hours=4)
    sched.run(t for t in times if t < midday)
    for iid in ids:  # warned and escalated at the warning time; nothing breached yet
        state = kpis(sched, iid)
        assert state["first_response"][:3] == ("Active", "Nearing Noncompliance", sla[iid]["fr_warn"])
        assert state["resolve"][:2] == ("Active", "In Progress")
    sched.restart()
    sched.run(t for t in times if t >= midday)
    check_case_outcome(sched, ids, sla)
    assert [r for r in timers(sched.driver, ids) if r.state == "fired" and r.fired_at != r.due_at] == []
    sched.restart()
    assert sched.tick(sched.pass_times()[-1]) == []


def test_case_sla_timers_after_three_weeks_down_fire_once_and_breach_at_the_failure_time(
    sched: Schedulers, db_url: str, clock: ManualClock,
) -> None:
    seed_support(db_url, clock, CASES)
    t0 = clock.now()
    opened = open_cases(sched, t0)
    ids = sorted(opened)
    sla = {iid: sla_times(at) for iid, at in opened.items()}
    sched.restart()
    back = t0 + THREE_WEEKS
    fired = sched.tick(back)
    # the escalation's supervisor task is due at the first response time, long past: the same pass fires it
    assert Counter((f.element_id, f.fired_at) for f in fired) == {
        ("sla_warning", back): CASES, ("sla_failure", back): CASES, ("work_case", back): 2 * CASES,
        ("supervise_case", back): CASES}
    sched.restart()
    assert sched.tick(back) == [] and sched.tick(back + SECOND) == []
    check_case_outcome(sched, ids, sla)


# -- campaign execution ---------------------------------------------------------------------------
CAMPAIGNS = 20
WINDOW = timedelta(days=7)  # the plan's response_window_days


def test_campaign_task_due_dates_and_response_windows_fire_once_on_time_across_restarts_and_downtime(
    sched: Schedulers, db_url: str, clock: ManualClock,
) -> None:
    from engine.models import OutboxMessage

    list_id = seed_marketing(db_url, clock)
    t0 = clock.now()
    started = {}
    for i in sorted(range(CAMPAIGNS), key=offset):
        sched.at(t0 + offset(i))
        started[sched.driver.start("campaign_execution", business_key=f"CMP-{i}", user="mia").id] = t0 + offset(i)
    ids = sorted(started)
    plan_due = {iid: at + timedelta(days=2) for iid, at in started.items()}  # the plan task's dueDate P2D
    assert {iid: one_task(sched, iid, "plan_campaign").due_at for iid in ids} == plan_due
    sched.run(schedule(t0 + timedelta(hours=12), t0 + timedelta(days=2, hours=1), timedelta(hours=12),
                       plan_due.values()))

    def plan(iid: int) -> None:
        form = {"name": f"Spring offer {iid}", "budget": 2000, "list_id": list_id, "channel": "email", "waves": 2,
                "response_window_days": WINDOW.days, "wave_cost": 250, "subject": "Spring offer",
                "body": "Hello {{ member.first_name }}\n"}
        sched.driver.complete_task(one_task(sched, iid, "plan_campaign").id, user="mia", data=form)

    planned = act_in_batches(sched, ids, t0 + timedelta(days=2, hours=2), plan)
    approve_due = {iid: at + timedelta(days=1) for iid, at in planned.items()}  # the approval's dueDate P1D
    assert {iid: one_task(sched, iid, "approve_campaign").due_at for iid in ids} == approve_due
    p0 = min(planned.values())
    sched.run(schedule(p0 + timedelta(hours=6), p0 + timedelta(days=1, hours=1), timedelta(hours=6),
                       approve_due.values()))

    def approve(iid: int) -> None:
        sched.driver.complete_task(one_task(sched, iid, "approve_campaign").id, user="max",
                                   data={"approval": "approve", "manager_comment": "Go"})

    approved = act_in_batches(sched, ids, p0 + timedelta(days=1, hours=2), approve)
    first_window = {iid: at + WINDOW for iid, at in approved.items()}
    for iid in ids:
        assert [(t.element_id, t.due_at) for t in sched.driver.get_instance(iid).timers] == [
            ("wait_wave", first_window[iid])]
    a0 = min(approved.values())
    sched.restart()
    sched.run(schedule(a0 + timedelta(days=1), a0 + WINDOW + timedelta(hours=1), timedelta(days=1),
                       first_window.values()))
    second_window = {iid: at + WINDOW for iid, at in first_window.items()}  # wave 2 starts when wave 1's ends
    for iid in ids:
        assert [(t.element_id, t.due_at) for t in sched.driver.get_instance(iid).timers] == [
            ("wait_wave", second_window[iid])]

    # three weeks down: each campaign's last window fires once, and the campaign completes
    sched.restart()
    back = sched.pass_times()[-1] + THREE_WEEKS
    fired = sched.tick(back)
    assert sorted((f.instance_id, f.element_id, f.due_at) for f in fired) == sorted(
        (iid, "wait_wave", second_window[iid]) for iid in ids)
    sched.restart()
    assert sched.tick(back) == []

    events = history(sched.driver, ids)
    check_timer_fired_entries_once(events)
    once = dict.fromkeys(ids, 1)
    assert count(events, "task_overdue", "plan_campaign") == once
    assert count(events, "task_overdue", "approve_campaign") == once
    assert count(events, "completed", "create_wave") == dict.fromkeys(ids, 2)
    assert count(events, "completed", "window_over") == dict.fromkeys(ids, 2)
    assert count(events, "completed", "end_completed") == once
    with sched.driver.db.read() as s:
        mails = s.scalars(select(OutboxMessage).where(OutboxMessage.channel == "email"))
        emails = Counter(m.instance_id for m in mails)
    assert emails == dict.fromkeys(ids, 4), "two members, two waves, one email each"
    fired_rows = check_fired_once_on_time(sched, timers(sched.driver, ids))
    assert sorted((r.instance_id, r.element_id, r.kind, r.due_at) for r in fired_rows) == sorted(
        [(i, "plan_campaign", "task_due", plan_due[i]) for i in ids]
        + [(i, "approve_campaign", "task_due", approve_due[i]) for i in ids]
        + [(i, "wait_wave", "duration", first_window[i]) for i in ids]
        + [(i, "wait_wave", "duration", second_window[i]) for i in ids])
    assert [r for r in fired_rows if r.fired_at != r.due_at and r.fired_at != back] == []
    assert all(sched.driver.get_instance(iid, with_history=False).status == "completed" for iid in ids)
    assert sched.driver.list_incidents() == []
