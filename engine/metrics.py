"""Counters an operator can scrape: Prometheus text exposition, no client library needed.

Process-local counters (steps run, timers fired and their lateness, lease takeovers) are
kept here; gauges that describe the shared database (instances by status, queue depths,
open incidents) are read from it when scraped, so every worker reports the same truth.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import HumanTask, Incident, Instance, Job, OutboxMessage, Timer

HELP = {
    "crmflow_instances_started_total": "Instances started by this process.",
    "crmflow_instances_completed_total": "Instances completed by this process.",
    "crmflow_steps_total": "Automatic steps run by this process.",
    "crmflow_timers_fired_total": "Timers fired by this process.",
    "crmflow_timer_lateness_seconds_sum": "Sum of (fired - due) over fired timers.",
    "crmflow_timer_lateness_seconds_count": "Number of fired timers measured for lateness.",
    "crmflow_incidents_created_total": "Incidents created or failed again in this process.",
    "crmflow_jobs_run_total": "Asynchronous jobs run by this process.",
    "crmflow_lease_takeovers_total": "Jobs taken over from a worker whose lease expired.",
}


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, float] = defaultdict(float)

    def inc(self, name: str, value: float = 1.0) -> None:
        with self._lock:
            self._counters[name] += value

    def get(self, name: str) -> float:
        with self._lock:
            return self._counters.get(name, 0.0)

    def render(self, session: Session) -> str:
        lines: list[str] = []
        with self._lock:
            counters = dict(self._counters)
        for name, text in HELP.items():
            kind = "counter" if name.endswith("_total") else "gauge"
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {counters.get(name, 0.0):g}"]
        lines += ["# HELP crmflow_instances Instances by status.", "# TYPE crmflow_instances gauge"]
        for status, count in session.execute(select(Instance.status, func.count()).group_by(Instance.status)):
            lines.append(f'crmflow_instances{{status="{status}"}} {count}')
        lines += ["# HELP crmflow_queue_depth Open human tasks per queue.", "# TYPE crmflow_queue_depth gauge"]
        for queue, count in session.execute(
            select(HumanTask.queue, func.count()).where(HumanTask.state == "open").group_by(HumanTask.queue)
        ):
            label = (queue or "unassigned").replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'crmflow_queue_depth{{queue="{label}"}} {count}')
        gauges = {
            "crmflow_timers_pending": select(func.count()).select_from(Timer).where(Timer.state == "pending"),
            "crmflow_jobs_pending": select(func.count()).select_from(Job),
            "crmflow_incidents_open": select(func.count()).select_from(Incident).where(Incident.state == "open"),
            "crmflow_outbox_pending": select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.state == "pending"
            ),
        }
        for name, stmt in gauges.items():
            lines += [f"# TYPE {name} gauge", f"{name} {session.scalar(stmt) or 0}"]
        return "\n".join(lines) + "\n"
