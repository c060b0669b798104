"""The records API of issue 18, per entity: list and get for every entity, create and update where
people keep the records, lifecycle moves by the handlers' rules (a move a running process owns
names its task), the customer 360, activities as work, search — and refusals by role."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from workspace_world import WorkspaceWorld

from handlers import records_service as rs

#: minimal valid values of each entity people create, and one field to change after
CREATE: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "accounts": ({"name": "Litware Inc", "region": "EU-West"}, {"phone": "+49 30 1234"}),
    "contacts": ({"last_name": "Novak", "first_name": "Eva", "email": "Eva.Novak@Litware.example"},
                 {"phone": "+420 1"}),
    "products": ({"number": "CRM-TRN", "name": "Training day", "price": "800.00", "price_list_id": 1},
                 {"description": "On site"}),
    "price-lists": ({"name": "Partner EUR", "currency": "EUR"}, {"name": "Partner EUR 2026"}),
    "knowledge-articles": ({"title": "Export stops after a minute", "content": "Split the export by month.",
                            "keywords": "export timeout"}, {"keywords": "export timeout month"}),
    "contracts": ({"title": "Northwind support 2026", "start_date": "2026-01-01", "end_date": "2026-12-31"},
                  {"end_date": "2027-03-31"}),
    "marketing-lists": ({"name": "DACH prospects", "member_type": "lead"}, {"name": "DACH prospects 2026"}),
    "resources": ({"name": "Beamer 2", "resource_kind": "equipment", "capacity": 1}, {"capacity": 2}),
    "competitors": ({"name": "Dynamics 365", "website": "https://example.com"}, {"strengths": "ecosystem"}),
    "territories": ({"name": "Nordics", "sales_queue": "Sales Nordics"}, {"sales_queue": "Sales North"}),
}
KEPT_BY_PROCESSES = ("leads", "opportunities", "quotes", "orders", "invoices", "cases", "campaigns", "activities")


def get(world: WorkspaceWorld, user: str, path: str, **params: Any) -> Any:
    return world.client().get(f"/api/v1{path}", params=params, headers=world.api(user))


def send(world: WorkspaceWorld, user: str, method: str, path: str, body: Any) -> Any:
    return world.client().request(method, f"/api/v1{path}", json=body, headers=world.api(user))


@pytest.mark.parametrize("slug", sorted(rs.BY_SLUG))
def test_every_entity_lists_and_gets_for_the_admin(world: WorkspaceWorld, slug: str) -> None:
    r = get(world, "admin", f"/records/{slug}")
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["entity"] == rs.BY_SLUG[slug].name and page["total"] == len(page["items"]) or page["total"] > 50
    for item in page["items"][:2]:
        one = get(world, "admin", f"/records/{slug}/{item['id']}")
        assert one.status_code == 200 and one.json()["label"] == item["label"]


@pytest.mark.parametrize("slug", sorted(CREATE))
def test_reference_data_is_created_and_changed_by_those_who_edit_it(world: WorkspaceWorld, slug: str) -> None:
    values, change = CREATE[slug]
    made = send(world, "admin", "POST", f"/records/{slug}", values)
    assert made.status_code == 201, made.text
    record = made.json()
    assert record["label"]
    changed = send(world, "admin", "PATCH", f"/records/{slug}/{record['id']}", change)
    assert changed.status_code == 200, changed.text
    for key, value in change.items():
        assert str(changed.json()[key]) == str(value)


@pytest.mark.parametrize("slug", KEPT_BY_PROCESSES)
def test_records_the_processes_keep_are_not_created_by_hand(world: WorkspaceWorld, slug: str) -> None:
    r = send(world, "admin", "POST", f"/records/{slug}", {"name": "by hand"})
    assert r.status_code == 422 and "created by the processes" in r.json()["detail"], r.text


def test_a_new_product_with_a_price_is_in_the_quote_forms_lookup(world: WorkspaceWorld) -> None:
    r = send(world, "bob", "POST", "/records/products", {"number": "CRM-API", "name": "API add-on", "price": "12.00",
                                                         "price_list_id": world.price_list_id})
    assert r.status_code == 201, r.text
    assert "CRM-API" in {o.value for o in world.worklist.forms.lookups["products"].options()}


def test_bad_values_are_named(world: WorkspaceWorld) -> None:
    r = send(world, "admin", "POST", "/records/products", {"number": "CRM-NEG", "name": "Negative", "price": "-5",
                                                           "price_list_id": world.price_list_id})
    assert r.status_code == 422 and "price" in r.json()["detail"]
    r = send(world, "admin", "POST", "/records/contracts", {"title": "T", "start_date": "soon", "end_date": "x"})
    assert r.status_code == 422 and "start_date" in r.json()["detail"]
    r = send(world, "admin", "PATCH", "/records/accounts/1", {"owner": "me"})
    assert r.status_code == 422 and "no settable field owner" in r.json()["detail"]
    assert get(world, "admin", "/records/accounts/999999").status_code == 404
    assert get(world, "admin", "/records/spaceships").status_code == 404


@pytest.mark.parametrize(("user", "method", "path", "permission"), [
    ("ann", "POST", "/records/products", "edit on records:product"),
    ("sue", "GET", "/records/opportunities", "read on records:opportunity"),
    ("carl", "GET", "/records/cases", "read on records:case"),
    ("mia", "PATCH", "/records/accounts/1", "edit on records:account"),
    ("ada", "GET", "/records/accounts", "read on records:account"),
    ("sue", "POST", "/records/contracts", "edit on records:contract"),
])
def test_refusals_by_role_name_the_permission(world: WorkspaceWorld, user: str, method: str, path: str,
                                              permission: str) -> None:
    r = send(world, user, method, path, {"name": "x"})
    assert r.status_code == 403, r.text
    assert r.json()["missing_permission"] == permission


def test_a_move_a_process_owns_names_its_task_and_others_follow_the_lifecycle(world: WorkspaceWorld) -> None:
    opportunity = get(world, "ann", "/records/opportunities").json()["items"][-1]
    kept = get(world, "ann", f"/records/opportunities/{opportunity['id']}").json()["kept_by"]
    assert kept["process_id"] == "lead_to_invoice"
    assert [t["name"] for t in kept["open_tasks"]] == ["Work opportunity"]
    r = send(world, "ann", "POST", f"/records/opportunities/{opportunity['id']}/state", {"state": "Lost"})
    assert r.status_code == 409 and "Work opportunity" in r.json()["detail"], r.text
    product = send(world, "admin", "POST", "/records/products", {"number": "CRM-OLD", "name": "Old"}).json()
    r = send(world, "admin", "POST", f"/records/products/{product['id']}/state", {"state": "Draft"})
    assert r.status_code == 422 and "cannot move to Draft" in r.json()["detail"]
    r = send(world, "admin", "POST", f"/records/products/{product['id']}/state", {"state": "Retired"})
    assert r.status_code == 200 and r.json()["state"] == "Retired"


def test_the_customer_360_of_northwind(world: WorkspaceWorld) -> None:
    account = get(world, "sue", "/records/accounts", q="northwind").json()["items"][0]
    c = get(world, "sue", f"/customers/accounts/{account['id']}").json()
    assert [o["name"] for o in c["opportunities"]] == ["CRM for 40 sales reps"]
    case = next(x for x in c["cases"] if x["title"] == "Reports export times out")
    assert case["sla_status"] == "In Progress" and case["sla_failure_at"]
    waits = {p["process_id"]: [t["name"] for t in p["open_tasks"]] for p in c["processes"]}
    assert waits["lead_to_invoice"] == ["Work opportunity"] and waits["case_resolution"] == ["Work case"]
    assert c["balance"] == "0"
    carl = get(world, "carl", f"/customers/accounts/{account['id']}").json()
    assert {p["process_id"] for p in carl["processes"]} == {"lead_to_invoice"}, "billing reads no cases"


def test_activities_are_work_with_owner_due_time_and_overdue_count(world: WorkspaceWorld) -> None:
    contact = get(world, "sue", "/records/contacts", q="maria").json()["items"][0]
    due = (world.clock.now() + timedelta(hours=1)).isoformat()
    r = send(world, "sue", "POST", f"/records/contacts/{contact['id']}/activities",
             {"activity_type": "phone_call", "subject": "Call back about the export", "due_at": due})
    assert r.status_code == 201, r.text
    assert r.json()["owner"] == "sue" and r.json()["state"] == "Open"
    mine = get(world, "sue", "/activities/mine").json()
    assert "Call back about the export" in [a["subject"] for a in mine["items"]]
    before = mine["overdue"]
    world.clock.advance(timedelta(hours=2))
    assert get(world, "sue", "/activities/mine").json()["overdue"] == before + 1
    assert "Call back about the export" not in [a["subject"] for a in get(world, "ann", "/activities/mine").json()[
        "items"]], "one person's activities are not another's"
    r = send(world, "sue", "POST", f"/records/contacts/{contact['id']}/activities",
             {"activity_type": "campaign_response", "subject": "x"})
    assert r.status_code == 422 and "activity type" in r.json()["detail"]


def test_search_finds_customers_records_keys_and_articles(world: WorkspaceWorld) -> None:
    labels = {h["label"] for h in get(world, "sue", "/search", q="Northwind").json()}
    assert {"Northwind Traders", "Maria Lopez"} <= labels
    keys = get(world, "sue", "/search", q="nw-case").json()
    assert [(h["label"], h["url"]) for h in keys] == [("NW-CASE-1", f"/instances/{world.case_instance}")]
    assert get(world, "ann", "/search", q="nw-case").json() == [], "ann may not read case instances"
    articles = get(world, "sue", "/search", q="outlook").json()
    assert any(h["entity"] == "knowledge_article" and "Outlook" in h["label"] for h in articles), articles
    assert all(h["entity"] != "opportunity" for h in get(world, "sue", "/search", q="CRM").json()), \
        "sue may not read opportunities: search leaves them out"
