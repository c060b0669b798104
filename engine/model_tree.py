"""spiff-arena's process-model folders, read for deploy.

spiff-arena keeps its diagrams in a folder tree: process groups (folders with a
``process_group.json``) hold process models (folders with a ``process_model.json`` naming the
model's ``primary_process_id`` and ``primary_file_name``); each model folder holds its BPMN and
DMN files and the JSON Schema forms its user tasks name (``formJsonSchemaFilename``, relative to
the model folder). A call activity names a process id, and that process may live in any model of
the tree; a business-rule task names a decision that may live in any model too.

``find_tree`` recognises such a tree from the paths given to deploy; ``definitions.parse_tree`` parses
the diagrams under those paths together with every diagram elsewhere in the tree that they call
(transitively), so ``crmflow deploy tree/group/model`` resolves a call into a sibling folder.
Only the processes of the given paths become new versions; what they call is carried inside
their specs, as for any call activity.

Inside the tree a diagram is known by its path from the tree's root (``sales/quote/quote.bpmn``),
so equal file names in different models do not collide, and its forms are renamed to paths
from the root, so one forms folder (the tree's root) serves every model.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser  # the engine's BpmnParser is one

from .errors import DefinitionError
from .xml import is_diagram, parse_file

MODEL_FILE = "process_model.json"
GROUP_FILE = "process_group.json"
FORM_PROPERTIES = ("formJsonSchemaFilename", "formUiSchemaFilename")
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CAMUNDA_DECISION_REF = "{http://camunda.org/schema/1.0/bpmn}decisionRef"


@dataclass(frozen=True)
class ProcessGroup:
    identifier: str  # the folder's path from the tree's root, with "/"
    folder: Path
    display_name: str


@dataclass(frozen=True)
class ProcessModel:
    identifier: str
    folder: Path
    display_name: str
    primary_process_id: str | None
    primary_file_name: str | None


@dataclass
class DiagramIndex:
    """What one diagram file defines and calls, read without building any spec."""

    path: Path
    processes: list[str] = field(default_factory=list)
    decisions: list[str] = field(default_factory=list)
    calls: set[str] = field(default_factory=set)
    decision_calls: set[str] = field(default_factory=set)


def _has_marker(folder: Path) -> bool:
    return (folder / MODEL_FILE).is_file() or (folder / GROUP_FILE).is_file()


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DefinitionError(f"{path}: cannot read it: {err.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DefinitionError(f"{path}: not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise DefinitionError(f"{path}: must hold a JSON object")
    return data


def find_root(path: Path) -> Path | None:
    """The tree's root for `path`, or None when `path` is not in a spiff-arena tree.

    The root is the folder that holds the top-level groups (spiff-arena's process-models
    directory, which has no ``process_group.json`` of its own).
    """
    folder = path if path.is_dir() else path.parent
    folder = folder.resolve()
    if _has_marker(folder):
        while (folder.parent / GROUP_FILE).is_file():
            folder = folder.parent
        return folder.parent
    if path.is_dir() and any(p.name == MODEL_FILE for p in _walk(folder)):
        return folder
    return None


def _walk(folder: Path) -> Iterable[Path]:
    """Files under `folder`, skipping hidden folders (.git and the like)."""
    for path in sorted(folder.rglob("*")):
        if any(part.startswith(".") for part in path.relative_to(folder).parts[:-1]):
            continue
        if path.is_file():
            yield path


def find_tree(paths: Iterable[Path]) -> ModelTree | None:
    """The spiff-arena tree the deploy paths belong to; None for ordinary diagram folders.

    All paths must then lie in the same tree.
    """
    paths = [Path(p) for p in paths]
    roots = {p: find_root(p) for p in paths if p.exists()}
    if not roots or all(r is None for r in roots.values()):
        return None
    found = {r for r in roots.values() if r is not None}
    outside = [str(p) for p, r in roots.items() if r is None]
    if len(found) > 1 or outside:
        raise DefinitionError(
            "deploy one spiff-arena process-model tree at a time: "
            + ", ".join(sorted(str(p) for p in paths)) + " are not all in the same tree"
        )
    return ModelTree(found.pop())


class ModelTree:
    """A spiff-arena process-model tree rooted at `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.groups: list[ProcessGroup] = []
        self.models: list[ProcessModel] = []
        self.diagrams: list[Path] = []
        for path in _walk(self.root):
            if path.name == GROUP_FILE:
                data = _read_json(path)
                self.groups.append(ProcessGroup(self.identifier(path.parent), path.parent,
                                                str(data.get("display_name") or path.parent.name)))
            elif path.name == MODEL_FILE:
                self.models.append(self._model(path))
            elif is_diagram(path):
                self.diagrams.append(path)

    def identifier(self, path: Path) -> str:
        """`path` as spiff-arena names it: its path from the root, with "/"."""
        return path.resolve().relative_to(self.root).as_posix()

    def _model(self, path: Path) -> ProcessModel:
        data = _read_json(path)
        primary_file = data.get("primary_file_name") or None
        primary_id = data.get("primary_process_id") or None
        for key, value in (("primary_file_name", primary_file), ("primary_process_id", primary_id)):
            if value is not None and not isinstance(value, str):
                raise DefinitionError(f"{path}: {key} must be a string, not {type(value).__name__}")
        if primary_file and not (path.parent / primary_file).is_file():
            raise DefinitionError(f"{path}: primary_file_name {primary_file!r} is not in {path.parent}")
        return ProcessModel(self.identifier(path.parent), path.parent,
                            str(data.get("display_name") or path.parent.name), primary_id, primary_file)

    def model_of(self, diagram: Path) -> ProcessModel | None:
        folder = diagram.resolve().parent
        return next((m for m in self.models if m.folder == folder), None)

    # -- which files a deploy needs ------------------------------------------------------------

    def selected(self, paths: Iterable[Path]) -> list[Path]:
        """The tree's diagrams under the deploy paths."""
        chosen: list[Path] = []
        for given in (Path(p).resolve() for p in paths):
            if given.is_file():
                if not is_diagram(given):
                    raise DefinitionError(f"{given}: not a diagram (expected a .bpmn or .dmn file)")
                chosen.append(given)
            else:
                chosen.extend(d for d in self.diagrams if d.is_relative_to(given))
        if not chosen:
            raise DefinitionError("no .bpmn or .dmn files found in " + ", ".join(str(p) for p in paths))
        return list(dict.fromkeys(chosen))

    def with_dependencies(self, chosen: list[Path]) -> list[Path]:
        """`chosen` plus every diagram of the tree they call, directly or through others."""
        index = {path: index_diagram(path) for path in self.diagrams}
        for path in chosen:
            index.setdefault(path, index_diagram(path))
        defines: dict[str, list[Path]] = {}
        for path, entry in index.items():
            for name in (*entry.processes, *entry.decisions):
                defines.setdefault(name, []).append(path)
        needed = list(chosen)
        queue = list(chosen)
        while queue:
            entry = index[queue.pop()]
            for called in sorted(entry.calls | entry.decision_calls):
                where = defines.get(called, [])
                if any(p in needed for p in where) or not where:
                    continue  # defined in what is already parsed, or nowhere: the parser names it
                if len(where) > 1:
                    raise DefinitionError(
                        f"{called!r} is defined in more than one diagram of {self.root}: "
                        + ", ".join(self.identifier(p) for p in where) + "; process and decision ids must be unique"
                    )
                needed.append(where[0])
                queue.append(where[0])
        return needed

    # -- parsing -------------------------------------------------------------------------------

    def rename_forms(self, tree: etree._ElementTree, path: Path) -> None:
        """Form file names relative to the diagram's folder become paths from the tree's root."""
        folder = self.identifier(path.parent) if path.resolve().parent != self.root else ""
        if not folder:
            return
        for prop in tree.getroot().iter(f"{{{SPIFF_NS}}}property"):
            value = prop.get("value")
            if prop.get("name") in FORM_PROPERTIES and value and not value.startswith("/"):
                renamed = posixpath.normpath(posixpath.join(folder, value.strip()))
                if not renamed.startswith("../"):
                    prop.set("value", renamed)

    def check_primary_processes(self, chosen: list[Path], parser: SpiffBpmnParser) -> None:
        """Each deployed model's primary_process_id must be a process of its primary file."""
        models = {m for m in (self.model_of(p) for p in chosen) if m is not None}
        for model in sorted(models, key=lambda m: m.identifier):
            if not model.primary_process_id:
                continue
            process_parser = parser.get_process_parser(model.primary_process_id)
            primary = f"{model.identifier}/{model.primary_file_name}" if model.primary_file_name else None
            in_model = process_parser is not None and process_parser.filename.startswith(f"{model.identifier}/")
            if process_parser is None or not in_model or (primary and process_parser.filename != primary):
                found = sorted(pid for pid in parser.get_process_ids()
                               if parser.get_process_parser(pid).filename == primary)
                raise DefinitionError(
                    f"{model.folder / MODEL_FILE}: primary_process_id {model.primary_process_id!r} is not a "
                    f"process of {model.primary_file_name or model.identifier}"
                    + (f" (it has {', '.join(found)})" if found else "")
                )


def index_diagram(path: Path) -> DiagramIndex:
    """Process and decision ids a diagram defines and those it calls."""
    tree, _ = parse_file(path)
    root = tree.getroot()
    entry = DiagramIndex(path)
    for node in root.iter(etree.Element):
        tag = etree.QName(node).localname
        if tag == "process" and node.get("id"):
            entry.processes.append(node.get("id"))
        elif tag == "decision" and node.get("id"):
            entry.decisions.append(node.get("id"))
        elif tag == "callActivity" and node.get("calledElement"):
            entry.calls.add(node.get("calledElement"))
        elif tag == "businessRuleTask" and node.get(CAMUNDA_DECISION_REF):
            entry.decision_calls.add(node.get(CAMUNDA_DECISION_REF))
        elif tag == "calledDecisionId" and (node.text or "").strip():
            entry.decision_calls.add(node.text.strip())
    return entry
