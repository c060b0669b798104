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


def test_the_web_surface_lives_in_crmflow_web() -> None:
    """The HTTP surface (API routers, pages, dashboards) is one package under the composition root;
    the worklist domain and the CRM domain stay free of it, and no web module grows past 700 lines."""
    for old in ("api", "pages", "dashboards", "console_api", "console_pages", "reports_api", "hardening", "problems"):
        assert not (ROOT / "worklists" / f"{old}.py").exists(), f"worklists/{old}.py belongs in crmflow/web/"
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p in sorted((ROOT / "crmflow" / "web").rglob("*.py"))
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 700]
    assert not long, "split by resource or page family:\n" + "\n".join(long)
