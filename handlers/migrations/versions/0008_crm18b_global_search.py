"""Global search: one full-text index over accounts, contacts, leads, opportunities and cases.

Revision ID: 0008_crm18b_global_search
Revises: 0007_crm18_activity_owner
Create Date: 2026-12-06

The workspace's search box ranks these records by relevance instead of a LIKE per column.
SQLite: one FTS5 table `crm_search_fts` (entity, title, body) kept in step by triggers on the
five tables (whatever writes them: handlers, record forms, imports); its rowid is
`id * 8 + code` so a trigger finds a record's row without a scan. PostgreSQL: each table carries a
generated, weighted tsvector `search_vector` (title A, body B, `simple` dictionary so names are
not stemmed; e-mail punctuation split into words) with a GIN index, as articles do (0004).
`handlers.records_service.SEARCH_CODES` must match the codes below.
"""

from alembic import op

revision = "0008_crm18b_global_search"
down_revision = "0007_crm18_activity_owner"
branch_labels = None
depends_on = None

#: entity → (table, code, title columns, body columns)
INDEXED = {
    "account": ("crm_account", 1, ("name",), ("email", "phone", "region")),
    "contact": ("crm_contact", 2, ("first_name", "last_name"), ("email", "phone", "region")),
    "lead": ("crm_lead", 3, ("first_name", "last_name", "company_name"), ("email", "phone", "topic")),
    "opportunity": ("crm_opportunity", 4, ("name",), ("owner",)),
    "case": ("crm_case", 5, ("number", "title"), ("description", "queue")),
}
SPLIT = "translate(coalesce({col}, ''), '@._-+', '     ')"


def _sqlite_text(row: str, columns: tuple[str, ...]) -> str:
    return " || ' ' || ".join(f"coalesce({row}.{c}, '')" for c in columns)


def _sqlite_upgrade() -> None:
    op.execute("CREATE VIRTUAL TABLE crm_search_fts USING fts5(entity UNINDEXED, title, body, "
               "tokenize = 'unicode61 remove_diacritics 2')")
    for entity, (table, code, title, body) in INDEXED.items():
        insert = (f"INSERT INTO crm_search_fts(rowid, entity, title, body) VALUES (new.id * 8 + {code}, "
                  f"'{entity}', {_sqlite_text('new', title)}, {_sqlite_text('new', body)});")
        delete = f"DELETE FROM crm_search_fts WHERE rowid = old.id * 8 + {code};"
        op.execute(f"CREATE TRIGGER {table}_search_ai AFTER INSERT ON {table} BEGIN {insert} END")
        op.execute(f"CREATE TRIGGER {table}_search_ad AFTER DELETE ON {table} BEGIN {delete} END")
        op.execute(f"CREATE TRIGGER {table}_search_au AFTER UPDATE OF {', '.join(title + body)} ON {table} "
                   f"BEGIN {delete} {insert} END")
        op.execute(f"INSERT INTO crm_search_fts(rowid, entity, title, body) SELECT id * 8 + {code}, '{entity}', "
                   f"{_sqlite_text(table, title)}, {_sqlite_text(table, body)} FROM {table}")


def _pg_vector(columns: tuple[str, ...], weight: str) -> str:
    text = " || ' ' || ".join(SPLIT.format(col=c) for c in columns)
    return f"setweight(to_tsvector('simple', {text}), '{weight}')"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        _sqlite_upgrade()
    elif dialect == "postgresql":
        for table, _code, title, body in INDEXED.values():
            op.execute(f"ALTER TABLE {table} ADD COLUMN search_vector tsvector GENERATED ALWAYS AS "
                       f"({_pg_vector(title, 'A')} || {_pg_vector(body, 'B')}) STORED")
            op.execute(f"CREATE INDEX ix_{table}_search ON {table} USING gin (search_vector)")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table, _code, _title, _body in INDEXED.values():
        if dialect == "sqlite":
            for suffix in ("ai", "ad", "au"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_search_{suffix}")
        elif dialect == "postgresql":
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_search")
            op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS search_vector")
    if dialect == "sqlite":
        op.execute("DROP TABLE IF EXISTS crm_search_fts")
