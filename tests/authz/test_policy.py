"""The permission file and the decisions made from it (no database): format, validation messages,
patterns, implied verbs, the lane map's queue rules, and what the shipped file gives each demo group."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from engine import Forbidden, InvalidInput
from worklists.permissions import Authorizer, PermissionDenied, PermissionFileError, Policy, Principals
from worklists.permissions.lanes import lane_rules
from worklists.permissions.policy import BUILT_IN, PERMISSIONS_ENV
from worklists.routing import LaneMap

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "processes" / "permissions.yml"
LANES = ROOT / "processes" / "lanes.json"

SMALL = """
groups:
  sales: reps
  managers: their managers
permissions:
  leads:
    groups: [sales, managers]
    allowed_permissions: [start, read-data]
    resources: [process:lead_to_invoice, "instances:lead_*"]
  regional:
    groups: [managers]
    allowed_permissions: [supervise]
    resources: ["queue:Sales *", "queue:team-?"]
  one-person:
    users: [zoe]
    allowed_permissions: [operate]
    resources: [instances:case_resolution]
  all:
    groups: [everybody]
    allowed_permissions: [read]
    resources: [reports:process]
"""


def who(user: str, *groups: str) -> Principals:
    return Principals(user, frozenset(groups))


@pytest.fixture
def authz() -> Authorizer:
    return Authorizer(Policy.parse(SMALL, "small.yml"))


# -- decisions -------------------------------------------------------------------------------------

def test_ids_globs_and_everything(authz: Authorizer) -> None:
    ann, max_ = who("ann", "sales"), who("max", "managers")
    assert authz.allows(ann, "start", "process:lead_to_invoice")
    assert not authz.allows(ann, "start", "process:case_resolution")
    assert authz.allows(ann, "read-data", "instances:lead_to_invoice"), "instances:lead_* covers it"
    assert not authz.allows(ann, "read-data", "instances:case_resolution")
    assert authz.allows(max_, "supervise", "queue:Sales DACH") and authz.allows(max_, "supervise", "queue:team-1")
    assert not authz.allows(max_, "supervise", "queue:sales"), "patterns are case-sensitive, like ids"
    assert not authz.allows(max_, "supervise", "queue:team-12"), "? is one character"
    assert Authorizer(BUILT_IN).allows(who("root", "admin"), "administer", "admin:users"), "* is everything"


def test_verbs_carry_the_lesser_ones_they_need(authz: Authorizer) -> None:
    ann, zoe = who("ann", "sales"), who("zoe")
    assert authz.allows(ann, "read", "instances:lead_to_invoice"), "read-data implies read"
    assert authz.allows(ann, "read", "process:lead_to_invoice"), "start implies read of the process"
    assert authz.allows(zoe, "read-data", "instances:case_resolution"), "operate implies read-data"
    assert not authz.allows(ann, "operate", "instances:lead_to_invoice"), "nothing implies more than itself"
    assert not authz.allows(who("max", "managers"), "work", "queue:Sales DACH"), "supervise is not work"


def test_users_and_the_default_group(authz: Authorizer) -> None:
    assert authz.allows(who("zoe"), "operate", "instances:case_resolution"), "a rule may name a user"
    assert not authz.allows(who("ann", "sales"), "operate", "instances:case_resolution")
    assert authz.allows(who("anyone"), "read", "reports:process"), "everybody is every active user"
    assert "everybody" in authz.principals(who("anyone")).groups


def test_a_decision_explains_itself_and_a_refusal_names_the_missing_permission(authz: Authorizer) -> None:
    allowed = authz.decide(who("ann", "sales"), "read", "instances:lead_to_invoice")
    assert allowed.explain().startswith("allowed: ann may read on instances:lead_to_invoice")
    assert "small.yml: permission 'leads'" in allowed.explain()
    refused = authz.decide(who("ann", "sales"), "read", "instances:case_resolution")
    assert not refused and refused.explain().startswith("refused: ann lacks the permission read on "
                                                       "instances:case_resolution")
    with pytest.raises(PermissionDenied) as err:
        authz.require(who("ann", "sales"), "start", "process:case_resolution", doing="start a case")
    assert err.value.permission == "start on process:case_resolution"
    assert isinstance(err.value, Forbidden)
    assert str(err.value).startswith("ann may not start a case (missing permission 'start' on "
                                     "'process:case_resolution'; an admin grants permissions in small.yml")


def test_questions_with_unknown_verbs_or_resources_are_refused_clearly(authz: Authorizer) -> None:
    with pytest.raises(InvalidInput, match="unknown verb 'reed'"):
        authz.decide(who("ann"), "reed", "process:x")
    with pytest.raises(InvalidInput, match="'proc:x' is not TYPE:NAME"):
        authz.decide(who("ann"), "read", "proc:x")
    with pytest.raises(InvalidInput, match="verb 'start' does not apply to queue resources"):
        authz.decide(who("ann"), "start", "queue:sales")


def test_filters_keep_what_may_be_read(authz: Authorizer) -> None:
    ann = who("ann", "sales")
    assert authz.filter_names(ann, "read", "instances", ["case_resolution", "lead_to_invoice", "lead_x"]) == [
        "lead_to_invoice", "lead_x"]
    assert authz.patterns(ann, "read", "instances") == ["lead_*"]
    clause = authz.sql_filter(ann, "read", "instances", _column())
    assert "LIKE" in str(clause.compile(compile_kwargs={"literal_binds": True}))
    assert str(authz.sql_filter(who("nobody"), "read", "instances", _column())) == "false"
    assert str(Authorizer(BUILT_IN).sql_filter(who("root", "admin"), "read", "instances", _column())) == "true"


def _column():
    from sqlalchemy import column

    return column("process_id")


# -- the file --------------------------------------------------------------------------------------

def test_every_mistake_is_reported_with_the_file_and_the_entry() -> None:
    text = """
groups: {sales: reps}
colors: blue
permissions:
  typos:
    groups: [slaes]
    allowed_permissions: [reed, start]
    resources: [proc:x, "process:[ab]", queue:sales]
    uri: /*
  empty: {groups: [sales]}
  nobody: {allowed_permissions: [read], resources: [process:x]}
"""
    with pytest.raises(PermissionFileError) as err:
        Policy.parse(text, "perm.yml")
    problems = err.value.problems
    assert str(err.value).startswith(f"permission file perm.yml: {len(problems)} problem(s):")
    expected = [
        "unknown top-level key 'colors'",
        "permission 'typos': unknown key 'uri' (crmflow writes spiff-arena's `uri` as `resources`)",
        "permission 'typos': group 'slaes' is not declared under groups: (declared: everybody, sales)",
        "permission 'typos': unknown verb 'reed' in allowed_permissions",
        "permission 'typos': resource 'proc:x' has no known type",
        "permission 'typos': resource 'process:[ab]': only * and ? are wildcards",
        "permission 'typos': none of the verbs applies to queue resources like 'queue:sales'",
        "permission 'empty': allowed_permissions is empty",
        "permission 'empty': resources is empty",
        "permission 'nobody': names nobody: give groups and/or users",
    ]
    for fragment in expected:
        assert any(p.startswith(fragment) for p in problems), (fragment, problems)


def test_yaml_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text("groups:\n  sales: [unclosed\npermissions: {}\n")
    where = re.escape(str(path))
    with pytest.raises(PermissionFileError, match=rf"(?s)permission file {where}: .*not valid YAML at line 3"):
        Policy.load(path)
    with pytest.raises(PermissionFileError, match="cannot read it"):
        Policy.load(tmp_path / "missing.yml")


def test_where_the_file_comes_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    own = tmp_path / "own.yml"
    own.write_text("groups: {x: y}\npermissions: {}\n")
    monkeypatch.setenv(PERMISSIONS_ENV, str(own))
    assert Policy.configured().source == str(own), "the environment overrides the default file"
    assert Policy.configured(SHIPPED).source == str(SHIPPED), "a path given wins"
    monkeypatch.delenv(PERMISSIONS_ENV)
    monkeypatch.chdir(tmp_path)
    assert Policy.configured() is BUILT_IN, "no file: the built-in policy"
    assert not Authorizer(BUILT_IN).allows(who("ann", "sales"), "read", "process:x"), "which gives only admins"


# -- the lane map's queue rules ----------------------------------------------------------------------

def test_lanes_give_their_groups_work_and_their_supervisors_supervise() -> None:
    lanes = LaneMap.from_dict({"Sales": {"queue": "sales", "groups": ["sales"], "supervisors": ["managers"]},
                               "Billing": {"queue": "billing", "groups": ["billing"]}}, "lanes.json")
    authz = Authorizer(Policy(), lane_rules(lanes))
    assert authz.allows(who("ann", "sales"), "work", "queue:sales")
    assert authz.allows(who("ann", "sales"), "read", "queue:sales")
    assert not authz.allows(who("ann", "sales"), "supervise", "queue:sales"), "members do not supervise"
    assert authz.allows(who("max", "managers"), "supervise", "queue:sales")
    assert not authz.allows(who("max", "managers"), "work", "queue:sales")
    assert not authz.allows(who("carl", "billing"), "supervise", "queue:billing"), "no supervisors: admins only"
    rule = authz.decide(who("ann", "sales"), "work", "queue:sales").rule
    assert rule is not None and rule.narrowable and rule.source == "lane map lanes.json"


# -- the shipped file ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def shipped() -> Authorizer:
    return Authorizer(Policy.load(SHIPPED), lane_rules(LaneMap.load(LANES)))


SHIPPED_CASES = [  # group, verb, resource, allowed — what each role's work needs, and not more
    ("sales", "start", "process:lead_to_invoice", True),
    ("sales", "read-data", "instances:lead_to_invoice", True),
    ("sales", "read", "instances:case_resolution", False),
    ("sales", "read", "instances:campaign_execution", False),
    ("sales", "start", "process:case_resolution", False),
    ("sales", "start", "process:campaign_execution", False),
    ("sales", "read", "reports:sales", False),
    ("sales", "work", "queue:Sales DACH", True),
    ("sales", "supervise", "queue:sales", False),
    ("sales", "send", "message:quote_accepted", True),
    ("sales", "send", "message:payment_received", False),
    ("sales_managers", "supervise", "queue:sales", True),
    ("sales_managers", "supervise", "queue:Sales DACH", True),
    ("sales_managers", "work", "queue:sales", False),
    ("sales_managers", "read", "reports:sales", True),
    ("sales_managers", "read", "reports:service", False),
    ("sales_managers", "edit", "records:product", True),
    ("billing", "work", "queue:billing", True),
    ("billing", "send", "message:payment_received", True),
    ("billing", "read", "instances:case_resolution", False),
    ("marketing", "start", "process:campaign_execution", True),
    ("marketing", "read", "reports:marketing", False),
    ("marketing_managers", "read", "reports:marketing", True),
    ("marketing_managers", "supervise", "queue:marketing", True),
    ("service_agents", "start", "process:case_resolution", True),
    ("service_agents", "read-data", "instances:case_resolution", True),
    ("service_agents", "read", "instances:lead_to_invoice", True),  # where a customer's deal stands (360)
    ("service_agents", "read-data", "instances:lead_to_invoice", False),
    ("service_agents", "supervise", "queue:service", False),
    ("service_supervisors", "supervise", "queue:service", True),
    ("service_supervisors", "read", "reports:service", True),
    ("analysts", "deploy", "process:lead_to_invoice", True),
    ("analysts", "read", "instances:case_resolution", True),
    ("analysts", "read-data", "instances:case_resolution", False),
    ("analysts", "operate", "instances:case_resolution", False),
    ("analysts", "start", "process:lead_to_invoice", False),
    ("operators", "operate", "instances:case_resolution", True),
    ("operators", "read-data", "instances:lead_to_invoice", True),
    ("operators", "deploy", "process:lead_to_invoice", False),
    ("operators", "work", "queue:sales", False),
    ("operators", "administer", "admin:users", False),
    ("admin", "administer", "admin:users", True),
    ("admin", "work", "queue:unassigned", True),
    ("everybody", "read", "process:lead_to_invoice", False),
]


@pytest.mark.parametrize(("group", "verb", "resource", "allowed"), SHIPPED_CASES)
def test_the_shipped_file_gives_each_role_what_its_work_needs(
    shipped: Authorizer, group: str, verb: str, resource: str, allowed: bool,
) -> None:
    assert shipped.allows(who("someone", group), verb, resource) is allowed, shipped.decide(
        who("someone", group), verb, resource).explain()


def test_the_shipped_file_knows_every_lane_group_and_covers_every_process(shipped: Authorizer) -> None:
    declared = set(shipped.policy.groups)
    lanes = json.loads(LANES.read_text())
    for lane, entry in lanes.items():
        for group in [*entry.get("groups", []), *entry.get("supervisors", [])]:
            assert group in declared, f"lanes.json lane {lane!r} names group {group!r}, unknown to permissions.yml"
    for diagram in (ROOT / "processes").glob("*.bpmn"):
        pid = re.search(r'<bpmn:process id="([^"]+)"', diagram.read_text()).group(1)  # type: ignore[union-attr]
        readers = [g for g in declared - {"admin", "operators", "analysts"}
                   if shipped.allows(who("x", g), "read-data", f"instances:{pid}")]
        assert readers, f"no business group reads the instances of {pid}: add it to processes/permissions.yml"
