"""PostgreSQL full-text search for knowledge articles (tsvector, GIN index)

SQLite has its FTS5 table (0001); on PostgreSQL the article row carries a generated,
weighted tsvector (title A, keywords B, content C) with a GIN index. Nothing changes on
SQLite.

Revision ID: 0004_pg_search
Revises: 0003_planning
Create Date: 2026-11-23
"""
from alembic import op

revision = "0004_pg_search"
down_revision = "0003_planning"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """ALTER TABLE crm_knowledge_article ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
               setweight(to_tsvector('english', coalesce(title, '')), 'A') ||
               setweight(to_tsvector('english', coalesce(keywords, '')), 'B') ||
               setweight(to_tsvector('english', coalesce(content, '')), 'C')
           ) STORED"""
    )
    op.execute("CREATE INDEX ix_crm_knowledge_article_search ON crm_knowledge_article USING gin (search_vector)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_crm_knowledge_article_search")
    op.execute("ALTER TABLE crm_knowledge_article DROP COLUMN IF EXISTS search_vector")
