"""What the properties panel offers: registered operations with their parameters (read from the
handler signatures, as `crmflow handlers` lists them), the forms in `processes/forms`, the message
and signal names in use, and where each process's diagram file is."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine import HandlerRegistry
from engine.lanes import LaneMap, LaneMapError, lane_key
from engine.validation.parsing import local
from engine.xml import parse_bytes

FORMS_FOLDER = "forms"
_ID = re.compile(r'<(?:\w+:)?process\b[^>]*\bid="([^"]+)"')


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str
    required: bool

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "required": self.required}


def operations(registry: HandlerRegistry) -> dict[str, list[Parameter]]:
    """Operation name → its parameters (the handler's keyword arguments after the context)."""
    found: dict[str, list[Parameter]] = {}
    for name in registry.names():
        try:
            params = list(inspect.signature(registry.get(name)).parameters.values())[1:]
        except (TypeError, ValueError):  # a builtin or C callable: no signature to show
            params = []
        found[name] = [Parameter(p.name, _type_name(p.annotation), p.default is inspect.Parameter.empty)
                       for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return found


def _type_name(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return "any"
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    base = str(text).split("|")[0].strip()
    return base if base in ("str", "int", "float", "bool", "dict", "list") else "any"


def forms(processes: Path) -> list[str]:
    """Form files as user tasks name them: `forms/qualify_lead.json`."""
    folder = processes / FORMS_FOLDER
    if not folder.is_dir():
        return []
    return sorted(f"{FORMS_FOLDER}/{p.name}" for p in folder.glob("*.json") if not p.name.endswith(".ui.json"))


def read_form(processes: Path, name: str) -> str | None:
    """A form file's text, only from inside the forms folder (no paths elsewhere)."""
    folder = (processes / FORMS_FOLDER).resolve()
    target = (processes / name).resolve()
    if target.parent != folder or target.suffix != ".json" or not target.is_file():
        return None
    return target.read_text(encoding="utf-8")


def names_in_use(sources: list[bytes]) -> dict[str, list[str]]:
    """Message and signal names declared in these diagrams."""
    messages: set[str] = set()
    signals: set[str] = set()
    for content in sources:
        try:
            root = parse_bytes(content, "diagram").getroot()
        except Exception:  # noqa: BLE001 - an unreadable file offers no names
            continue
        for node in root.iter():
            if local(node) == "message" and node.get("name"):
                messages.add(str(node.get("name")))
            elif local(node) == "signal" and node.get("name"):
                signals.add(str(node.get("name")))
    return {"messages": sorted(messages), "signals": sorted(signals)}


def diagram_files(processes: Path) -> dict[str, Path]:
    """Process id → the `.bpmn` file in `processes/` that defines it (executable or not)."""
    found: dict[str, Path] = {}
    for path in sorted(processes.glob("*.bpmn")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for pid in _ID.findall(text):
            found.setdefault(pid, path)
    return found


def decision_files(processes: Path) -> dict[str, Path]:
    """DMN file stem → file (`discount_approval` → processes/discount_approval.dmn)."""
    return {p.stem: p for p in sorted(processes.glob("*.dmn"))}



def lanes(processes: Path) -> dict[str, dict[str, Any]]:
    """Lane name (as matched: lower case) → its queue and groups from `lanes.json` (empty when absent)."""
    path = processes / "lanes.json"
    if not path.is_file():
        return {}
    try:
        lane_map = LaneMap.load(path)
    except LaneMapError:  # the live check reports the broken file
        return {}
    return {lane_key(name): {"queue": r.queue, "groups": list(r.groups), "supervisors": list(r.supervisors)}
            for name, r in lane_map.lanes.items()}
