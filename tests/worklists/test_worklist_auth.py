"""Users, groups, API tokens (stored hashed) and web-login passwords."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine import Conflict, InvalidInput, NotFound
from worklists.auth import hash_secret, verify_secret
from worklists.models import ApiToken, User


def all_text(eng) -> str:
    """Every value in the users and tokens tables, as one string."""
    with eng.db.read() as session:
        rows = [*session.execute(select(ApiToken.__table__)), *session.execute(select(User.__table__))]
    return " ".join(str(v) for row in rows for v in row)


def test_tokens_are_stored_hashed_and_authenticate(wl_engine, accounts):
    user, issued = accounts.add_user("dora", ["sales", "service_agents"], password="correct horse")
    assert user.groups == ["sales", "service_agents"] and issued is not None
    raw = issued.token
    secret = raw.split("_", 2)[2]
    stored = all_text(wl_engine)
    assert raw not in stored and secret not in stored, "the token never reaches the database"
    assert "correct horse" not in stored
    assert accounts.authenticate_token(raw).name == "dora"
    assert accounts.authenticate_token(raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert accounts.authenticate_token("cft_000000000000_" + secret) is None
    assert accounts.authenticate_token("Bearer nonsense") is None


def test_tokens_record_use_and_can_be_revoked(wl_engine, accounts):
    second = accounts.issue_token("ann", "laptop")
    assert accounts.authenticate_token(second.token).name == "ann"
    [info] = accounts.list_tokens("ann")
    assert info.label == "laptop" and info.last_used_at == wl_engine.now()
    accounts.revoke_token(second.info.lookup)
    assert accounts.authenticate_token(second.token) is None
    with pytest.raises(NotFound):
        accounts.revoke_token("feedfeedfeed")


def test_inactive_users_cannot_use_tokens_or_passwords(accounts):
    _, issued = accounts.add_user("eve", ["sales"], password="long enough")
    assert accounts.verify_password("eve", "long enough").name == "eve"
    accounts.set_active("eve", False)
    assert accounts.authenticate_token(issued.token) is None
    assert accounts.verify_password("eve", "long enough") is None


def test_passwords(accounts):
    accounts.set_password("ann", "s3cret-pass")
    assert accounts.verify_password("ann", "s3cret-pass").name == "ann"
    assert accounts.verify_password("ann", "wrong-pass") is None
    assert accounts.verify_password("nobody", "s3cret-pass") is None
    assert accounts.verify_password("bob", "anything") is None, "no password set: no web login"
    with pytest.raises(InvalidInput, match="at least 10"):
        accounts.set_password("ann", "short")


def test_user_refusals(accounts):
    with pytest.raises(Conflict, match="already exists"):
        accounts.add_user("ann")
    with pytest.raises(InvalidInput, match="user name 'a b'"):
        accounts.add_user("a b")
    with pytest.raises(InvalidInput, match="group name 'user:x'"):
        accounts.add_user("fred", ["user:x"])
    with pytest.raises(NotFound, match="user 'ghost' does not exist"):
        accounts.issue_token("ghost")


def test_directory_queries(accounts):
    assert accounts.groups_of("ann") == {"sales"}
    assert accounts.groups_of("ghost") is None
    assert accounts.members_of("sales") == ["ann", "bob"]
    assert [u.name for u in accounts.list_users()] == ["ann", "bob", "carl", "mia", "root", "sam"]
    assert accounts.set_groups("ann", ["billing"]).groups == ["billing"]


def test_hashes_are_salted_and_self_describing():
    a, b = hash_secret("same"), hash_secret("same")
    assert a != b and a.startswith("scrypt$16384$8$1$")
    assert verify_secret("same", a) and not verify_secret("other", a)
    assert not verify_secret("same", "garbage") and not verify_secret("same", None)
