"""Hostile input on the pages (issue 23 items 4, 5, 8): odd filter values, odd ids, a form's
nullable enum, huge bodies — each a message or a 4xx, never a 500; security headers; no inline
script anywhere (the CSP allows scripts from this server only)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from worklists.forms import FormInvalid, Forms

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


@pytest.mark.parametrize("query", ["priority=99999999999999999999", "priority=-99999999999999999999",
                                   "limit=%C2%B2", "page=%C2%B2", "page=99999999999999999999"])
def test_filter_values_out_of_range_are_messages_not_500s(login, start_deal, query: str) -> None:
    start_deal()
    r = login("ann").get(f"/available?{query}")
    assert r.status_code == 200, r.text
    if query.startswith("priority"):
        assert "“Priority” must be High or Normal or higher" in r.text


@pytest.mark.parametrize("instance_id", ["99999999999999999999", "%C2%B2", "0"])
def test_instance_ids_out_of_range_are_404s(login, instance_id: str) -> None:
    assert login("root").get(f"/instances/{instance_id}").status_code == 404


def test_an_invalid_value_for_a_nullable_enum_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "tier.json").write_text('{"type": "object", "properties": {"tier": '
                                        '{"type": ["string", "null"], "enum": ["gold", "silver", null]}}}')
    with pytest.raises(FormInvalid) as err:
        Forms(tmp_path).validate("tier.json", {"tier": "bronze"})
    assert [(e.field, e.message) for e in err.value.errors] == [("tier", 'must be one of "gold", "silver", null')]
    assert Forms(tmp_path).validate("tier.json", {"tier": None}) == {"tier": None}


def test_a_huge_form_post_is_a_413_page(anon) -> None:
    r = anon.post("/login", data={"username": "x" * (1024 * 1024 + 1), "password": "p"},
                  headers={"Accept": "text/html"})
    assert r.status_code == 413 and "limit" in r.text and "<html" in r.text


def test_pages_carry_the_security_headers_and_no_inline_script(login, start_deal, anon) -> None:
    tid = start_deal()
    root = login("root")
    pages = ["/", "/available", f"/tasks/{tid}", "/settings"]
    instance = root.get(f"/tasks/{tid}")
    pages += sorted(set(re.findall(r'href="(/instances/\d+)"', instance.text)))
    for client, path in [(anon, "/login"), *((root, p) for p in pages)]:
        r = client.get(path)
        assert r.status_code == 200, (path, r.status_code)
        csp = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
        assert r.headers["X-Frame-Options"] == "DENY" and r.headers["Referrer-Policy"] == "same-origin"
        assert not INLINE_SCRIPT.search(r.text), (path, INLINE_SCRIPT.search(r.text))
        assert not HANDLER.search(r.text), (path, HANDLER.search(r.text))
        assert "javascript:" not in r.text.lower(), path
