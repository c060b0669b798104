"""Global search by the full-text index (migration 0008_crm18b_global_search): accounts, contacts,
leads, opportunities and cases match every word of a query anywhere in their name or details,
ranked (a name hit first), the index follows renames and deletes, and the user's read permission
still decides what is shown. Runs on SQLite (FTS5) and, with CRMFLOW_TEST_DB, PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from workspace_world import WorkspaceWorld

from handlers import records_service as rs
from handlers.models import Account, Case, Contact, Opportunity


def search(world: WorkspaceWorld, user: str, q: str) -> list[dict[str, Any]]:
    r = world.client().get("/api/v1/search", params={"q": q}, headers=world.api(user))
    assert r.status_code == 200, r.text
    return r.json()


def test_words_match_across_columns_by_prefix(world: WorkspaceWorld) -> None:
    # "maria northwind": first name and e-mail domain, two columns a LIKE on the phrase never joins
    hits = search(world, "sue", "maria northwind")
    assert ("contact", "Maria Lopez") in {(h["entity"], h["label"]) for h in hits}, hits
    assert any(h["label"] == "Northwind Traders" for h in search(world, "sue", "northw trad")), "word prefixes"


def test_name_hits_rank_above_detail_hits(world: WorkspaceWorld) -> None:
    with world.engine.db.write() as session:
        rs.create_record(session, rs.ENTITIES["account"],
                         {"name": "Quokka Labs", "email": "info@quokka.example"}, world.engine.now())
        rs.create_record(session, rs.ENTITIES["account"],
                         {"name": "Tamarind Foods", "email": "quokka@tamarind.example"}, world.engine.now())
    labels = [h["label"] for h in search(world, "sue", "quokka")]
    assert labels[:2] == ["Quokka Labs", "Tamarind Foods"], labels


def test_index_follows_renames_and_deletes(world: WorkspaceWorld) -> None:
    with world.engine.db.write() as session:
        account = rs.create_record(session, rs.ENTITIES["account"], {"name": "Zebrafish Ltd"}, world.engine.now())
        account_id = account.id
    assert [h["label"] for h in search(world, "sue", "zebrafish")] == ["Zebrafish Ltd"]
    with world.engine.db.write() as session:
        rs.update_record(session, rs.ENTITIES["account"], account_id, {"name": "Okapi Ltd"}, world.engine.now())
    assert search(world, "sue", "zebrafish") == []
    assert [h["label"] for h in search(world, "sue", "okapi")] == ["Okapi Ltd"]
    with world.engine.db.write() as session:
        session.execute(delete(Account).where(Account.id == account_id))
    assert search(world, "sue", "okapi") == []


def test_cases_and_opportunities_by_their_words_only_for_readers(world: WorkspaceWorld) -> None:
    with world.engine.db.read() as session:
        case = session.scalars(select(Case).order_by(Case.id)).first()
        words = [w for w in rs.search_terms(case.title) if len(w) > 3][:2]
        number = case.number
    hits = search(world, "sue", " ".join(words))
    assert any(h["entity"] == "case" and h["label"].startswith(number) for h in hits), (words, hits)
    assert all(h["entity"] != "case" for h in search(world, "ann", " ".join(words))), "ann may not read cases"
    with world.engine.db.read() as session:
        name = session.scalars(select(Opportunity.name).order_by(Opportunity.id)).first()
    hits = search(world, "ann", name)
    assert any(h["entity"] == "opportunity" and h["label"] == name for h in hits), (name, hits)
    assert all(h["entity"] != "opportunity" for h in search(world, "sue", name)), "sue may not read opportunities"


def test_search_records_leaves_out_entities_not_asked_for(world: WorkspaceWorld) -> None:
    with world.engine.db.read() as session:
        found = rs.search_records(session, ["contact"], "northwind")
        assert found and {e.name for e, _ in found} == {"contact"}
        assert all(isinstance(r, Contact) for _, r in found)
        assert rs.search_records(session, ["account"], "  -- ") == []
