"""Login hardening: lockout after failed logins, cookie flags, session expiry and server-side
logout, deactivation stopping tokens and sessions at once, password rules, and no timing
difference between unknown and known user names."""

from __future__ import annotations

from datetime import timedelta

import pytest
from authz_world import SECRET, World, csrf_of
from fastapi.testclient import TestClient

from crmflow import demo_seed
from crmflow.web.app import WebSettings, create_app
from engine import InvalidInput
from worklists import auth
from worklists.auth import check_password
from worklists.lockout import CLIENT_LIMIT, LOCK, USER_LIMIT, LoginThrottleStore

PASSWORD = demo_seed.DEMO_PASSWORD


def attempt(client: TestClient, user: str, password: str) -> object:
    token = csrf_of(client.get("/login").text)
    return client.post("/login", data={"username": user, "password": password, "csrf": token, "next": "/"})


def app_with(world: World, base_url: str = "http://testserver", **settings: object) -> TestClient:
    app = create_app(world.engine, world.worklist, settings=WebSettings(secret_key=SECRET, **settings))
    client = TestClient(app, follow_redirects=False, base_url=base_url)
    world.clients.append(client)
    return client


def cookie_header(response: object) -> str:
    found = [v for k, v in response.headers.multi_items() if k == "set-cookie" and v.startswith("crmflow_session=")]
    assert found, "no session cookie set"
    return found[-1].lower()


# -- lockout ----------------------------------------------------------------------------------------

def test_a_user_name_locks_after_failed_logins_and_unlocks_later(world: World) -> None:
    client = world.client()
    for _ in range(USER_LIMIT):
        assert attempt(client, "carl", "not the password").status_code == 401
    locked = attempt(client, "carl", PASSWORD)
    assert locked.status_code == 429, "even the right password waits out the lock"
    assert "Too many failed logins for this user name: try again after" in locked.text
    assert "crmflow users unlock NAME" in locked.text
    assert attempt(world.client(), "sue", PASSWORD).status_code == 303, "other users are not affected"
    world.clock.advance(LOCK + timedelta(seconds=1))
    assert attempt(client, "carl", PASSWORD).status_code == 303


def test_unknown_names_lock_the_same_way_so_the_lock_tells_nothing(world: World) -> None:
    client = world.client()
    for _ in range(USER_LIMIT):
        assert attempt(client, "no-such-user", "whatever").status_code == 401
    assert "Too many failed logins for this user name" in attempt(client, "no-such-user", "x").text
    assert LoginThrottleStore(world.engine).unlock("no-such-user")


def test_a_client_address_locks_after_many_failures_across_names(world: World) -> None:
    client = world.client()
    for i in range(CLIENT_LIMIT):
        attempt(client, f"guess{i}", "whatever")
    locked = attempt(client, "mia", PASSWORD)
    assert locked.status_code == 429 and "Too many failed logins from your address" in locked.text
    world.clock.advance(LOCK + timedelta(seconds=1))
    assert attempt(client, "mia", PASSWORD).status_code == 303


def test_a_successful_login_clears_the_count(world: World) -> None:
    client = world.client()
    for _ in range(USER_LIMIT - 1):
        attempt(client, "max", "wrong password")
    assert attempt(client, "max", PASSWORD).status_code == 303
    for _ in range(USER_LIMIT - 1):
        attempt(world.client(), "max", "wrong password")
    assert attempt(world.client(), "max", PASSWORD).status_code == 303


# -- the cookie and the session ---------------------------------------------------------------------

def test_the_session_cookie_is_httponly_samesite_and_secure_over_https(world: World) -> None:
    plain = cookie_header(attempt(world.client(), "sam", PASSWORD))
    assert "httponly" in plain and "samesite=lax" in plain and "secure" not in plain
    assert f"max-age={8 * 3600}" in plain, "the cookie lives no longer than the session"
    https = app_with(world, base_url="https://testserver")
    assert "; secure" in cookie_header(attempt(https, "sam", PASSWORD)), "served over HTTPS: Secure"
    forced = app_with(world, https_only=True, same_site="strict")
    header = cookie_header(attempt(forced, "sam", PASSWORD))
    assert "; secure" in header and "samesite=strict" in header


def test_the_secure_cookie_is_an_operators_setting(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMFLOW_SECURE_COOKIE", "1")  # crmflow serve behind a TLS proxy without --proxy-headers
    assert "; secure" in cookie_header(attempt(app_with(world), "sam", PASSWORD))


def test_logging_out_ends_the_session_on_the_server_so_a_copied_cookie_stops_working(world: World) -> None:
    ann = world.browser("ann")
    stolen = TestClient(world.app, follow_redirects=False, cookies=dict(ann.cookies))
    world.clients.append(stolen)
    assert stolen.get("/").status_code == 200, "a copy works while the session lives"
    csrf = csrf_of(ann.get("/").text)
    assert ann.post("/logout", data={"csrf": csrf}).status_code == 303
    assert stolen.get("/").headers["location"].startswith("/login"), "the copy died with the logout"


def test_sessions_end_when_idle_and_after_their_lifetime(world: World) -> None:
    idle = world.browser("bob")
    world.clock.advance(timedelta(minutes=61))
    assert idle.get("/").status_code == 303, "an hour without a request ends the session"
    busy = world.browser("bob")
    for _ in range(9):  # active every 55 minutes: alive until the 8 hours are up
        world.clock.advance(timedelta(minutes=55))
        if busy.get("/").status_code != 200:
            break
    assert busy.get("/").headers["location"].startswith("/login"), "no session outlives 8 hours"
    short = app_with(world, session_hours=1, session_idle_minutes=5)
    assert attempt(short, "bob", PASSWORD).status_code == 303
    world.clock.advance(timedelta(minutes=6))
    assert short.get("/").status_code == 303, "the limits are settings"


# -- deactivation -----------------------------------------------------------------------------------

def test_deactivating_a_user_stops_their_tokens_and_sessions_at_once(world: World) -> None:
    page = world.browser("eve")
    api = world.client()
    assert api.get("/api/v1/queues", headers=world.api("eve")).status_code == 200
    assert page.get("/").status_code == 200
    world.worklist.accounts.set_active("eve", False, by="admin")
    assert api.get("/api/v1/queues", headers=world.api("eve")).status_code == 401
    assert page.get("/").headers["location"].startswith("/login")
    assert attempt(world.client(), "eve", PASSWORD).status_code == 401
    world.worklist.accounts.set_active("eve", True, by="admin")
    assert api.get("/api/v1/queues", headers=world.api("eve")).status_code == 200, "reactivated: the token works"
    assert page.get("/").status_code == 303, "but the ended session stays ended"


def test_a_new_password_ends_the_users_sessions(world: World) -> None:
    page = world.browser("tom")
    assert page.get("/").status_code == 200
    world.worklist.accounts.set_password("tom", "a much better passphrase", by="admin")
    assert page.get("/").status_code == 303
    assert attempt(world.client(), "tom", "a much better passphrase").status_code == 303


# -- passwords --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("password", "message"), [
    ("short", "at least 10 characters"),
    ("x" * 257, "at most 256"),
    ("dora-is-my-name", "must not contain the user name"),
    ("password123", "too easy to guess"),
    ("1234567890", "too easy to guess"),
    ("zyxwvutsrq", "too easy to guess"),
    ("aaaaaaaaaaaa", "too easy to guess"),
    ("abababababab", "too easy to guess"),
])
def test_password_rules(password: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_password(password, "dora")


def test_good_passwords_pass() -> None:
    assert check_password("correct horse battery", "dora") == "correct horse battery"


def test_unknown_users_cost_as_much_to_refuse_as_wrong_passwords(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """No timing: the scrypt cost for an unknown name, a user without a password and a wrong password
    is the same (the cost parameter is read from each hash checked)."""
    costs: list[str] = []
    real = auth.verify_secret

    def spy(secret: str, stored: str | None) -> bool:
        costs.append((stored or "").split("$")[1])
        return real(secret, stored)

    monkeypatch.setattr(auth, "verify_secret", spy)
    accounts = world.worklist.accounts
    accounts.add_user("nopass", ["sales"], token_label=None)
    assert accounts.verify_password("ghost", "some password") is None
    assert accounts.verify_password("nopass", "some password") is None
    assert accounts.verify_password("ann", "some password") is None
    assert costs == [str(auth.PASSWORD_COST[0])] * 3, costs
