"""The vendored bpmn-js/dmn-js files and the workbench's own assets ship in the wheel: every file
under crmflow/web/static and crmflow/web/templates matches a package-data pattern of pyproject.toml
(setuptools globs, `*` within one folder), and VENDORED.md names each bundle's sha256."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "crmflow" / "web"


def test_every_static_file_and_template_is_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["crmflow.web"]
    covered = {p for pattern in patterns for p in PACKAGE.glob(pattern) if p.is_file()}
    shipped = [p for folder in ("static", "templates") for p in (PACKAGE / folder).rglob("*") if p.is_file()]
    missing = sorted(str(p.relative_to(PACKAGE)) for p in shipped if p not in covered)
    assert not missing, f"add package-data patterns for: {missing}"


def test_the_vendored_bundles_name_their_source_and_license() -> None:
    vendor = PACKAGE / "static" / "vendor"
    notes = (vendor / "VENDORED.md").read_text()
    for package, bundle in (("bpmn-js", "bpmn-modeler.production.min.js"), ("dmn-js", "dmn-modeler.production.min.js")):
        assert (vendor / package / bundle).is_file()
        assert "MIT" in (vendor / package / "LICENSE").read_text() or "Permission is hereby granted" in \
            (vendor / package / "LICENSE").read_text()
        assert f"https://registry.npmjs.org/{package}/-/{package}-" in notes
    assert notes.count("sha256") >= 1 and len([w for w in notes.split() if len(w) == 64]) == 2
