"""Workload `worklist`: first-page latency of the worklist views at 1,000 and 100,000 open items.

Open items are inserted straight into `wf_human_task` (bulk Core inserts, realistic shape):
50 queues of skewed size (the biggest ~8 % of all items), 500 users in one or two groups,
30 % of items picked by a member of their queue, priorities 1-5, due dates from five days
late to three weeks ahead (10 % without), five processes. Each item points at one of a
few hundred instance rows, as the foreign keys require. Two databases are filled the
same way, one to each size, and each view is timed on both through `Worklist`, exactly as
the CLI and the API call it (user lookup included), the calls alternating between the two
so machine noise hits both alike: p50/p95 of the first page (50 rows).
The reference is the same view at the small size; the target is a p95 ratio ≤ 2 and an
absolute p95 well under 50 ms.
"""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

import worklists
from engine import Engine, ManualClock
from engine.models import DefinitionFile, HumanTask, Instance, ProcessVersion
from worklists.models import Group, Membership, User
from worklists.routing import LaneMap
from worklists.service import TaskFilter, Worklist

from . import Row, Sizes
from .common import Log, ms, percentile

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
QUEUES = 50
USERS = 500
PROCESSES = ("lead_to_invoice", "case_handling", "campaign", "renewal", "onboarding")
INSTANCES_PER_PROCESS = 60
PICKED_SHARE = 0.3
CHUNK = 5_000
TARGET_RATIO = 2.0
TARGET_MS = 50.0


def queue_name(k: int) -> str:
    return f"q{k:02d}"


def group_name(k: int) -> str:
    return f"g{k:02d}"


def lane_map() -> LaneMap:
    return LaneMap.from_dict({f"Lane {k}": {"queue": queue_name(k), "groups": [group_name(k)]} for k in range(QUEUES)})


class Volume:
    """A worklist database that grows by bulk inserts; remembers who is in which group."""

    def __init__(self, eng: Engine, seed: int = 7) -> None:
        self.eng = eng
        self.rng = random.Random(seed)
        self.count = 0
        self.weights = [1 / (k + 1) ** 0.5 for k in range(QUEUES)]
        self.members: dict[int, list[str]] = {k: [] for k in range(QUEUES)}
        self.instances: dict[str, list[int]] = {}
        self._seed_people()
        self._seed_instances()

    def _seed_people(self) -> None:
        now = self.eng.now()
        with self.eng.db.write() as session:
            conn = session.connection()
            conn.execute(insert(Group.__table__), [{"id": k + 1, "name": group_name(k)} for k in range(QUEUES)])
            conn.execute(
                insert(User.__table__),
                [{"id": i + 1, "name": f"u{i:03d}", "active": True, "created_at": now} for i in range(USERS)],
            )
            memberships = []
            for i in range(USERS):
                groups = {i % QUEUES}
                if self.rng.random() < 0.3:
                    groups.add(self.rng.randrange(QUEUES))
                for k in groups:
                    memberships.append({"user_id": i + 1, "group_id": k + 1})
                    self.members[k].append(f"u{i:03d}")
            conn.execute(insert(Membership.__table__), memberships)

    def _seed_instances(self) -> None:
        now = self.eng.now()
        with self.eng.db.write() as session:
            conn = session.connection()
            file_id = conn.execute(
                insert(DefinitionFile.__table__).values(
                    name="bench.bpmn", kind="bpmn", content_hash="bench-worklist", content=b"<none/>", deployed_at=now
                )
            ).inserted_primary_key[0]
            for pid in PROCESSES:
                version_id = conn.execute(
                    insert(ProcessVersion.__table__).values(
                        process_id=pid, name=pid, version=1, content_hash=f"bench-{pid}", file_id=file_id,
                        spec_json="{}", serializer_version="bench", message_starts=[], deployed_at=now,
                    )
                ).inserted_primary_key[0]
                ids = []
                for n in range(INSTANCES_PER_PROCESS):
                    ids.append(conn.execute(
                        insert(Instance.__table__).values(
                            process_id=pid, version_id=version_id, business_key=f"{pid}-{n}", status="waiting",
                            state="", serializer_version="bench", lock_version=1, created_at=now, updated_at=now,
                            steps=0,
                        )
                    ).inserted_primary_key[0])
                self.instances[pid] = ids

    def grow_to(self, total: int) -> None:
        """Insert open items until there are `total`."""
        while self.count < total:
            n = min(CHUNK, total - self.count)
            rows = [self._item(self.count + i) for i in range(n)]
            with self.eng.db.write() as session:
                session.connection().execute(insert(HumanTask.__table__), rows)
            self.count += n

    def _item(self, i: int) -> dict[str, Any]:
        rng = self.rng
        k = rng.choices(range(QUEUES), self.weights)[0]
        pid = rng.choice(PROCESSES)
        created = START - timedelta(minutes=rng.randrange(30 * 24 * 60))
        due = None if rng.random() < 0.1 else START + timedelta(minutes=rng.randrange(-5 * 24 * 60, 21 * 24 * 60))
        picked = rng.random() < PICKED_SHARE
        assignee = rng.choice(self.members[k]) if picked else None
        return {
            "id": f"{i:08d}-0000-4000-8000-{rng.getrandbits(48):012x}",
            "instance_id": rng.choice(self.instances[pid]),
            "process_id": pid,
            "business_key": f"C-{i:07d}",
            "element_id": f"task_{k % 7}",
            "name": f"Step {k % 7} of {pid}",
            "kind": "user",
            "lane": f"Lane {k}",
            "queue": queue_name(k),
            "assignee": assignee,
            "claimed_at": created + timedelta(hours=1) if picked else None,
            "candidate_groups": [group_name(k)],
            "priority": rng.choice((1, 2, 3, 3, 4, 5)),
            "due_at": due,
            "state": "open",
            "created_at": created,
        }

    def busy_user(self) -> str:
        """A member of a random queue (weighted like the items), so 'My work' has rows."""
        k = self.rng.choices(range(QUEUES), self.weights)[0]
        return self.rng.choice(self.members[k])


def view_calls(vol: Volume, wl: Worklist, samples: int) -> dict[str, list[Callable[[], Any]]]:
    """The first-page calls to time, per view, with users and queues drawn like the items."""
    rng = vol.rng
    mine = [vol.busy_user() for _ in range(samples)]
    avail = [vol.busy_user() for _ in range(samples)]
    queues = [(queue_name(rng.choices(range(QUEUES), vol.weights)[0]), rng.choice(PROCESSES)) for _ in range(samples)]
    return {
        "My work": [lambda u=u: wl.my_work(u) for u in mine],
        "Available to me": [lambda u=u: wl.available(u) for u in avail],
        "queue, unpicked, filtered by process": [
            lambda q=q, p=p: wl.queue(q, TaskFilter(process=p), picked=False) for q, p in queues
        ],
        "queue, all open, filtered by process": [
            lambda q=q, p=p: wl.queue(q, TaskFilter(process=p)) for q, p in queues
        ],
    }


ROWS: dict[int, list[int]] = {}


def timed_call(call: Callable[[], Any], size: int) -> float:
    began = time.perf_counter()
    page = call()
    elapsed = time.perf_counter() - began
    ROWS.setdefault(size, []).append(len(page.items))
    return elapsed


def interleaved(small: list[Callable[[], Any]], large: list[Callable[[], Any]]) -> tuple[list[float], list[float]]:
    """Time both sizes call by call, alternating who goes first, so machine noise hits both alike."""
    for call in (*small[:5], *large[:5]):  # warm caches and connections
        call()
    at_small, at_large = [], []
    for i, (a, b) in enumerate(zip(small, large, strict=True)):
        if i % 2:
            at_large.append(timed_call(b, 1))
            at_small.append(timed_call(a, 0))
        else:
            at_small.append(timed_call(a, 0))
            at_large.append(timed_call(b, 1))
    return at_small, at_large


@contextmanager
def volume_db(folder: str, name: str, items: int) -> Iterator[tuple[Volume, Worklist]]:
    eng = Engine(f"sqlite:///{Path(folder) / name}", clock=ManualClock(START), migrations=[worklists.MIGRATIONS])
    try:
        vol = Volume(eng)
        vol.grow_to(items)
        yield vol, Worklist(eng, lane_map())
    finally:
        eng.close()


def run(sizes: Sizes, log: Log) -> list[Row]:
    small, large = sizes.worklist_items
    n = sizes.worklist_samples
    with tempfile.TemporaryDirectory(prefix="crmflow-bench-wl-") as folder:
        began = time.perf_counter()
        with volume_db(folder, "small.db", small) as (vol_s, wl_s), volume_db(folder, "large.db", large) as (
            vol_l, wl_l
        ):
            log(f"worklist: {small:,} and {large:,} open items inserted in {time.perf_counter() - began:.1f} s; "
                f"{n} first-page calls per view and size, interleaved")
            calls_s, calls_l = view_calls(vol_s, wl_s, n), view_calls(vol_l, wl_l, n)
            results, fill = {}, {}
            for name in calls_s:
                ROWS.clear()
                results[name] = interleaved(calls_s[name], calls_l[name])
                fill[name] = tuple(sum(ROWS[k]) / len(ROWS[k]) for k in (0, 1))
    rows = []
    for name, (ref, times) in results.items():
        p95, ref95 = percentile(times, 95), percentile(ref, 95)
        rows_s, rows_l = fill[name]
        notes = [f"{QUEUES} queues, {USERS} users, first page of up to 50 rows (on average {rows_l:.0f} "
                 f"@ {large:,}, {rows_s:.0f} @ {small:,}), SQLite file"]
        if name.startswith("queue, all open"):
            notes.append("picked items are sorted per queue (the index orders them per assignee)")
        rows.append(Row(
            "worklist", f"{name} @ {large:,} open",
            f"p50 {ms(percentile(times, 50))} / p95 {ms(p95)}",
            f"@ {small:,}: p50 {ms(percentile(ref, 50))} / p95 {ms(ref95)}",
            p95 / ref95, f"p95 @ {large:,} ÷ p95 @ {small:,}", f"≤ {TARGET_RATIO:g}, p95 < {TARGET_MS:g} ms", notes,
        ))
    return rows
