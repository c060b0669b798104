"""The workspace pages without a browser: what each role sees and is refused, a move a process owns
pointing at its task, a start form's errors, and the record lists' filters."""

from __future__ import annotations

import re
from typing import Any

from workspace_world import WorkspaceWorld

from crmflow import demo_seed


def browser(world: WorkspaceWorld, user: str) -> Any:
    c = world.client()
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": user, "password": demo_seed.DEMO_PASSWORD, "csrf": token})
    assert r.status_code == 303
    return c


def csrf(c: Any, path: str = "/records") -> str:
    return re.search(r'name="csrf" value="([^"]+)"', c.get(path).text).group(1)


def test_each_role_sees_only_its_record_types(world: WorkspaceWorld) -> None:
    ann = browser(world, "ann")
    index = ann.get("/records").text
    assert 'href="/records/leads"' in index and 'href="/records/cases"' not in index
    refused = ann.get("/records/cases")
    assert refused.status_code == 403
    assert "missing permission &#x27;read&#x27; on &#x27;records:case&#x27;" in refused.text
    assert 'href="/start/lead_to_invoice"' in index and 'href="/start/case_resolution"' not in index
    assert browser(world, "sue").get("/start/lead_to_invoice").status_code == 403


def test_a_case_kept_by_its_process_is_resolved_by_completing_the_task(world: WorkspaceWorld) -> None:
    sue = browser(world, "sue")
    page = sue.get("/records/cases/1").text
    assert "Kept by a process" in page and "Work case" in page
    r = sue.post("/records/cases/1/state", data={"csrf": csrf(sue), "move": "Resolved|Problem Solved"})
    assert r.status_code == 409 and "Work case" in r.text and "/tasks/" in r.text


def test_an_account_moves_by_its_lifecycle_and_list_filters(world: WorkspaceWorld) -> None:
    admin = browser(world, "admin")
    r = admin.post("/records/accounts", data={"csrf": csrf(admin), "name": "Adventure Works", "region": "US"})
    assert r.status_code == 303
    path = r.headers["location"]
    assert admin.post(f"{path}/state", data={"csrf": csrf(admin), "move": "Inactive|Inactive"}).status_code == 303
    listed = admin.get("/records/accounts", params={"state": "Inactive"}).text
    assert "Adventure Works" in listed and "Northwind Traders" not in listed
    again = admin.post(f"{path}/state", data={"csrf": csrf(admin), "move": "Inactive|Inactive"})
    assert again.status_code == 422 and "cannot move to Inactive" in again.text


def test_a_start_form_names_what_is_missing(world: WorkspaceWorld) -> None:
    sue = browser(world, "sue")
    r = sue.post("/start/case_resolution", data={"csrf": csrf(sue, "/start/case_resolution"), "title": "",
                                                  "origin": "Phone", "customer_email": "not an email"})
    assert r.status_code == 422 and "customer_email" in r.text
    assert "Stale" not in r.text


def test_reference_data_forms_refuse_bad_values_on_the_page(world: WorkspaceWorld) -> None:
    bob = browser(world, "bob")
    r = bob.post("/records/products", data={"csrf": csrf(bob), "number": "CRM-BAD", "name": "Bad", "price": "1.234",
                                           "price_list_id": str(world.price_list_id)})
    assert r.status_code == 422 and "at most two decimals" in r.text
    ann = browser(world, "ann")
    assert ann.post("/records/products", data={"csrf": csrf(ann), "number": "X", "name": "Y"}).status_code == 403
