"""Workload 6, memory: what a long-running crmflow process holds with many waiting instances.

Instances live in the database, not in memory: a `serve`/`worker` process should need the
same resident memory whether 1,000 or 100,000 instances wait. A database is filled with
N instances waiting on a user task (a few hundred started through the facade, the rest
copied row by row in SQL, which is what matters here: how many rows exist), then a fresh
process does what `crmflow serve` does all day — scheduler passes (`tick`), worklist
pages, task and instance reads, `/metrics` — and reports its resident set (VmRSS) and
peak (VmHWM). The reference is the same process on the smaller database.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import func, insert, select

from engine.read_model import HumanTask, Instance

from . import Row, Sizes
from .common import Log, crmflow_engine

TARGET = 1.2
PROBE = r"""
import json, sys
from engine import Engine, ManualClock
from engine.clock import ensure_utc
import datetime

def rss():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])

eng = Engine(sys.argv[1], clock=ManualClock(datetime.datetime(2026, 1, 6, tzinfo=datetime.timezone.utc)))
for round_ in range(20):
    eng.tick()
    tasks = eng.list_tasks(limit=50)
    for t in tasks[:10]:
        eng.get_task(t.id)
        eng.get_instance(t.instance_id)
    eng.list_instances(limit=50)
    eng.metrics_text()
print(json.dumps(rss()))
"""


def fill(url: str, n: int, seed_instances: int = 200) -> None:
    """`n` waiting instances: some started for real, the rest copies of their rows."""
    with crmflow_engine(url) as (eng, _clock):
        started = [eng.start("bench_task_wait", {"i": i}) for i in range(min(n, seed_instances))]
        with eng.db.write() as session:
            base = session.get(Instance, started[0].id)
            task = session.scalars(select(HumanTask).where(HumanTask.instance_id == base.id)).one()
            missing = n - len(started)
            batch = 5_000
            while missing > 0:
                count = min(batch, missing)
                columns = {c.name: getattr(base, c.name) for c in Instance.__table__.columns if c.name != "id"}
                result = session.execute(insert(Instance).returning(Instance.id), [dict(columns) for _ in range(count)])
                ids = [row[0] for row in result]
                task_cols = {c.name: getattr(task, c.name) for c in HumanTask.__table__.columns}
                session.execute(insert(HumanTask), [dict(task_cols, id=str(uuid.uuid4()), instance_id=i) for i in ids])
                missing -= count
            total = session.scalar(select(func.count()).select_from(Instance))
        assert total == n, f"filled {total} instances, wanted {n}"


def probe(url: str) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", PROBE, url], capture_output=True, text=True, timeout=600,
                         cwd=Path(__file__).resolve().parent.parent)
    if out.returncode != 0:
        raise RuntimeError(f"memory probe failed: {out.stderr.strip().splitlines()[-1:]}")
    rss, peak = json.loads(out.stdout.strip().splitlines()[-1])
    return rss, peak


def run(sizes: Sizes, log: Log) -> list[Row]:
    small, large = sizes.worklist_items
    with tempfile.TemporaryDirectory(prefix="crmflow-bench-mem-") as folder:
        results = {}
        for n in (small, large):
            url = f"sqlite:///{Path(folder) / f'mem{n}.db'}"
            log(f"memory: filling {n:,} waiting instances")
            fill(url, n)
            results[n] = probe(url)
    (rss_s, _), (rss_l, peak_l) = results[small], results[large]
    return [
        Row("memory", f"resident memory of a serving process @ {large:,} waiting instances",
            f"{rss_l / 1024:.0f} MiB (peak {peak_l / 1024:.0f})", f"{rss_s / 1024:.0f} MiB @ {small:,}",
            rss_l / rss_s, f"RSS @ {large:,} ÷ RSS @ {small:,}", f"≤ {TARGET}",
            ["ticks, worklist pages, task/instance reads and /metrics, 20 rounds, in a fresh process"]),
    ]
