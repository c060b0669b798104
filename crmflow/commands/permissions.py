"""`crmflow permissions`: explain a decision, list what a user or group may do, validate the file.

The rules come from the permission file (`--file`, else `$CRMFLOW_PERMISSIONS`, else
processes/permissions.yml) plus the lane map's queue rules (`--lanes`, else `$CRMFLOW_LANES`, else
processes/lanes.json), exactly as the server reads them; users and their groups from the database.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from crmflow import render
from crmflow.commands.common import DbOpt, JsonOpt, emit, open_engine
from crmflow.settings import lane_map, permissions_file
from engine import NotFound
from worklists.auth import Accounts
from worklists.permissions import RESOURCE_TYPES, VERBS, Authorizer, Policy, Rule
from worklists.permissions.lanes import lane_rules

commands = typer.Typer()

permissions_app = typer.Typer(help="Who may do what: check a decision, list permissions, validate the file.",
                              no_args_is_help=True)
commands.add_typer(permissions_app, name="permissions")

FileOpt = Annotated[str | None, typer.Option(
    "--file", envvar="CRMFLOW_PERMISSIONS", help="Permission file (default processes/permissions.yml).")]
LanesOpt = Annotated[str | None, typer.Option(
    "--lanes", envvar="CRMFLOW_LANES", help="Lane map file (default processes/lanes.json).")]


def authorizer(file: str | None, lanes: str | None, accounts: Accounts | None = None) -> Authorizer:
    policy = Policy.configured(permissions_file(explicit=file))
    groups_of = accounts.groups_of if accounts is not None else None
    return Authorizer(policy, lane_rules(lane_map(lanes=lanes)), groups_of=groups_of)


def rule_row(rule: Rule) -> dict[str, Any]:
    return {
        "name": rule.name, "groups": sorted(rule.groups), "users": sorted(rule.users), "verbs": sorted(rule.verbs),
        "resources": list(rule.resources), "source": rule.source, "description": rule.description,
    }


RULE_COLUMNS: list[render.Column] = [
    ("PERMISSION", lambda r: r["name"]),
    ("WHO", lambda r: ", ".join([*r["groups"], *(f"user:{u}" for u in r["users"])])),
    ("VERBS", lambda r: ", ".join(r["verbs"])),
    ("RESOURCES", lambda r: ", ".join(r["resources"])),
]


@permissions_app.command("check")
def check(
    ctx: typer.Context,
    user: Annotated[str, typer.Argument(help="The user (as in crmflow users list).")],
    verb: Annotated[str, typer.Argument(help=f"One of {', '.join(VERBS)}.")],
    resource: Annotated[str, typer.Argument(help="TYPE:NAME, e.g. instances:case_resolution or 'queue:Sales DACH'.")],
    file: FileOpt = None,
    lanes: LanesOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Explain a decision: which rule allows USER to VERB RESOURCE, or which permission is missing.
    Exits 1 when refused."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        accounts = Accounts(eng)
        authz = authorizer(file, lanes, accounts)
        decision = authz.decide(user, verb, resource)
        who = authz.principals(user)
    groups = ", ".join(sorted(who.groups))
    text = f"{decision.explain()}\n{user}'s groups: {groups}\nrules from: {authz.policy.source}"
    if not decision.allowed:
        text += f"\nto allow it, give one of these groups {verb!r} on {resource!r} (or a pattern covering it)"
    value = {"allowed": decision.allowed, "user": user, "groups": sorted(who.groups), "verb": verb,
             "resource": resource, "rule": rule_row(decision.rule) if decision.rule else None,
             "permission": decision.permission}
    emit(ctx, as_json, value, text)
    if not decision.allowed:
        raise typer.Exit(1)


@permissions_app.command("list")
def list_permissions(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="A user or a group (default: every rule).")] = None,
    file: FileOpt = None,
    lanes: LanesOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The rules that apply to a user (through their groups) or name a group; all rules without NAME."""
    title = "every rule"
    if name is None:
        authz = authorizer(file, lanes)
        rules = list(authz.rules)
    else:
        with open_engine(ctx, db, with_handlers=False) as eng:
            accounts = Accounts(eng)
            authz = authorizer(file, lanes, accounts)
            user = accounts.find_user(name)
        if user is not None:
            who = authz.principals(user)
            rules = [r for r in authz.rules if r.applies_to(who)]
            title = f"user {name} (groups: {', '.join(sorted(who.groups))})"
            if not user.active:
                title += " — deactivated: none of these apply until reactivated"
        elif name in authz.policy.groups or name == authz.policy.default_group or any(
                name in r.groups for r in authz.rules):
            rules = [r for r in authz.rules if name in r.groups]
            title = f"group {name}"
        else:
            raise NotFound(f"{name!r} is neither a user (crmflow users list) nor a group of {authz.policy.source}")
    rows = [rule_row(r) for r in rules]
    emit(ctx, as_json, {"for": title, "source": authz.policy.source, "rules": rows},
         f"{title}, from {authz.policy.source} and the lane map:\n"
         + render.table(rows, RULE_COLUMNS, empty="(nothing: no rule names them)"))


@permissions_app.command("validate")
def validate(
    ctx: typer.Context,
    file: Annotated[str | None, typer.Argument(help="The file (default: the configured one).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a permission file; every problem is listed with its entry (exit 1 if any)."""
    policy = Policy.configured(file)
    verbs = sorted({v for r in policy.rules for v in r.verbs})
    emit(ctx, as_json, {"file": policy.source, "rules": len(policy.rules), "groups": sorted(policy.groups),
                        "verbs": verbs},
         f"{policy.source}: valid — {len(policy.rules)} permissions for {len(policy.groups)} groups")


@permissions_app.command("verbs")
def verbs(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """The verbs and resource types of the permission model."""
    rows = [{"verb": v, "meaning": m} for v, m in VERBS.items()]
    kinds = [{"type": k, "meaning": d, "verbs": list(vs)} for k, (d, vs) in RESOURCE_TYPES.items()]
    text = render.table(rows, [("VERB", lambda r: r["verb"]), ("MEANING", lambda r: r["meaning"])]) + "\n\n" + \
        render.table(kinds, [("RESOURCE", lambda r: f"{r['type']}:NAME"), ("VERBS", lambda r: ", ".join(r["verbs"])),
                             ("WHAT", lambda r: r["meaning"])])
    emit(ctx, as_json, {"verbs": rows, "resources": kinds}, text)
