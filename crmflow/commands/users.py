"""User administration: add, list, groups, deactivate/reactivate, passwords, unlock, email, tokens.

Every change goes through `worklists.auth.Accounts`, which writes it to the audit log in the same
transaction, naming who did it: `--by`, else `$CRMFLOW_USER`, else `cli:<login name>`. When that
names a crmflow user, the change needs their `administer` on `admin:users` (docs/permissions.md;
a refusal is audited) — except a user's own password and tokens; an operator at the server's shell
(`cli:<login>`) holds the database itself and is beyond the permission model.
"""

from __future__ import annotations

import getpass
import os
import sys
from typing import Annotated

import typer

from crmflow import render
from crmflow.commands.common import DbOpt, JsonOpt, emit, open_engine
from crmflow.settings import lane_map, permissions_file
from engine import Engine, InvalidInput
from worklists.auth import Accounts, UserView
from worklists.lockout import LoginThrottleStore
from worklists.permissions import ADMINISTER, Authorizer, Policy
from worklists.permissions.audit import AuditLog
from worklists.permissions.lanes import lane_rules

commands = typer.Typer()

users_app = typer.Typer(help="Users, their groups, passwords and API tokens (changes are audited).",
                        no_args_is_help=True)
commands.add_typer(users_app, name="users")

NameArg = Annotated[str, typer.Argument(help="The user.")]
ByOpt = Annotated[
    str | None, typer.Option("--by", envvar="CRMFLOW_USER", help="Who makes the change (for the audit log).")
]


def actor(by: str | None) -> str:
    """Who is at the keyboard, for the audit log."""
    if by:
        return by
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return f"cli:uid-{os.getuid()}"


def admin(eng: Engine, by: str | None, doing: str, own: str | None = None) -> str:
    """Who makes the change, once allowed (see the module's docstring); `own` is the account
    changed, which its owner may change without being an admin."""
    who = actor(by)
    accounts = Accounts(eng)
    if who == own or accounts.find_user(who) is None:
        return who
    authz = Authorizer(Policy.configured(permissions_file()), lane_rules(lane_map()), groups_of=accounts.groups_of,
                       audit=AuditLog(eng))
    authz.require(who, ADMINISTER, "admin:users", doing=doing)
    return who


def split_groups(raw: str | None) -> list[str]:
    return [g.strip() for g in (raw or "").split(",") if g.strip()]


def user_line(user: UserView) -> str:
    state = "active" if user.active else "deactivated"
    return f"{user.name} ({state}; groups: {', '.join(user.groups) or '-'})"


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Login name (what tasks record).")],
    groups: Annotated[str, typer.Option("--groups", help="Comma-separated groups, e.g. sales,service.")] = "",
    password: Annotated[str | None, typer.Option(
        "--password", help="Password for the web login (10+ characters, not the user name, not a common one).")]
    = None,
    display_name: Annotated[str | None, typer.Option("--display-name", help="Name shown on pages.")] = None,
    email: Annotated[str | None, typer.Option("--email", help="Where task reminders are sent.")] = None,
    by: ByOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a user; prints a new API token once (it is stored only as a hash)."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        who = admin(eng, by, f"add user {name}")
        user, issued = Accounts(eng).add_user(
            name, split_groups(groups), display_name=display_name, password=password, email=email, by=who,
        )
    token = issued.token if issued else None
    emit(
        ctx, as_json, {"user": user, "token": token},
        f"added user {user.name} (groups: {', '.join(user.groups) or '-'})\n"
        f"API token (shown once, keep it safe): {token}",
    )


@users_app.command("groups")
def users_groups(
    ctx: typer.Context,
    name: NameArg,
    groups: Annotated[str | None, typer.Argument(help="The new groups, comma-separated ('-' for none).")] = None,
    add: Annotated[str | None, typer.Option("--add", help="Also join these groups (comma-separated).")] = None,
    remove: Annotated[str | None, typer.Option("--remove", help="Leave these groups (comma-separated).")] = None,
    by: ByOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a user's groups, or change them: GROUPS replaces them, --add/--remove adjust them."""
    if groups is not None and (add or remove):
        raise InvalidInput("give either the new GROUPS or --add/--remove, not both")
    with open_engine(ctx, db, with_handlers=False) as eng:
        accounts = Accounts(eng)
        user = accounts.get_user(name)
        if groups is None and not add and not remove:
            emit(ctx, as_json, user, user_line(user))
            return
        if groups is not None:
            wanted = [] if groups.strip() == "-" else split_groups(groups)
        else:
            gone = set(split_groups(remove))
            wanted = [g for g in [*user.groups, *split_groups(add)] if g not in gone]
        changed = accounts.set_groups(name, wanted, by=admin(eng, by, f"change the groups of {name}"))
    emit(ctx, as_json, changed, f"{user_line(changed)} (was: {', '.join(user.groups) or '-'})")


@users_app.command("deactivate")
def users_deactivate(ctx: typer.Context, name: NameArg, by: ByOpt = None, db: DbOpt = None,
                     as_json: JsonOpt = False) -> None:
    """Stop a user at once: no web login, no API token works, no task work; their sessions end."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        user = Accounts(eng).set_active(name, False, by=admin(eng, by, f"deactivate {name}"))
    emit(ctx, as_json, user, f"deactivated {user_line(user)}; their tokens and sessions stop working now")


@users_app.command("reactivate")
def users_reactivate(ctx: typer.Context, name: NameArg, by: ByOpt = None, db: DbOpt = None,
                     as_json: JsonOpt = False) -> None:
    """Let a deactivated user work again (their tokens that were not revoked work again)."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        user = Accounts(eng).set_active(name, True, by=admin(eng, by, f"reactivate {name}"))
    emit(ctx, as_json, user, f"reactivated {user_line(user)}")


@users_app.command("password")
def users_password(
    ctx: typer.Context,
    name: NameArg,
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the password from standard input (for scripts).")]
    = False,
    by: ByOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set a user's web-login password (asked twice, not echoed); their open web sessions end."""
    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(f"new password for {name}", hide_input=True, confirmation_prompt=True)
    with open_engine(ctx, db, with_handlers=False) as eng:
        accounts = Accounts(eng)
        accounts.set_password(name, password, by=admin(eng, by, f"set the password of {name}", own=name))
        user = accounts.get_user(name)
    emit(ctx, as_json, user, f"password of {user.name} set; their open web sessions have ended")


@users_app.command("unlock")
def users_unlock(ctx: typer.Context, name: NameArg, by: ByOpt = None, db: DbOpt = None,
                 as_json: JsonOpt = False) -> None:
    """Clear a user name's lock after too many failed logins."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        was_locked = LoginThrottleStore(eng).unlock(name)
        Accounts(eng).audit.write(admin(eng, by, f"unlock {name}"), "user.unlock", name, {"had_failures": was_locked})
    emit(ctx, as_json, {"user": name, "cleared": was_locked},
         f"{name}: failed logins cleared" if was_locked else f"{name}: was not locked (nothing to clear)")


@users_app.command("email")
def users_email(
    ctx: typer.Context,
    name: NameArg,
    address: Annotated[str, typer.Argument(help="Email address for task reminders; '-' removes it.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set where a user's task reminders (overdue, follow-up) are sent."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        user = Accounts(eng).set_email(name, None if address.strip() == "-" else address)
    emit(ctx, as_json, user, f"{user.name}: reminders go to {user.email}" if user.email
         else f"{user.name}: no email, no reminders by mail")


@users_app.command("timezone")
def users_timezone(
    ctx: typer.Context,
    name: NameArg,
    zone: Annotated[str, typer.Argument(help="IANA time zone, e.g. Europe/Berlin; '-' for UTC.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set the time zone the web pages show a user's times in (UTC is on hover)."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        user = Accounts(eng).set_time_zone(name, None if zone.strip() == "-" else zone)
    emit(ctx, as_json, user, f"{user.name}: times shown in {user.time_zone or 'UTC'}")


@users_app.command("list")
def users_list(ctx: typer.Context, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List users and their groups."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        users = Accounts(eng).list_users()
    table = render.table(
        users,
        [("NAME", lambda u: u.name), ("DISPLAY NAME", lambda u: u.display_name),
         ("GROUPS", lambda u: ", ".join(u.groups)), ("EMAIL", lambda u: u.email), ("ACTIVE", lambda u: u.active),
         ("WEB LOGIN", lambda u: u.has_password)],
        empty="(no users; crmflow users add NAME --groups ...)",
    )
    emit(ctx, as_json, users, table)


@commands.command()
def token(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The user the token is for.")],
    label: Annotated[str | None, typer.Option("--label", help="What the token is for.")] = None,
    revoke: Annotated[str | None, typer.Option("--revoke", help="Revoke this token id instead.")] = None,
    by: ByOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue another API token for a user (printed once), or revoke one."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        accounts = Accounts(eng)
        if revoke:
            info = accounts.revoke_token(revoke, by=admin(eng, by, f"revoke token {revoke}"))
            emit(ctx, as_json, info, f"revoked token {info.lookup} of {info.user}")
            return
        issued = accounts.issue_token(name, label, by=admin(eng, by, f"issue a token for {name}", own=name))
    emit(ctx, as_json, issued, f"API token for {name} (shown once, keep it safe): {issued.token}")
