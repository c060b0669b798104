"""What every room of the engine shares: the database, the clock, the plug-ins, the spec cache.

`Engine` (the facade) is an `EngineCore` with one method per operation; the rooms behind it
(`engine/rooms/`) and the unit of work are given the core, never the facade, so nothing inside
the engine calls back up into its front door.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from . import definitions, spiff
from .call_depth import DEFAULT_MAX_CALL_DEPTH
from .clock import Clock, SystemClock, ensure_utc
from .db import Database
from .errors import Conflict, NotFound
from .metrics import Metrics
from .models import Instance, ProcessVersion
from .projections import HumanTaskInfo
from .services import HandlerRegistry
from .unit_time import unit_seconds_from_env
from .working_time import WorkingTime

SPEC_CACHE_SIZE = 64
UNASSIGNED_QUEUE = "unassigned"
TaskRouter = Callable[[HumanTaskInfo, str], None]


@dataclass(frozen=True)
class LoadedVersion:
    """A deployed version's spec objects, shared by every instance of it in this process."""

    spec: Any
    subprocess_specs: dict[str, Any]
    version: int


def not_suspended(instance_id: Any) -> Any:
    """Background work (timers, jobs, automatic retries) leaves suspended instances alone."""
    return instance_id.not_in(select(Instance.id).where(Instance.status == "suspended"))


@contextmanager
def conflicts_as_errors() -> Iterator[None]:
    """A concurrent change (stale row version, duplicate key) becomes a `Conflict` to retry."""
    try:
        yield
    except (StaleDataError, IntegrityError) as exc:
        raise Conflict("the instance was changed by someone else at the same time; try again") from exc


class EngineCore:
    """The engine's state; the rooms read it, the facade (`Engine`) adds the operations."""

    def __init__(
        self,
        db_url: str | None = None,
        registry: HandlerRegistry | None = None,
        clock: Clock | None = None,
        *,
        max_steps: int = 200_000,
        max_call_depth: int = DEFAULT_MAX_CALL_DEPTH,
        auto_migrate: bool = True,
        migrations: list[Path] | None = None,
        task_router: TaskRouter | None = None,
        working_time: WorkingTime | None = None,
        unit_seconds: float | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        spiff.install()  # SpiffWorkflow corrections (engine/spiff/), idempotent
        self.db = Database(db_url, migrations)
        # wall-clock bound on one unit of work (engine/unit_time.py); `monotonic` is injectable for tests
        self.unit_seconds = unit_seconds if unit_seconds is not None else unit_seconds_from_env()
        self.monotonic = monotonic
        self.registry = registry or HandlerRegistry()
        self.clock = clock or SystemClock()
        self.max_steps = max_steps
        self.max_call_depth = max_call_depth  # nesting of call activities (engine/call_depth.py)
        self.task_router = task_router
        self.working_time = working_time  # business-hours timers (engine/working_time.py)
        self.metrics = Metrics()
        self._specs: OrderedDict[int, LoadedVersion] = OrderedDict()
        self._specs_lock = threading.Lock()
        if auto_migrate:
            self.db.ensure_schema()

    def close(self) -> None:
        self.db.dispose()

    def now(self) -> datetime:
        return ensure_utc(self.clock.now())

    def route_new_task(self, info: HumanTaskInfo, process_id: str) -> None:
        """Give a new human task its queue: the router's choice, else the diagram's, the lane,
        or the visible 'unassigned' queue — never nowhere."""
        if self.task_router is not None:
            self.task_router(info, process_id)
        info.queue = info.queue or info.lane or UNASSIGNED_QUEUE

    def specs_for(self, session: Session, version_id: int) -> LoadedVersion:
        """The version's spec objects, deserialized once per process and kept (LRU)."""
        with self._specs_lock:
            cached = self._specs.get(version_id)
            if cached is not None:
                self._specs.move_to_end(version_id)
                return cached
        row = session.execute(
            select(ProcessVersion.spec_json, ProcessVersion.version).where(ProcessVersion.id == version_id)
        ).first()
        if row is None:
            raise NotFound(f"process version {version_id} does not exist")
        spec, subprocess_specs = definitions.deserialize_spec(row.spec_json)
        specs = LoadedVersion(spec, subprocess_specs, row.version)
        with self._specs_lock:
            self._specs[version_id] = specs
            while len(self._specs) > SPEC_CACHE_SIZE:
                self._specs.popitem(last=False)
        return specs
