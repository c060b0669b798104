"""What the validator knows beyond the files: registered handlers, the lane → worklist map,
what is already deployed. The engine knows nothing of CRM, so the composition root (the CLI)
fills this in; every field is optional and a rule whose knowledge is missing stays silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..lanes import LaneMap, LaneMapError, LaneRoute, lane_key
from .diagnostics import ERROR, Diagnostic
from .parsing import CATCH_EVENTS, Document, bpmn, bpmn_children, is_true, local

__all__ = ["LaneRoute", "ValidationContext", "Workspace", "load_lane_map"]


@dataclass
class ValidationContext:
    operations: frozenset[str] | None = None
    """Registered handler operation names; None = unknown (the handler rule is skipped)."""
    check_handlers: bool = True
    """False: `Engine.check` does not fill `operations` from its registry (scenario tests, where an
    operation left unmocked is meant to become an incident at run time)."""
    lanes: dict[str, LaneRoute] | None = None
    """Lane name or id (case-insensitive) → route; None = no lane map (the lane rule is skipped)."""
    deployed_processes: frozenset[str] = frozenset()
    deployed_messages: frozenset[str] = frozenset()
    """Names of messages some deployed process catches or starts on."""
    deployed_dmn: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """Decision id → (file name, content) of its latest deployed DMN file; deploy resolves against it."""
    processes_root: Path | None = None
    engine_parse: bool = True
    """Also run SpiffWorkflow's own parser over the set (rule crmflow/parse)."""
    problems: list[Diagnostic] = field(default_factory=list)
    """Problems found while building the context (an unreadable lanes.json), reported with the rest."""

    @property
    def deployed_decisions(self) -> frozenset[str]:
        return frozenset(self.deployed_dmn)

    def add_deployed(self, deployed: Any) -> None:
        """Take what `deployed.read_deployed` found (processes, caught messages, DMN decisions)."""
        self.deployed_processes = deployed.processes
        self.deployed_messages = deployed.messages
        self.deployed_dmn = dict(deployed.dmn)

    def lane_route(self, lane: Any) -> LaneRoute | None:
        if self.lanes is None:
            return None
        for key in (lane.get("name"), lane.get("id")):
            if key and (route := self.lanes.get(lane_key(key))) is not None:
                return route
        return None


def load_lane_map(path: Path) -> tuple[dict[str, LaneRoute] | None, Diagnostic | None]:
    """Read `lanes.json` with the engine's one reader (`engine.lanes`); returns
    ({lane key: route}, None) or (None, diagnostic naming the file)."""
    try:
        lane_map = LaneMap.load(path)
    except LaneMapError as err:
        message = str(err).removeprefix(f"lane map {path}: ")
        return None, Diagnostic(str(path), 0, 0, ERROR, "crmflow/lane-map", message,
                                hint='expected {"Lane name": {"queue": "...", "groups": ["..."]}}')
    return {lane_key(name): route for name, route in lane_map.lanes.items()}, None


@dataclass
class Workspace:
    """All files of one run, with the cross-file indexes rules need."""

    documents: list[Document]
    context: ValidationContext

    @property
    def bpmn_documents(self) -> list[Document]:
        return [d for d in self.documents if d.kind == "bpmn"]

    @cached_property
    def process_ids(self) -> dict[str, Document]:
        found: dict[str, Document] = {}
        for doc in self.bpmn_documents:
            for process in doc.processes():
                if process.get("id"):
                    found.setdefault(process.get("id"), doc)  # type: ignore[arg-type]
        return found

    @cached_property
    def executable_process_ids(self) -> set[str]:
        return {p.get("id") for d in self.bpmn_documents for p in d.processes()
                if p.get("id") and is_true(p.get("isExecutable"))}  # type: ignore[misc]

    @cached_property
    def decision_ids(self) -> set[str]:
        ids: set[str] = set()
        for doc in self.documents:
            if doc.kind != "dmn":
                continue
            for el in doc.root:
                if isinstance(el.tag, str) and el.tag.endswith("}decision") and el.get("id"):
                    ids.add(el.get("id"))  # type: ignore[arg-type]
        return ids

    @cached_property
    def caught_messages(self) -> set[str]:
        """Message names a given process waits for (catch/boundary/start events, receive tasks)."""
        names = set(self.context.deployed_messages)
        for doc in self.bpmn_documents:
            for _, node in doc.flow_nodes():
                kind = local(node)
                if kind == "receiveTask" and (name := doc.message_name(node.get("messageRef"))):
                    names.add(name)
                if kind in CATCH_EVENTS or kind == "receiveTask":
                    for definition in bpmn_children(node, "messageEventDefinition"):
                        if name := doc.message_name(definition.get("messageRef")):
                            names.add(name)
            for task in doc.root.iter(bpmn("receiveTask")):
                if name := doc.message_name(task.get("messageRef")):
                    names.add(name)
        return names
