"""The views are index-backed: on SQLite no statement they run scans wf_human_task.

A few thousand items inserted like the volume benchmark does; every statement a view runs
is captured and explained. A plan line that reads the table without an index search
(`SCAN wf_human_task`, also over a covering index) fails the test.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import event

import worklists
from bench import Sizes
from bench.worklist_volume import START, Volume, lane_map, run
from engine import Engine, ManualClock
from worklists.service import TaskFilter, Worklist


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    path = tmp_path_factory.mktemp("plans") / "plans.db"
    eng = Engine(f"sqlite:///{path}", clock=ManualClock(START), migrations=[worklists.MIGRATIONS])
    vol = Volume(eng)
    vol.grow_to(3_000)
    yield vol, Worklist(eng, lane_map())
    eng.close()


def plans(eng: Engine, call) -> list[str]:
    captured: list[tuple[str, tuple]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    event.listen(eng.db.read_engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        event.remove(eng.db.read_engine, "before_cursor_execute", capture)
    lines = []
    with eng.db.read_engine.connect() as conn:
        for statement, params in captured:
            if "wf_human_task" in statement:
                rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
                lines += [row[3] for row in rows]
    assert lines, "the view ran no query on wf_human_task"
    return lines


def views(vol: Volume, wl: Worklist):
    user = vol.members[0][0]
    cursor = wl.available(user, limit=5).next_cursor
    return {
        "my work": lambda: wl.my_work(user),
        "my work by priority": lambda: wl.my_work(user, sort="priority"),
        "available": lambda: wl.available(user),
        "available, next page": lambda: wl.available(user, limit=5, cursor=cursor),
        "available, filtered": lambda: wl.available(
            user, TaskFilter(process="renewal", priority_up_to=2, text="step", due_before=START + timedelta(days=3))
        ),
        "queue unpicked by process": lambda: wl.queue("q01", TaskFilter(process="campaign"), picked=False),
        "queue all": lambda: wl.queue("q01"),
        "queue by age with total": lambda: wl.queue("q02", sort="age", with_total=True),
        "closed by me": lambda: wl.closed_by(user),
        "counts": lambda: wl.counts(user),
    }


@pytest.mark.parametrize("name", [
    "my work", "my work by priority", "available", "available, next page", "available, filtered",
    "queue unpicked by process", "queue all", "queue by age with total", "closed by me", "counts",
])
def test_views_search_an_index_and_never_scan_the_table(volume, name):
    vol, wl = volume
    lines = plans(vol.eng, views(vol, wl)[name])
    table_lines = [line for line in lines if "wf_human_task" in line]
    assert table_lines, lines
    for line in table_lines:
        assert line.startswith("SEARCH wf_human_task USING"), f"{name}: {line}\n" + "\n".join(lines)


def test_volume_workload_runs_at_tiny_sizes():
    sizes = Sizes("tiny", 1, 1, (1,), 1, 1, 1, (100, 300), 3)
    rows = run(sizes, lambda message: None)
    assert [r.case.split(" @ ")[0] for r in rows] == [
        "My work", "Available to me", "queue, unpicked, filtered by process", "queue, all open, filtered by process",
    ]
    assert all(r.ratio and r.ratio > 0 for r in rows)
