"""The lane map (`lanes.json` in the processes folder): which worklist queue and groups each
diagram lane's user tasks go to. This is the one reader of that file: the validator, the
worklists' task router and the CLI all build on it, so they agree on its forms and lookups.

Accepted forms (all equivalent):

    {"Sales": {"queue": "sales", "groups": ["sales"], "supervisors": ["sales_managers"]}}
    {"lanes": {...the same...}}
    [{"lane": "Sales", "queue": "sales", "groups": ["sales"]}]
    {"Sales": "sales"}                       # queue only

`groups` may also be spelled `candidateGroups` and may be a single name; keys starting with
"$" ("$comment") are ignored. A lane without a queue keeps its name as queue. Lanes are
looked up by name or id, ignoring case and surrounding blanks (modelers differ there).
The engine knows nothing of CRM: these are just names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UNASSIGNED = "unassigned"
INITIATOR_LANE = "Process Initiator"  # spiff-arena: tasks in this lane go to whoever started the instance
LANES_FILE = "lanes.json"
MAX_LANE_MAP_BYTES = 1024 * 1024


def is_initiator_lane(lane: str | None) -> bool:
    """spiff-arena's reserved lane name (any case, blanks around it ignored)."""
    return (lane or "").strip().casefold() == INITIATOR_LANE.casefold()


class LaneMapError(ValueError):
    """The lane map cannot be used; the message names the file and the entry at fault."""


@dataclass(frozen=True)
class LaneRoute:
    """Where a lane's user tasks go: a queue, the groups that work it and those that supervise it."""

    queue: str
    groups: tuple[str, ...] = ()
    supervisors: tuple[str, ...] = ()
    lane: str = field(default="", compare=False)


def lane_key(name: str | None) -> str:
    """How lanes are matched: case and surrounding blanks do not matter."""
    return (name or "").strip().casefold()


@dataclass
class LaneMap:
    """Lane name → route, as written in the file (`lanes`), looked up case-insensitively."""

    lanes: dict[str, LaneRoute] = field(default_factory=dict)
    source: str = "(empty)"

    def __post_init__(self) -> None:
        self._index = {lane_key(name): route for name, route in self.lanes.items()}

    # -- reading -----------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> LaneMap:
        """Read a lanes.json; LaneMapError names the file and what is wrong."""
        path = Path(path)
        try:
            if path.stat().st_size > MAX_LANE_MAP_BYTES:
                raise LaneMapError(f"lane map {path}: larger than 1 MB")
            raw = json.loads(path.read_bytes())
        except OSError as err:
            raise LaneMapError(f"lane map {path}: cannot read it: {err.strerror}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            where = f" at line {err.lineno}" if isinstance(err, json.JSONDecodeError) else ""
            message = err.msg if isinstance(err, json.JSONDecodeError) else str(err)
            raise LaneMapError(f"lane map {path}: not valid JSON: {message}{where}") from None
        return cls.from_data(raw, source=str(path))

    @classmethod
    def from_data(cls, raw: Any, source: str = "(dict)") -> LaneMap:
        """A lane map from parsed JSON in any of the accepted forms."""
        if isinstance(raw, Mapping) and isinstance(raw.get("lanes"), Mapping | list):
            raw = raw["lanes"]
        entries: list[tuple[str, Any]]
        if isinstance(raw, Mapping):
            entries = [(str(k), v) for k, v in raw.items()]
        elif isinstance(raw, list) and all(isinstance(e, Mapping) for e in raw):
            entries = [(str(e.get("lane") or e.get("name") or ""), e) for e in raw]
        else:
            raise LaneMapError(f"lane map {source}: must be a JSON object of lane name → {{queue, groups}}")
        lanes: dict[str, LaneRoute] = {}
        for lane, entry in entries:
            if not lane.strip() or lane.startswith("$"):
                continue
            lanes[lane] = _route(lane, entry, source)
        return cls(lanes, source)

    from_dict = from_data

    # -- looking up --------------------------------------------------------------------
    def route_for(self, *names: str | None) -> LaneRoute | None:
        """The route of the first of `names` (a lane's name, then its id) that is mapped."""
        for name in names:
            if name and (route := self._index.get(lane_key(name))) is not None:
                return route
        return None

    def keys(self) -> list[str]:
        """Mapped lane names as matched (for "did you mean" hints)."""
        return list(self._index)

    def queue_names(self) -> list[str]:
        return list(dict.fromkeys(r.queue for r in self.lanes.values()))

    def queue_for_groups(self, groups: Iterable[str]) -> str | None:
        """The queue of the first lane worked by one of `groups`."""
        wanted = set(groups)
        for route in self.lanes.values():
            if wanted & set(route.groups):
                return route.queue
        return None


def _route(lane: str, entry: Any, source: str) -> LaneRoute:
    if isinstance(entry, str):
        return LaneRoute(entry.strip() or lane, lane=lane)
    if not isinstance(entry, Mapping):
        raise LaneMapError(f"lane map {source}: lane {lane!r} must map to an object with queue and groups")
    groups = entry.get("groups", entry.get("candidateGroups"))
    queue = entry.get("queue")
    if queue is not None and not (isinstance(queue, str) and queue.strip()):
        raise LaneMapError(f"lane map {source}: lane {lane!r}: queue must be a non-empty name")
    return LaneRoute(
        queue=(queue or lane).strip(), groups=_names(groups, source, lane, "groups"),
        supervisors=_names(entry.get("supervisors"), source, lane, "supervisors"), lane=lane,
    )


def _names(value: Any, source: str, lane: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise LaneMapError(f"lane map {source}: lane {lane!r}: {key} must be a list of group names")
    return tuple(dict.fromkeys(v.strip() for v in value))


def lanes_file_in(folder: str | Path | None) -> Path | None:
    """`lanes.json` in a processes folder, when it has one."""
    if folder is None:
        return None
    candidate = Path(folder) / LANES_FILE
    return candidate if candidate.is_file() else None
