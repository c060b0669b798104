"""The house's import direction, kept by a test (docs/architecture.md explains each rule).

Every import in the project's packages is read with `ast` (top-level and inside functions), so a
lazy import cannot slip past. A failure names the file, the line and the rule it breaks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "handlers", "worklists", "crmflow")

#: what each package must never import (top-level package names)
FORBIDDEN = {
    "engine": {"handlers", "worklists", "crmflow", "bench"},  # the engine knows nothing of CRM
    "handlers": {"SpiffWorkflow", "worklists", "crmflow", "bench"},  # the CRM domain; nothing of SpiffWorkflow
    "worklists": {"SpiffWorkflow", "handlers", "crmflow", "bench"},  # the worklist domain; no sideways CRM imports
    "crmflow": {"SpiffWorkflow", "bench"},  # the app speaks to SpiffWorkflow only through the engine
}

#: the engine's public surface: the only engine modules the packages outside it may import.
#: Everything else in engine/ (runner, unit, state, projections, sandbox, definitions, ...) is a
#: room behind the facade. Adding a module here is a design decision: say why in architecture.md.
ENGINE_PUBLIC = {
    "engine",  # the facade, its errors, clocks and plug-in points (engine/__init__.py)
    "engine.clock",
    "engine.errors",
    "engine.views",  # the one read shape of instances, tasks, history, incidents
    "engine.read_model",  # the read side: tables for read-only queries of reports, SLA views and filtered lists
    "engine.services",  # the service-task handler contract
    "engine.drawing",  # diagram pictures
    "engine.lanes",  # the lane map's file format
    "engine.outbox",  # messages out of a unit of work
    "engine.scheduler",  # the timer/job loop the worker runs
    "engine.task_dates",  # the reminder channel's name
    "engine.xml",  # hardened XML parsing
    "engine.validation",  # the analysts' rule engine and its documents
    "engine.templating",  # user-written templates rendered under the sandbox's hard limits
    "engine.input_checks",  # the one set of limits on data from users (Unicode, size, depth)
}

#: what the handlers may import of the engine: the handler contract, the read side (reports, SLA
#: views) and templating
HANDLER_ENGINE = {"engine.services", "engine.read_model", "engine.templating"}


@dataclass(frozen=True)
class ImportSite:
    path: Path
    line: int
    module: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line} imports {self.module}"


def imports_in(package: str) -> list[ImportSite]:
    sites: list[ImportSite] = []
    for path in sorted((ROOT / package).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                sites.append(ImportSite(path, node.lineno, node.module))
            elif isinstance(node, ast.Import):
                sites.extend(ImportSite(path, node.lineno, alias.name) for alias in node.names)
    return sites


def is_public_engine_module(module: str) -> bool:
    return module in ENGINE_PUBLIC or module.startswith("engine.validation.")


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_downwards(package: str) -> None:
    wrong = [str(s) for s in imports_in(package) if s.module.split(".")[0] in FORBIDDEN[package]]
    assert not wrong, f"{package} must not import {sorted(FORBIDDEN[package])}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("package", ["worklists", "crmflow"])
def test_interfaces_use_the_engines_public_surface(package: str) -> None:
    wrong = [str(s) for s in imports_in(package)
             if s.module.split(".")[0] == "engine" and not is_public_engine_module(s.module)]
    assert not wrong, "an interface reached behind the facade (see docs/architecture.md):\n" + "\n".join(wrong)


def test_handlers_see_only_the_handler_contract_and_tables() -> None:
    wrong = [str(s) for s in imports_in("handlers")
             if s.module.split(".")[0] == "engine" and s.module not in HANDLER_ENGINE]
    assert not wrong, f"handlers may import only {sorted(HANDLER_ENGINE)}:\n" + "\n".join(wrong)


def test_processes_hold_no_python() -> None:
    python = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "processes").rglob("*.py"))
    assert not python, f"processes/ is the analysts' folder and holds no Python: {python}"


def test_the_checker_sees_lazy_imports(tmp_path: Path) -> None:
    """The rules would be worthless if an import inside a function went unseen."""
    sample = "def f():\n    from worklists import api\n"
    tree = ast.parse(sample)
    found = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert found == ["worklists"]


def import_graph(root: Path = ROOT / "engine") -> dict[str, set[str]]:
    """module → the modules of the package at `root` it imports, top-level, lazy and under
    TYPE_CHECKING alike (relative and absolute imports are resolved to dotted names)."""
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:  # `from . import x` imports the module x, not the package
                    found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle (as a path that returns to its start), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


@pytest.mark.parametrize("package", ["engine", "worklists", "handlers", "crmflow"])
def test_no_import_cycle(package: str) -> None:
    """Inside each package imports go one way: in the engine the facade sits on rooms, the rooms on
    the unit of work, the unit on the runner; the CLI adds commands that never import it back.
    An import inside a function or under TYPE_CHECKING counts too."""
    cycle = find_cycle(import_graph(ROOT / package))
    assert cycle is None, f"import cycle inside {package}/: " + " -> ".join(cycle or [])


def test_the_cycle_checker_finds_a_lazy_cycle(tmp_path: Path) -> None:
    """A cycle closed by an import inside a function, or a `from . import x`, is still a cycle."""
    package = tmp_path / "engine"
    (package / "rooms").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "rooms" / "__init__.py").write_text("")
    (package / "unit.py").write_text("def f():\n    from .rooms import starting\n")
    (package / "rooms" / "starting.py").write_text("from .. import unit\n")
    (package / "facade.py").write_text("from .rooms import starting\n")
    graph = import_graph(package)
    assert graph["engine.facade"] == {"engine.rooms.starting"}
    assert find_cycle(graph) == ["engine.rooms.starting", "engine.unit", "engine.rooms.starting"]


def test_the_web_surface_lives_in_crmflow_web() -> None:
    """The HTTP surface (API routers, pages, dashboards) is one package under the composition root;
    the worklist domain and the CRM domain stay free of it, and no web module grows past 700 lines."""
    for old in ("api", "pages", "dashboards", "console_api", "console_pages", "reports_api", "hardening", "problems"):
        assert not (ROOT / "worklists" / f"{old}.py").exists(), f"worklists/{old}.py belongs in crmflow/web/"
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in sorted((ROOT / "crmflow" / "web").rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 700]
    assert not long, "split by resource or page family:\n" + "\n".join(long)
