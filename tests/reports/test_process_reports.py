"""Process reports from hand-written engine rows (versions, instances, history, tasks, incidents)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

import report_seed as seed
from reports_support import NOW

H = timedelta(hours=1)
DAY = datetime(2026, 5, 12, 0, 0, tzinfo=NOW.tzinfo)


def test_instances_by_process_version_and_status(rdb):
    # process, version, status, started
    started = [("p", 1, "completed", DAY), ("p", 2, "completed", DAY + H), ("p", 2, "waiting", DAY + 2 * H),
               ("p", 2, "waiting", DAY + 3 * H), ("q", 1, "incident", DAY - 30 * H)]
    with rdb.seed() as s:
        versions = {}
        for process, number in sorted({(p, v) for p, v, _, _ in started}):
            versions[(process, number)] = seed.version(s, process, number, DAY - 48 * H)
        for process, number, status, when in started:
            seed.instance(s, versions[(process, number)], when, status=status)
    expected = Counter((p, v, st) for p, v, st, _ in started)
    rows = rdb.rows("instances")
    assert [(r["process_id"], r["version"], r["status"]) for r in rows] == sorted(expected)
    assert {(r["process_id"], r["version"], r["status"]): r["instances"] for r in rows} == expected
    assert rows[2]["last_started"] == (DAY + 3 * H).isoformat()  # p v2 waiting: the later of two
    windowed = rdb.rows("instances", since=DAY.isoformat(), until=(DAY + 2 * H).isoformat())
    assert [(r["process_id"], r["version"], r["status"], r["instances"]) for r in windowed] == [
        ("p", 1, "completed", 1), ("p", 2, "completed", 1)]


def test_waits_per_element_from_history_and_open_work(rdb):
    with rdb.seed() as s:
        v = seed.version(s, "p", 1, DAY - 48 * H)
        # instance 1, all in a row: review waits 2 h (task created → completed), the message catch
        # 3 h (reached when review completed at 02:00, message at 05:00); start/service/end never wait
        one = seed.instance(s, v, DAY, status="completed")
        for hour, event, element, task, kind in [
            (0, "instance_started", None, None, None), (0, "completed", "start", "s1", "StartEvent"),
            (0, "task_created", "review", "u1", "UserTask"), (2, "completed", "review", "u1", "UserTask"),
            (2, "completed", "svc", "a1", "ServiceTask"), (5, "message_received", "catch", "c1", "ReceiveTask"),
            (5, "completed", "catch", "c1", "ReceiveTask"), (5, "completed", "end", "e1", "EndEvent"),
        ]:
            seed.history(s, one, DAY + hour * H, event, element, task, kind)
        # instance 2: review waits 4 h (from its task_created, not from the reminder), the catch 1 h
        two = seed.instance(s, v, DAY + 10 * H, status="completed")
        for hour, event, element, task, kind in [
            (10, "completed", "start", "s2", "StartEvent"), (10, "task_created", "review", "u2", "UserTask"),
            # a non-interrupting reminder on the review fires at 12:00: it waited 2 h, the review goes on
            (12, "timer_fired", "remind", "b2", "BoundaryEvent"), (12, "completed", "remind", "b2", "BoundaryEvent"),
            (14, "completed", "review", "u2", "UserTask"), (14, "completed", "svc", "a2", "ServiceTask"),
            (15, "message_received", "catch", "c2", "ReceiveTask"), (15, "completed", "catch", "c2", "ReceiveTask"),
        ]:
            seed.history(s, two, DAY + hour * H, event, element, task, kind)
        # instance 3 waits now: a review task for 6 h, a timer for 3 h, a message for 1 h
        three = seed.instance(s, v, NOW - 6 * H)
        seed.history(s, three, NOW - 6 * H, "task_created", "review", "u3", "UserTask")
        seed.human_task(s, three, "review", NOW - 6 * H)
        seed.timer(s, three, "wait_timer", NOW - 3 * H, NOW + H)
        seed.subscription(s, three, "catch", NOW - H)

    rows = rdb.rows("waits")
    got = {r["element_id"]: (r["completed"], r["average_hours"], r["max_hours"], r["waiting_now"],
                             r["oldest_waiting_hours"]) for r in rows}
    assert got == {
        "review": (2, "3.00", "4.00", 1, "6.00"),  # (2 + 4) / 2
        "catch": (2, "2.00", "3.00", 1, "1.00"),  # (3 + 1) / 2
        "remind": (1, "2.00", "2.00", 0, None),
        "wait_timer": (0, None, None, 1, "3.00"),
    }
    assert [r["element_id"] for r in rows] == ["review", "catch", "remind", "wait_timer"]
    assert rows[0]["element_type"] == "UserTask" and rows[0]["process_id"] == "p"
    # completions from 12:00 on only: instance 2's waits (review 4 h, catch 1 h)
    later = {r["element_id"]: r["average_hours"] for r in rdb.rows("waits", since=(DAY + 12 * H).isoformat())}
    assert later == {"review": "4.00", "catch": "1.00", "remind": "2.00", "wait_timer": None}


def test_open_incidents_by_element(rdb):
    with rdb.seed() as s:
        v = seed.version(s, "q", 1, DAY - 48 * H)
        inst = seed.instance(s, v, NOW - 10 * H, status="incident")
        seed.incident(s, inst, "call_api", NOW - 5 * H, retries_left=2)
        seed.incident(s, inst, "call_api", NOW - H)
        seed.incident(s, inst, "call_api", NOW - 9 * H, state="resolved")
        seed.incident(s, inst, "send_mail", NOW - 30 * timedelta(minutes=1))
    rows = rdb.rows("incidents")
    assert [(r["element_id"], r["open"], r["retrying"], r["oldest_age_hours"]) for r in rows] == [
        ("call_api", 2, 1, "5.00"), ("send_mail", 1, 0, "0.50")]
    assert rows[0]["process_id"] == "q" and rows[0]["last_error"].startswith("ValueError: boom")
