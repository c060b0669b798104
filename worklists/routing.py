"""Which queue a new human task lands in and who may work it.

`processes/lanes.json` maps each diagram lane to a queue and the groups that work it:

    {"Sales": {"queue": "sales", "groups": ["sales"], "supervisors": ["sales-managers"]}, ...}

`make_router(lane_map)` returns the engine's `task_router`. Its rules, in order:
- an assignee or candidate groups set by the diagram (already evaluated into the task) win;
- spiff-arena's `lane_owners` task data (`{lane: [users]}`): one owner becomes the assignee,
  several become candidate users (`user:NAME` entries in candidate groups);
- otherwise the lane's groups from the map;
- the queue is the diagram's `queue` property, else the lane's queue, else the queue of the
  first lane whose groups include a candidate group, else the lane name, else "unassigned".
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.projections import HumanTaskInfo

UNASSIGNED = "unassigned"
USER_PREFIX = "user:"
LANES_ENV = "CRMFLOW_LANES"
DEFAULT_LANES_FILE = Path("processes") / "lanes.json"
TaskRouter = Callable[[HumanTaskInfo, str], None]


class LaneMapError(ValueError):
    """The lane map file cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class QueueInfo:
    """A queue and the groups that work it; supervisors default to those groups."""

    name: str
    groups: tuple[str, ...] = ()
    supervisors: tuple[str, ...] = ()
    lanes: tuple[str, ...] = ()

    @property
    def supervisor_groups(self) -> tuple[str, ...]:
        return self.supervisors or self.groups

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "groups": list(self.groups), "supervisors": list(self.supervisor_groups),
                "lanes": list(self.lanes)}


@dataclass(frozen=True)
class LaneRoute:
    lane: str
    queue: str
    groups: tuple[str, ...]
    supervisors: tuple[str, ...] = ()


@dataclass
class LaneMap:
    """Lanes → queues and groups; queues not in the map have no groups (admins work them)."""

    lanes: dict[str, LaneRoute] = field(default_factory=dict)
    source: str = "(empty)"

    @classmethod
    def load(cls, path: str | Path) -> LaneMap:
        path = Path(path)
        try:
            raw = json.loads(path.read_text())
        except OSError as err:
            raise LaneMapError(f"lane map {path}: cannot read it: {err.strerror}") from None
        except json.JSONDecodeError as err:
            raise LaneMapError(f"lane map {path}: not valid JSON: {err.msg} at line {err.lineno}") from None
        return cls.from_dict(raw, source=str(path))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], source: str = "(dict)") -> LaneMap:
        if not isinstance(raw, Mapping):
            raise LaneMapError(f"lane map {source}: must be a JSON object of lane name → {{queue, groups}}")
        lanes = {}
        for lane, entry in raw.items():
            if str(lane).startswith("$"):  # "$comment" and the like
                continue
            if not isinstance(entry, Mapping):
                raise LaneMapError(f"lane map {source}: lane {lane!r} must map to an object with queue and groups")
            queue = str(entry.get("queue") or lane)
            lanes[str(lane)] = LaneRoute(
                lane=str(lane), queue=queue, groups=_names(entry.get("groups"), source, lane, "groups"),
                supervisors=_names(entry.get("supervisors"), source, lane, "supervisors"),
            )
        return cls(lanes, source)

    @classmethod
    def configured(cls, path: str | Path | None = None) -> LaneMap:
        """`path`, else `$CRMFLOW_LANES`, else `processes/lanes.json`; empty when the default is absent."""
        chosen = path or os.environ.get(LANES_ENV)
        if chosen:
            return cls.load(chosen)
        return cls.load(DEFAULT_LANES_FILE) if DEFAULT_LANES_FILE.exists() else cls()

    def route_for(self, lane: str | None) -> LaneRoute | None:
        return self.lanes.get(lane) if lane else None

    def queues(self) -> dict[str, QueueInfo]:
        """Every mapped queue; lanes sharing a queue pool their groups."""
        found: dict[str, QueueInfo] = {}
        for route in self.lanes.values():
            prev = found.get(route.queue, QueueInfo(route.queue))
            found[route.queue] = QueueInfo(
                route.queue,
                _union(prev.groups, route.groups),
                _union(prev.supervisors, route.supervisors),
                (*prev.lanes, route.lane),
            )
        return found

    def queue(self, name: str) -> QueueInfo:
        """A queue's groups; unknown queues (e.g. "unassigned") have none."""
        return self.queues().get(name, QueueInfo(name))

    def queue_for_groups(self, groups: Iterable[str]) -> str | None:
        wanted = set(groups)
        for route in self.lanes.values():
            if wanted & set(route.groups):
                return route.queue
        return None


def _names(value: Any, source: str, lane: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise LaneMapError(f"lane map {source}: lane {lane!r}: {key} must be a list of group names")
    return tuple(v.strip() for v in value)


def _union(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys((*a, *b)))


def lane_owners(data: Mapping[str, Any] | None, lane: str | None) -> list[str]:
    """spiff-arena's convention: task data `lane_owners = {lane: [user, ...]}`."""
    owners = (data or {}).get("lane_owners")
    if not lane or not isinstance(owners, Mapping):
        return []
    found = owners.get(lane)
    if isinstance(found, str):
        found = [found]
    if not isinstance(found, list):
        return []
    return [str(u).strip() for u in found if str(u).strip()]


def make_router(lane_map: LaneMap) -> TaskRouter:
    """The engine's `task_router` for this lane map (see the module docstring for the rules)."""

    def route(info: HumanTaskInfo, process_id: str) -> None:
        route_ = lane_map.route_for(info.lane)
        explicit_groups = list(info.candidate_groups or [])
        owners = [] if info.assignee or explicit_groups else lane_owners(info.data, info.lane)
        if len(owners) == 1:
            info.assignee = owners[0]
        if explicit_groups:
            info.candidate_groups = explicit_groups
        elif len(owners) > 1:
            info.candidate_groups = [f"{USER_PREFIX}{u}" for u in dict.fromkeys(owners)]
        elif route_ is not None:
            info.candidate_groups = list(route_.groups)
        if not info.queue:
            info.queue = _queue_for(lane_map, route_, explicit_groups, info.lane)

    return route


def _queue_for(lane_map: LaneMap, route: LaneRoute | None, explicit_groups: list[str], lane: str | None) -> str:
    if route is not None and (not explicit_groups or set(explicit_groups) & set(route.groups)):
        return route.queue
    groups = [g for g in explicit_groups if not g.startswith(USER_PREFIX)]
    return lane_map.queue_for_groups(groups) or (route.queue if route else None) or lane or UNASSIGNED


def lane_router(path: str | Path | None = None) -> TaskRouter:
    """The configured lane map's router, for the composition root."""
    return make_router(LaneMap.configured(path))
