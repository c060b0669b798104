"""The `crm` Alembic branch creates exactly the models' tables, alongside the engine's."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

import handlers
from engine.db import Database, alembic_config
from engine.services import HandlerRegistry
from handlers.models import CrmBase

FTS_TABLES = {"crm_knowledge_article_fts", "crm_search_fts"}  # full-text indexes (FTS5) and their shadows
FTS_PREFIXES = ("crm_knowledge_article_fts", "crm_search_fts")
FTS_MATCH = "SELECT rowid FROM crm_knowledge_article_fts WHERE crm_knowledge_article_fts MATCH 'reset'"


def _crm_tables(db: Database) -> set[str]:
    return {n for n in inspect(db.write_engine).get_table_names() if n.startswith("crm_")}


def test_migration_creates_exactly_the_model_tables(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'm.db'}", migrations=[handlers.MIGRATIONS])
    db.upgrade()
    tables = _crm_tables(db)
    shadow = {t for t in tables if t.startswith(FTS_PREFIXES)}
    assert tables - shadow == set(CrmBase.metadata.tables)
    assert FTS_TABLES <= shadow

    def only_crm(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
        return bool(table) and table.startswith("crm_") and not table.startswith(FTS_PREFIXES)

    with db.write_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": only_crm})
        assert compare_metadata(ctx, CrmBase.metadata) == []
    db.dispose()


def test_branch_is_separate_and_labelled() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://", [handlers.MIGRATIONS]))
    first = script.get_revision("0001_crm")
    assert first.down_revision is None and first.dependencies is None
    assert first.branch_labels == {"crm"}
    crm_heads = [h for h in script.get_heads() if "crm" in script.get_revision(h).branch_labels]
    assert len(crm_heads) == 1  # one line of history, independent of the engine's
    assert script.get_revision("engine@head") is not None


def test_downgrade_removes_the_crm_branch_only(tmp_path: Path) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path / 'd.db'}"
    db = Database(url, migrations=[handlers.MIGRATIONS])
    db.upgrade()
    with db.write_engine.begin() as conn:
        cfg = alembic_config(url, [handlers.MIGRATIONS])
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "crm@base")
    names = set(inspect(db.write_engine).get_table_names())
    assert not {n for n in names if n.startswith("crm_")}
    assert "wf_instance" in names
    db.dispose()


def test_engine_runs_the_branch_when_constructed(tmp_path: Path) -> None:
    from engine import Engine

    eng = Engine(f"sqlite:///{tmp_path / 'e.db'}", registry=HandlerRegistry(), migrations=[handlers.MIGRATIONS])
    try:
        assert set(CrmBase.metadata.tables) <= _crm_tables(eng.db)
    finally:
        eng.close()


def test_fts_index_follows_article_writes(crm) -> None:  # noqa: ANN001
    with crm.session() as s:
        s.execute(
            text(
                "INSERT INTO crm_knowledge_article (number, title, content, keywords, state, status, created_at)"
                " VALUES ('KA-1', 'Reset a password', 'Open settings and choose reset', 'login', 'Draft',"
                " 'In Progress', '2026-01-05 09:00:00')"
            )
        )
    with crm.session() as s:
        hits = s.execute(text(FTS_MATCH))
        assert [r[0] for r in hits] == [1]
        s.execute(text("UPDATE crm_knowledge_article SET content = 'Call the desk', title = 'Locked out' WHERE id = 1"))
    with crm.session() as s:
        hits = s.execute(text(FTS_MATCH))
        assert list(hits) == []


def test_register_adds_every_operation() -> None:
    registry = HandlerRegistry()
    handlers.register(registry)
    names = registry.names()
    for expected in (
        "sales/capture_lead",
        "sales/qualify_lead",
        "sales/disqualify_lead",
        "sales/close_opportunity",
        "sales/build_quote",
        "sales/revise_quote",
        "sales/activate_quote",
        "sales/win_quote",
        "sales/convert_quote_to_order",
        "sales/fulfil_order",
        "sales/create_invoice",
        "sales/record_payment",
    ):
        assert expected in names
    with pytest.raises(ValueError):
        registry.register("sales/capture_lead", lambda ctx: None)


def test_registry_checks_parameters_against_the_handler_signature(crm) -> None:  # noqa: ANN001
    registry = HandlerRegistry()
    handlers.register(registry)
    with crm.session() as ses:
        ctx = crm.context(ses)
        with pytest.raises(TypeError, match="does not take parameter"):
            registry.call("sales/capture_lead", ctx, {"email": "a@example.com", "bogus": 1})
        with pytest.raises(TypeError, match="needs parameter"):
            registry.call("sales/disqualify_lead", ctx, {"lead_id": 1})
        result = registry.call("sales/capture_lead", ctx, {"email": "a@example.com"})
        assert result["state"] == "Open"
