"""Which queue a new human task lands in and who may work it.

The lane map is the processes folder's `lanes.json`, read by the engine's one reader
(`engine.lanes`, so the validator and the router agree on its forms and lookups):

    {"Sales": {"queue": "sales", "groups": ["sales"], "supervisors": ["sales_managers"]}, ...}

Which folder (and so which file) is the composition root's choice (`crmflow.settings`),
made once and independent of the current directory. `make_router(lane_map)` returns the
engine's `task_router`. Its rules, in order:
- an assignee or candidate groups set by the diagram (already evaluated into the task) win;
- spiff-arena's `lane_owners` task data (`{lane: [users]}`): one owner becomes the assignee,
  several become candidate users (`user:NAME` entries in candidate groups); an owner written
  `group:NAME` is a candidate group (and picks that group's queue);
- spiff-arena's "Process Initiator" lane: the user who started the instance is the assignee;
- otherwise the lane's groups from the map;
- the queue is the diagram's `queue` property when the map lists that queue, else the lane's
  queue, else the queue of the first lane whose groups include a candidate group, else the
  visible "unassigned" queue — never a queue nobody can open.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine import HumanTaskInfo, TaskRouter
from engine.lanes import INITIATOR_LANE, UNASSIGNED, LaneMapError, LaneRoute, is_initiator_lane
from engine.lanes import LaneMap as _EngineLaneMap

__all__ = ["UNASSIGNED", "USER_PREFIX", "LaneMap", "LaneMapError", "LaneRoute", "QueueInfo", "TaskRouter",
           "lane_owners", "make_router", "is_initiator_lane", "GROUP_PREFIX", "INITIATOR_LANE"]

USER_PREFIX = "user:"
GROUP_PREFIX = "group:"  # a `lane_owners` entry naming a group, not a user (spiff-arena)


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


class LaneMap(_EngineLaneMap):
    """The engine's lane map seen as queues; queues not in the map have no groups (admins work them)."""

    def queues(self) -> dict[str, QueueInfo]:
        """Every mapped queue; lanes sharing a queue pool their groups and supervisors."""
        found: dict[str, QueueInfo] = {}
        for lane, route in self.lanes.items():
            prev = found.get(route.queue, QueueInfo(route.queue))
            found[route.queue] = QueueInfo(
                route.queue,
                _union(prev.groups, route.groups),
                _union(prev.supervisors, route.supervisors),
                (*prev.lanes, lane),
            )
        return found

    def queue(self, name: str) -> QueueInfo:
        """A queue's groups; unknown queues (e.g. "unassigned") have none."""
        return self.queues().get(name, QueueInfo(name))


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


def make_router(lane_map: LaneMap | _EngineLaneMap) -> TaskRouter:
    """The engine's `task_router` for this lane map (see the module docstring for the rules)."""
    listed = set(lane_map.queue_names())

    def route(info: HumanTaskInfo, process_id: str) -> None:
        route_ = lane_map.route_for(info.lane)
        explicit_groups = list(info.candidate_groups or [])
        owners = [] if info.assignee or explicit_groups else lane_owners(info.data, info.lane)
        owner_groups = [o[len(GROUP_PREFIX):] for o in owners if o.startswith(GROUP_PREFIX)]
        owner_users = [o for o in owners if not o.startswith(GROUP_PREFIX)]
        if len(owner_users) == 1 and not owner_groups:
            info.assignee = owner_users[0]
        elif not info.assignee and not explicit_groups and not owners and is_initiator_lane(info.lane):
            info.assignee = info.initiator  # spiff-arena: the "Process Initiator" lane is whoever started it
        if explicit_groups:
            info.candidate_groups = explicit_groups
        elif owner_groups or len(owner_users) > 1:
            users = [] if info.assignee else [f"{USER_PREFIX}{u}" for u in dict.fromkeys(owner_users)]
            info.candidate_groups = list(dict.fromkeys(owner_groups)) + users
            explicit_groups = owner_groups  # the owners' groups choose the queue, like the diagram's would
        elif route_ is not None:
            info.candidate_groups = list(route_.groups)
        if info.queue not in listed:  # a queue the diagram names but the map does not list: nobody could open it
            info.queue = _queue_for(lane_map, route_, explicit_groups)

    return route


def _queue_for(lane_map: _EngineLaneMap, route: LaneRoute | None, explicit_groups: list[str]) -> str:
    if route is not None and (not explicit_groups or set(explicit_groups) & set(route.groups)):
        return route.queue
    groups = [g for g in explicit_groups if not g.startswith(USER_PREFIX)]
    return lane_map.queue_for_groups(groups) or (route.queue if route else None) or UNASSIGNED
