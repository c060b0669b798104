"""Parts kept from a record's page (handlers.record_parts): a marketing list's members and dynamic
criteria, a price list's items, a contract's entitlements — added and changed by users with `edit`,
checked by the domain rules (a member of the list's type, a dynamic list's criteria, a price with two
decimals, an entitlement's dates), refused without `edit`."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from workspace_world import WorkspaceWorld

from crmflow import demo_seed
from handlers.models import Contact, Entitlement, MarketingList, MarketingListMember, PriceListItem, Product


def browser(world: WorkspaceWorld, user: str) -> Any:
    c = world.client()
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    assert c.post("/login", data={"username": user, "password": demo_seed.DEMO_PASSWORD, "csrf": token}
                  ).status_code == 303
    return c


def csrf(c: Any) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', c.get("/records").text).group(1)


def post(c: Any, path: str, **form: Any) -> Any:
    return c.post(path, data={"csrf": csrf(c), **form})


def created(c: Any, slug: str, **form: Any) -> int:
    r = post(c, f"/records/{slug}", **form)
    assert r.status_code == 303, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def test_marketing_list_members_by_hand_then_dynamic_criteria(world: WorkspaceWorld) -> None:
    admin = browser(world, "admin")
    list_id = created(admin, "marketing-lists", name="Parts test contacts", member_type="contact")
    with world.engine.db.read() as session:
        contact = session.scalars(select(Contact).order_by(Contact.id)).first()
        contact_id, contact_name = contact.id, f"{contact.first_name} {contact.last_name}"
    page = admin.get(f"/records/marketing-lists/{list_id}").text
    assert "Add a member" in page and "Dynamic criteria" in page
    r = post(admin, f"/records/marketing-lists/{list_id}/parts", member_id=str(contact_id))
    assert r.status_code == 303, r.text
    page = admin.get(f"/records/marketing-lists/{list_id}").text
    assert f'href="/records/contacts/{contact_id}">{contact_name}</a>' in page
    again = post(admin, f"/records/marketing-lists/{list_id}/parts", member_id=str(contact_id))
    assert again.status_code == 422 and "already on list" in again.text
    missing = post(admin, f"/records/marketing-lists/{list_id}/parts", member_id="99999")
    assert missing.status_code == 404 and "contact 99999 does not exist" in missing.text
    with world.engine.db.read() as session:
        row = session.scalars(select(MarketingListMember).where(MarketingListMember.list_id == list_id)).one()
    assert post(admin, f"/records/marketing-lists/{list_id}/parts", part_id=str(row.id), remove="1").status_code == 303
    # criteria make it dynamic; a bad one is named
    bad = post(admin, f"/records/marketing-lists/{list_id}/criteria", age_min="40", age_max="30")
    assert bad.status_code == 422 and "age_min 40 is above age_max 30" in bad.text
    ok = post(admin, f"/records/marketing-lists/{list_id}/criteria", region="EU-South, EU-West", subscribed_only="true")
    assert ok.status_code == 303, ok.text
    with world.engine.db.read() as session:
        mlist = session.get(MarketingList, list_id)
        assert mlist.dynamic and mlist.criteria == {"region": ["EU-South", "EU-West"], "subscribed_only": True}
    page = admin.get(f"/records/marketing-lists/{list_id}").text
    assert 'value="EU-South, EU-West"' in page and "Add a member" not in page
    by_hand = post(admin, f"/records/marketing-lists/{list_id}/parts", member_id=str(contact_id))
    assert by_hand.status_code == 422 and "is dynamic" in by_hand.text


def test_price_list_items_from_the_price_list(world: WorkspaceWorld) -> None:
    admin = browser(world, "admin")
    pl = created(admin, "price-lists", name="Parts test USD", currency="USD")
    with world.engine.db.read() as session:
        product = session.scalars(select(Product).order_by(Product.id)).first()
        product_id, product_name = product.id, product.name
    assert post(admin, f"/records/price-lists/{pl}/parts", product_id=str(product_id), amount="120.50"
                ).status_code == 303
    page = admin.get(f"/records/price-lists/{pl}").text
    assert product_name in page and "120.50 USD" in page
    with world.engine.db.read() as session:
        item = session.scalars(select(PriceListItem).where(PriceListItem.price_list_id == pl)).one()
    assert post(admin, f"/records/price-lists/{pl}/parts", part_id=str(item.id), amount="99").status_code == 303
    bad = post(admin, f"/records/price-lists/{pl}/parts", part_id=str(item.id), amount="1.234")
    assert bad.status_code == 422 and "at most two decimals" in bad.text
    with world.engine.db.read() as session:
        assert str(session.get(PriceListItem, item.id).amount) in ("99", "99.00")


def test_contract_entitlements_created_and_changed(world: WorkspaceWorld) -> None:
    admin = browser(world, "admin")
    contract = created(admin, "contracts", title="Parts test support", start_date="2026-01-01",
                       end_date="2026-12-31")
    form = {"name": "Silver support", "allocation_type": "cases", "decrease_on": "creation", "total_terms": "10",
            "start_date": "2026-01-01", "end_date": "2026-12-31", "sla_name": "Gold"}
    backwards = post(admin, f"/records/contracts/{contract}/parts", **{**form, "end_date": "2025-12-31"})
    assert backwards.status_code == 422 and "ends (2025-12-31) before it starts" in backwards.text
    wrong = post(admin, f"/records/contracts/{contract}/parts", **{**form, "allocation_type": "days"})
    assert wrong.status_code == 422 and "allocation_type" in wrong.text
    assert post(admin, f"/records/contracts/{contract}/parts", **form).status_code == 303
    with world.engine.db.read() as session:
        ent = session.scalars(select(Entitlement).where(Entitlement.contract_id == contract)).one()
        assert (ent.state, ent.remaining_terms, ent.total_terms) == ("Draft", 10, 10)
        ent_id = ent.id
    assert "Silver support" in admin.get(f"/records/contracts/{contract}").text
    assert post(admin, f"/records/contracts/{contract}/parts", part_id=str(ent_id), total_terms="15",
                name="Silver plus").status_code == 303
    with world.engine.db.read() as session:
        ent = session.get(Entitlement, ent_id)
        assert (ent.name, ent.total_terms, ent.remaining_terms) == ("Silver plus", 15, 15)
    other = post(admin, "/records/accounts/1/parts", name="x")
    assert other.status_code == 422 and "have no parts" in other.text


def test_parts_need_edit_on_the_record_type(world: WorkspaceWorld) -> None:
    ann = browser(world, "ann")
    r = post(ann, "/records/contracts/1/parts", name="x")
    assert r.status_code == 403 and "records:contract" in r.text.replace("&#x27;", "'")
    r = post(ann, "/records/marketing-lists/1/criteria", region="EU")
    assert r.status_code == 403
