"""Revision 0003_planning adds exactly the planning models' tables, matching the models,
and its downgrade takes exactly those away again."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import handlers
from engine import HandlerRegistry
from engine.db import Database
from handlers.models import CrmBase
from handlers.models import planning as planning_models

PLANNING_TABLES = {
    "crm_business_calendar",
    "crm_calendar_holiday",
    "crm_calendar_exception",
    "crm_resource",
    "crm_resource_skill",
    "crm_resource_group",
    "crm_resource_group_member",
    "crm_service",
    "crm_resource_assignment",
    "crm_territory",
    "crm_territory_assignment",
}


def _model_tables() -> set[str]:
    return {
        obj.__tablename__
        for obj in vars(planning_models).values()
        if isinstance(obj, type) and issubclass(obj, CrmBase) and obj.__module__ == planning_models.__name__
    }


def _tables(db: Database) -> set[str]:
    return set(inspect(db.write_engine).get_table_names())


def test_the_planning_models_are_the_listed_tables() -> None:
    assert _model_tables() == PLANNING_TABLES
    assert PLANNING_TABLES <= set(CrmBase.metadata.tables), "exported through handlers.models"


def test_revision_0003_adds_exactly_the_planning_tables_and_downgrade_removes_them(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'p.db'}", migrations=[handlers.MIGRATIONS])
    db.upgrade("0002_service")
    before = _tables(db)
    assert not before & PLANNING_TABLES
    db.upgrade("0003_planning")
    assert _tables(db) - before == PLANNING_TABLES

    def only_planning(obj, name, type_, reflected, compare_to) -> bool:  # noqa: ANN001
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", "")
        return table in PLANNING_TABLES

    with db.write_engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": only_planning})
        assert compare_metadata(ctx, CrmBase.metadata) == []
    db.dispose()


def test_downgrade_to_0002_removes_exactly_the_planning_tables(tmp_path: Path) -> None:
    from alembic import command

    from engine.db import alembic_config

    url = f"sqlite:///{tmp_path / 'd.db'}"
    db = Database(url, migrations=[handlers.MIGRATIONS])
    db.upgrade("0003_planning")  # later revisions add tables of their own
    after = _tables(db)
    with db.write_engine.begin() as conn:
        cfg = alembic_config(url, [handlers.MIGRATIONS])
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002_service")
    assert after - _tables(db) == PLANNING_TABLES
    db.dispose()


def test_the_planning_operations_are_registered() -> None:
    registry = HandlerRegistry()
    handlers.register(registry)
    for name in ("service/business_due", "service/route_to_resource", "service/release_resource",
                 "sales/assign_territory"):
        assert name in registry.names()
