"""spiff-arena's script environment inside the sandbox: every name there, every module a safe subset.

The escape corpus in tests/test_sandbox.py runs against the same builtins; these tests add the
ways out (or ways to hang a worker) that the new modules would open if they were not subsets.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from engine import arena_helpers, script_env
from engine.clock import frozen_time
from engine.sandbox import RestrictedEnvironment, SandboxError, check_source
from engine.script_scope import script_scope

DOCS = Path(__file__).resolve().parents[2] / "docs" / "spiff-arena.md"

# spiff-arena's backend scripts (spiffworkflow_backend/scripts/*.py, snake_case class names) plus the
# older names still found in diagrams (get_process_info, save_process_instance_metadata) and the
# JinjaHelpers function it adds to scripts.
SPIFF_ARENA_SCRIPTS = (
    "create_unique_kkv_top_level_key", "delete_process_instances_with_criteria", "extract_from_task_data",
    "fact_service", "generate_markdown_table", "get_all_permissions", "get_current_task_data",
    "get_current_task_info", "get_current_user", "get_data_sizes", "get_encoded_file_data", "get_env",
    "get_frontend_url", "get_group_members", "get_groups_for_user", "get_last_user_completing_task",
    "get_localtime", "get_process_initiator_user", "get_secret", "get_task_data_value",
    "get_task_potential_owners", "get_toplevel_process_info", "get_url_for_task",
    "get_url_for_task_with_bpmn_identifier", "get_user", "get_user_properties", "get_users_assigned_to_task",
    "markdown_file_download_link", "get_markdown_file_download_link", "refresh_permissions",
    "set_feature_flags", "set_secret", "set_user_properties", "times_executed_by_user",
    "update_task_data_with_dictionary", "user_has_started_instance", "add_permission", "add_user_to_group",
    "clear_permissions", "get_process_info", "save_process_instance_metadata", "sanitize_for_md",
)
# CustomBpmnScriptEngine's default_globals (names starting with "_" are refused by the sandbox).
SPIFF_ARENA_GLOBALS = (
    "all", "any", "calendar", "dateparser", "datetime", "decimal", "dict", "enumerate", "filter", "format",
    "json", "list", "map", "max", "min", "pytz", "random", "re", "set", "sum", "time", "timedelta", "uuid",
)


@pytest.fixture
def env() -> RestrictedEnvironment:
    return RestrictedEnvironment()


def run(env: RestrictedEnvironment, script: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
    context = dict(data or {})
    env.execute(script, context)
    return context


@pytest.mark.parametrize("name", SPIFF_ARENA_SCRIPTS + SPIFF_ARENA_GLOBALS)
def test_every_spiff_arena_name_is_there(env: RestrictedEnvironment, name: str) -> None:
    assert env.evaluate(f"callable({name}) or {name} is not None", {}) is True


@pytest.mark.parametrize("name", sorted(arena_helpers.REFUSED))
def test_refused_helpers_say_what_to_use_instead(env: RestrictedEnvironment, name: str) -> None:
    with pytest.raises(SandboxError, match=rf"^{name}\(\) is not available in crmflow: .{{20,}}"):
        env.evaluate(f"{name}('x')", {})


@pytest.mark.parametrize("module", ["json", "time", "random", "re", "uuid", "calendar", "pytz", "dateparser"])
def test_modules_are_importable_as_in_spiff_arena(env: RestrictedEnvironment, module: str) -> None:
    assert check_source(f"import {module}", "exec") == []
    assert run(env, f"import {module}\nok = {module} is not None")["ok"] is True


def test_the_import_refusal_lists_the_new_modules() -> None:
    [message] = check_source("import os", "exec")
    assert "allowed: calendar, dateparser, datetime, decimal, json, math, pytz, random, re, time, uuid" in message


# (id, source, substring of the SandboxError)
REFUSALS: list[tuple[str, str, str]] = [
    ("time-sleep", "time.sleep(1)", "draw a timer event"),
    ("time-monotonic", "time.monotonic()", "'monotonic' of module 'time'"),
    ("time-module-write", "time.time = None", "changing a module"),
    ("json-cls", "json.dumps({}, cls=dict)", "cls="),
    ("json-indent", "json.dumps([1], indent=10**6)", "indent"),
    ("json-globals", "json.loads.__globals__", "__globals__"),
    ("re-catastrophic", 're.search(r"(.*,){30}x", "," * 200)', "regular expression stopped"),
    ("re-sub-huge", 're.sub("", "x" * 1000, "a" * 100000)', "re.sub()"),
    ("re-sub-callable-huge", 're.sub("a", lambda m: "b" * 10**6, "a" * 100)', "re.sub()"),
    ("re-match-private", 're.match("a", "a")._m', "'_m'"),
    ("uuid1-mac", "uuid.uuid1()", "network address"),
    ("calendar-global-state", "calendar.setfirstweekday(3)", "'setfirstweekday'"),
    ("random-bits", "random.getrandbits(10**6)", "getrandbits"),
    ("random-choices", "random.choices([1], k=10**9)", "choices"),
    ("random-class", "random.Random(1)", "'Random' of module 'random'"),
    ("random-seed-object", "random.seed([1])", "random.seed()"),
    ("dateparser-long", 'dateparser.parse("x" * 2000)', "at most 1,000 characters"),
    ("dateparser-internals", "dateparser.date", "'date' of module 'dateparser'"),
    ("pytz-name", 'pytz.timezone("x" * 100)', "time zone name"),
    ("pytz-files", "pytz.open_resource", "'open_resource' of module 'pytz'"),
    ("datetime-write", "datetime.now = None", "changing a type"),
    ("date-via-type", "type(date.today()).today.__self__", "__self__"),
]


@pytest.mark.parametrize(("source", "expected"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_new_modules_refuse_what_would_escape_or_hang(env: RestrictedEnvironment, source: str, expected: str) -> None:
    with pytest.raises(SandboxError) as info:
        with script_scope(None):
            env.execute(f"x = {source}" if "=" not in source.split("(")[0] else source, {})
    assert expected in str(info.value)


def test_regex_match_objects_do_not_hand_out_the_unbounded_pattern(env: RestrictedEnvironment) -> None:
    with pytest.raises(AttributeError):
        env.evaluate('re.match("a", "a").re', {})
    assert env.evaluate('re.match(r"(\\d+)-(\\w+)", "12-ab").groups()', {}) == ("12", "ab")
    assert env.evaluate('[m.group() for m in re.finditer(r"\\d", "a1b2")]', {}) == ["1", "2"]
    assert env.evaluate('re.compile(r"\\s+").split("a  b c")', {}) == ["a", "b", "c"]


def test_a_pytz_name_cannot_reach_files(env: RestrictedEnvironment) -> None:
    with pytest.raises(Exception) as info:
        env.evaluate('pytz.timezone("../../../etc/passwd")', {})
    assert type(info.value).__name__ in ("UnknownTimeZoneError", "ValueError")


@pytest.mark.parametrize("source", ["l = [1]\nl.extend(map(abs, l))", "l = [1]\nl.extend(filter(None, l))"])
def test_map_and_filter_count_against_the_time_limit(source: str) -> None:
    with pytest.raises(SandboxError, match="time limit"):
        RestrictedEnvironment(time_limit=0.2).execute(source, {})


def test_random_seed_stays_in_its_script(env: RestrictedEnvironment) -> None:
    with script_scope(None):
        first = run(env, "random.seed(7)\na = random.random()\nb = random.random()")
    with script_scope(None):
        second = run(env, "b = random.random()")
    expected = random.Random(7)
    assert first["a"] == expected.random() and first["b"] == expected.random()
    assert second["b"] != first["b"]


def test_datetime_reads_the_engine_call_time_and_stays_a_datetime(env: RestrictedEnvironment) -> None:
    when = datetime(2030, 5, 6, 7, 8, tzinfo=UTC)
    with frozen_time(when):
        got = run(env, "n = datetime.now()\nd = date.today()\nt = time.time()\nu = datetime.now(pytz.utc)\n"
                       "same = type(n) is datetime and isinstance(n, date) and issubclass(datetime, date)\n"
                       "import datetime as dtmod\nm = dtmod.datetime.now()")
    assert got["n"] == datetime(2030, 5, 6, 7, 8) and type(got["n"]) is datetime
    assert got["d"] == date(2030, 5, 6) and got["t"] == when.timestamp()
    assert got["u"] == when and got["m"] == got["n"] and got["same"] is True
    assert env.evaluate("datetime(2026, 1, 2).isoformat()", {}) == "2026-01-02T00:00:00"
    assert env.evaluate('datetime.strptime("2026-01-02", "%Y-%m-%d").day', {}) == 2
    assert env.evaluate('time.strptime("2026-01-02", "%Y-%m-%d").tm_mday', {}) == 2


def test_task_data_may_shadow_the_new_names(env: RestrictedEnvironment) -> None:
    assert run(env, "y = time + 1", {"time": 41})["y"] == 42
    assert env.evaluate("json", {"json": "mine"}) == "mine"


def test_settings_name_the_environment_and_pages(env: RestrictedEnvironment, monkeypatch: pytest.MonkeyPatch) -> None:
    assert env.evaluate("get_env()", {}) == "local_development"
    monkeypatch.setenv("CRMFLOW_ENV", "production")
    monkeypatch.setenv("CRMFLOW_BASE_URL", "https://crm.example.com/")
    assert env.evaluate("get_env()", {}) == "production"
    assert env.evaluate("get_frontend_url()", {}) == "https://crm.example.com"


def test_instance_helpers_outside_an_instance_say_so(env: RestrictedEnvironment) -> None:
    with pytest.raises(SandboxError, match=re.escape("get_current_user() needs a running process instance")):
        env.evaluate("get_current_user()", {})


def test_get_localtime_needs_a_datetime(env: RestrictedEnvironment) -> None:
    with pytest.raises(ValueError, match="needs a datetime"):
        env.evaluate("get_localtime()", {})
    assert env.evaluate('get_localtime(datetime(2026, 7, 1, 16, 0), "Europe/Berlin").hour', {}) == 18


def test_generate_markdown_table_formats_seconds(env: RestrictedEnvironment) -> None:
    table = env.evaluate(
        'generate_markdown_table([{"property": "at", "label": "When", '
        '"formatter": "convert_seconds_to_date_time_for_display"}, '
        '{"property": "n", "label": "N", "sanitize": False}], [{"at": 0, "n": "a_b"}])', {})
    assert table.splitlines()[-1] == "| 1970-01-01 00:00:00 UTC | a_b |"


def test_the_compatibility_page_lists_every_name() -> None:
    page = DOCS.read_text()
    missing = [n for n in (*script_env.names(), *SPIFF_ARENA_SCRIPTS) if f"`{n}" not in page]
    assert not missing, f"docs/spiff-arena.md does not mention {missing}"
