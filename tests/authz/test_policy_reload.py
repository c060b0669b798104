"""A permission file edited while the server runs is put in force without a restart; a broken edit
is refused (the previous rules stay) and both are recorded."""

from __future__ import annotations

from pathlib import Path

import pytest

from worklists.permissions import Authorizer, Policy, Principals
from worklists.permissions.watching import PolicyWatcher

BEFORE = """
groups: {sales: reps}
permissions:
  leads:
    groups: [sales]
    allowed_permissions: [start]
    resources: [process:lead_to_invoice]
"""
AFTER = BEFORE.replace("[process:lead_to_invoice]", "[process:lead_to_invoice, process:case_resolution]")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Audit:
    def __init__(self) -> None:
        self.entries: list[tuple[str, str]] = []

    def refused(self, decision, doing: str = "") -> None:  # the Authorizer's AuditSink
        self.entries.append(("refused", decision.resource))

    def policy_loaded(self, source: str, digest: str, actor: str = "crmflow") -> bool:
        self.entries.append(("permissions.loaded", Path(source).name))
        return True

    def write(self, actor, action, target=None, detail=None) -> None:
        self.entries.append((action, detail["problem"].splitlines()[-1].strip()))


ANN = Principals("ann", frozenset({"sales"}))


@pytest.fixture
def setup(tmp_path: Path):
    file = tmp_path / "permissions.yml"
    file.write_text(BEFORE)
    clock, audit = Clock(), Audit()
    authz = Authorizer(Policy.load(file), audit=audit)
    authz.watcher = PolicyWatcher(authz.policy, interval=2.0, audit=audit, monotonic=clock)
    return file, clock, audit, authz


def test_an_edited_file_is_in_force_at_the_next_look(setup) -> None:
    file, clock, audit, authz = setup
    assert not authz.allows(ANN, "start", "process:case_resolution")
    file.write_text(AFTER)
    clock.now += 1.0
    assert not authz.allows(ANN, "start", "process:case_resolution"), "looks at the file at most every 2 s"
    clock.now += 1.5
    assert authz.allows(ANN, "start", "process:case_resolution")
    assert audit.entries == [("permissions.loaded", "permissions.yml")]


def test_a_broken_edit_keeps_the_rules_in_force_and_is_told_once(setup) -> None:
    file, clock, audit, authz = setup
    file.write_text(BEFORE.replace("allowed_permissions: [start]", "allowed_permissions: [strat]"))
    for _ in range(3):
        clock.now += 3
        assert authz.allows(ANN, "start", "process:lead_to_invoice"), "a typo must not lock everyone out"
    assert [e[0] for e in audit.entries] == ["permissions.rejected"]
    assert "strat" in audit.entries[0][1]
    file.write_text(AFTER)
    clock.now += 3
    assert authz.allows(ANN, "start", "process:case_resolution")
    assert audit.entries[-1] == ("permissions.loaded", "permissions.yml")


def test_a_file_touched_but_unchanged_is_not_reloaded(setup) -> None:
    file, clock, audit, authz = setup
    policy = authz.policy
    file.write_text(BEFORE + "\n")  # other size, so it is read; same rules but new content
    clock.now += 3
    authz.allows(ANN, "start", "process:lead_to_invoice")
    assert authz.policy is not policy and audit.entries == [("permissions.loaded", "permissions.yml")]
    file.touch()
    clock.now += 3
    reloaded = authz.policy
    authz.allows(ANN, "start", "process:lead_to_invoice")
    assert authz.policy is reloaded, "a touch with the same content changes nothing"


def test_built_in_and_text_policies_are_not_watched() -> None:
    assert Authorizer(Policy.parse(BEFORE, "(text)")).watcher is None
    assert Authorizer(Policy()).watcher is None
