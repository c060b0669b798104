"""CRM records: accounts, contacts, activities, sales, marketing and service tables.

Revision ID: 0001_crm
Revises:
Create Date: 2026-11-23

Generated with alembic autogenerate against `handlers.models.CrmBase.metadata`, then the
SQLite full-text index for knowledge articles (FTS5, kept in step by triggers) was added
by hand; on other databases search falls back to LIKE until a tsvector index is added.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_crm"
down_revision = None
branch_labels = ("crm",)
depends_on = None

FTS_SQL = [
    """CREATE VIRTUAL TABLE crm_knowledge_article_fts USING fts5(
        title, content, keywords, content='crm_knowledge_article', content_rowid='id'
    )""",
    """CREATE TRIGGER crm_knowledge_article_ai AFTER INSERT ON crm_knowledge_article BEGIN
        INSERT INTO crm_knowledge_article_fts(rowid, title, content, keywords)
        VALUES (new.id, new.title, new.content, coalesce(new.keywords, ''));
    END""",
    """CREATE TRIGGER crm_knowledge_article_ad AFTER DELETE ON crm_knowledge_article BEGIN
        INSERT INTO crm_knowledge_article_fts(crm_knowledge_article_fts, rowid, title, content, keywords)
        VALUES ('delete', old.id, old.title, old.content, coalesce(old.keywords, ''));
    END""",
    """CREATE TRIGGER crm_knowledge_article_au AFTER UPDATE OF title, content, keywords
        ON crm_knowledge_article BEGIN
        INSERT INTO crm_knowledge_article_fts(crm_knowledge_article_fts, rowid, title, content, keywords)
        VALUES ('delete', old.id, old.title, old.content, coalesce(old.keywords, ''));
        INSERT INTO crm_knowledge_article_fts(rowid, title, content, keywords)
        VALUES (new.id, new.title, new.content, coalesce(new.keywords, ''));
    END""",
]
FTS_DROP = [
    "DROP TRIGGER IF EXISTS crm_knowledge_article_au",
    "DROP TRIGGER IF EXISTS crm_knowledge_article_ad",
    "DROP TRIGGER IF EXISTS crm_knowledge_article_ai",
    "DROP TABLE IF EXISTS crm_knowledge_article_fts",
]


def _is_sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    op.create_table(
        "crm_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("originating_lead_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_account")),
    )
    op.create_table(
        "crm_activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_type", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("regarding_type", sa.String(length=32), nullable=True),
        sa.Column("regarding_id", sa.Integer(), nullable=True),
        sa.Column("direction", sa.String(length=16), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_activity")),
    )
    op.create_index("ix_crm_activity_regarding", "crm_activity", ["regarding_type", "regarding_id"], unique=False)
    op.create_table(
        "crm_campaign",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("campaign_type", sa.String(length=30), nullable=False),
        sa.Column("quick", sa.Boolean(), nullable=False),
        sa.Column("budget", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("other_cost", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("expected_revenue", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("launched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_campaign")),
        sa.UniqueConstraint("number", name=op.f("uq_crm_campaign_number")),
    )
    op.create_table(
        "crm_competitor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("website", sa.String(length=300), nullable=True),
        sa.Column("strengths", sa.Text(), nullable=True),
        sa.Column("weaknesses", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_competitor")),
        sa.UniqueConstraint("name", name=op.f("uq_crm_competitor_name")),
    )
    op.create_table(
        "crm_handler_call",
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("operation", sa.String(length=100), nullable=False),
        sa.Column("params_hash", sa.String(length=64), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("idempotency_key", "operation", name=op.f("pk_crm_handler_call")),
    )
    op.create_table(
        "crm_knowledge_article",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("keywords", sa.String(length=500), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_knowledge_article")),
        sa.UniqueConstraint("number", name=op.f("uq_crm_knowledge_article_number")),
    )
    op.create_table(
        "crm_marketing_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("member_type", sa.String(length=16), nullable=False),
        sa.Column("dynamic", sa.Boolean(), nullable=False),
        sa.Column("criteria", sa.JSON(), nullable=True),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_marketing_list")),
        sa.UniqueConstraint("name", name=op.f("uq_crm_marketing_list_name")),
    )
    op.create_table(
        "crm_price_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_price_list")),
        sa.UniqueConstraint("name", name=op.f("uq_crm_price_list_name")),
    )
    op.create_table(
        "crm_product",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=50), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("unit", sa.String(length=30), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_product")),
        sa.UniqueConstraint("number", name=op.f("uq_crm_product_number")),
    )
    op.create_table(
        "crm_sequence",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_crm_sequence")),
    )
    op.create_table(
        "crm_campaign_activity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("template_body", sa.Text(), nullable=True),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("distributed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("distributed_count", sa.Integer(), nullable=False),
        sa.Column("skipped_count", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["crm_campaign.id"], name=op.f("fk_crm_campaign_activity_campaign_id_crm_campaign")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_campaign_activity")),
    )
    op.create_table(
        "crm_campaign_list",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["crm_campaign.id"], name=op.f("fk_crm_campaign_list_campaign_id_crm_campaign")
        ),
        sa.ForeignKeyConstraint(
            ["list_id"], ["crm_marketing_list.id"], name=op.f("fk_crm_campaign_list_list_id_crm_marketing_list")
        ),
        sa.PrimaryKeyConstraint("campaign_id", "list_id", name=op.f("pk_crm_campaign_list")),
    )
    op.create_table(
        "crm_contact",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("email_normalized", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("birthdate", sa.Date(), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("unsubscribed", sa.Boolean(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("originating_lead_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["crm_account.id"], name=op.f("fk_crm_contact_account_id_crm_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_contact")),
    )
    op.create_index("ix_crm_contact_email_normalized", "crm_contact", ["email_normalized"], unique=False)
    op.create_table(
        "crm_marketing_list_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["crm_marketing_list.id"],
            name=op.f("fk_crm_marketing_list_member_list_id_crm_marketing_list"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_marketing_list_member")),
        sa.UniqueConstraint("list_id", "member_id", name=op.f("uq_crm_marketing_list_member_list_id_member_id")),
    )
    op.create_table(
        "crm_price_list_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("price_list_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["price_list_id"], ["crm_price_list.id"], name=op.f("fk_crm_price_list_item_price_list_id_crm_price_list")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["crm_product.id"], name=op.f("fk_crm_price_list_item_product_id_crm_product")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_price_list_item")),
        sa.UniqueConstraint(
            "price_list_id", "product_id", name=op.f("uq_crm_price_list_item_price_list_id_product_id")
        ),
    )
    op.create_table(
        "crm_contract",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["crm_account.id"], name=op.f("fk_crm_contract_account_id_crm_account")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["crm_contact.id"], name=op.f("fk_crm_contract_contact_id_crm_contact")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_contract")),
        sa.UniqueConstraint("number", name=op.f("uq_crm_contract_number")),
    )
    op.create_table(
        "crm_opportunity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("originating_lead_id", sa.Integer(), nullable=True),
        sa.Column("source_campaign_id", sa.Integer(), nullable=True),
        sa.Column("price_list_id", sa.Integer(), nullable=True),
        sa.Column("estimated_value", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("probability", sa.Integer(), nullable=True),
        sa.Column("estimated_close_date", sa.Date(), nullable=True),
        sa.Column("actual_value", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("actual_close_date", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["crm_account.id"], name=op.f("fk_crm_opportunity_account_id_crm_account")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["crm_contact.id"], name=op.f("fk_crm_opportunity_contact_id_crm_contact")
        ),
        sa.ForeignKeyConstraint(
            ["price_list_id"], ["crm_price_list.id"], name=op.f("fk_crm_opportunity_price_list_id_crm_price_list")
        ),
        sa.ForeignKeyConstraint(
            ["source_campaign_id"], ["crm_campaign.id"], name=op.f("fk_crm_opportunity_source_campaign_id_crm_campaign")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_opportunity")),
    )
    op.create_table(
        "crm_entitlement",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("allocation_type", sa.String(length=8), nullable=False),
        sa.Column("decrease_on", sa.String(length=10), nullable=False),
        sa.Column("total_terms", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("remaining_terms", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("sla_name", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["crm_account.id"], name=op.f("fk_crm_entitlement_account_id_crm_account")
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["crm_contact.id"], name=op.f("fk_crm_entitlement_contact_id_crm_contact")
        ),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["crm_contract.id"], name=op.f("fk_crm_entitlement_contract_id_crm_contract")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_entitlement")),
    )
    op.create_table(
        "crm_lead",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_normalized", sa.String(length=254), nullable=False),
        sa.Column("phone", sa.String(length=50), nullable=True),
        sa.Column("company_name", sa.String(length=200), nullable=True),
        sa.Column("topic", sa.String(length=300), nullable=True),
        sa.Column("lead_source", sa.String(length=50), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("rating", sa.String(length=16), nullable=True),
        sa.Column("source_campaign_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("qualified_opportunity_id", sa.Integer(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["crm_account.id"], name=op.f("fk_crm_lead_account_id_crm_account")),
        sa.ForeignKeyConstraint(["contact_id"], ["crm_contact.id"], name=op.f("fk_crm_lead_contact_id_crm_contact")),
        sa.ForeignKeyConstraint(
            ["qualified_opportunity_id"],
            ["crm_opportunity.id"],
            name=op.f("fk_crm_lead_qualified_opportunity_id_crm_opportunity"),
        ),
        sa.ForeignKeyConstraint(
            ["source_campaign_id"], ["crm_campaign.id"], name=op.f("fk_crm_lead_source_campaign_id_crm_campaign")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_lead")),
    )
    op.create_index("ix_crm_lead_email_normalized", "crm_lead", ["email_normalized"], unique=False)
    op.create_table(
        "crm_opportunity_close",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("opportunity_id", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("actual_revenue", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("competitor_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["competitor_id"], ["crm_competitor.id"], name=op.f("fk_crm_opportunity_close_competitor_id_crm_competitor")
        ),
        sa.ForeignKeyConstraint(
            ["opportunity_id"],
            ["crm_opportunity.id"],
            name=op.f("fk_crm_opportunity_close_opportunity_id_crm_opportunity"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_opportunity_close")),
    )
    op.create_table(
        "crm_quote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("opportunity_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("previous_revision_id", sa.Integer(), nullable=True),
        sa.Column("discount_percent", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("price_list_id", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("discount_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("net_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("tax_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("total_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["crm_account.id"], name=op.f("fk_crm_quote_account_id_crm_account")),
        sa.ForeignKeyConstraint(["contact_id"], ["crm_contact.id"], name=op.f("fk_crm_quote_contact_id_crm_contact")),
        sa.ForeignKeyConstraint(
            ["opportunity_id"], ["crm_opportunity.id"], name=op.f("fk_crm_quote_opportunity_id_crm_opportunity")
        ),
        sa.ForeignKeyConstraint(
            ["previous_revision_id"], ["crm_quote.id"], name=op.f("fk_crm_quote_previous_revision_id_crm_quote")
        ),
        sa.ForeignKeyConstraint(
            ["price_list_id"], ["crm_price_list.id"], name=op.f("fk_crm_quote_price_list_id_crm_price_list")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_quote")),
        sa.UniqueConstraint("number", "revision", name=op.f("uq_crm_quote_number_revision")),
    )
    op.create_table(
        "crm_campaign_response",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("campaign_activity_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("response_code", sa.String(length=40), nullable=False),
        sa.Column("customer_type", sa.String(length=16), nullable=True),
        sa.Column("customer_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("first_name", sa.String(length=100), nullable=True),
        sa.Column("last_name", sa.String(length=100), nullable=True),
        sa.Column("company_name", sa.String(length=200), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("converted_lead_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_activity_id"],
            ["crm_campaign_activity.id"],
            name=op.f("fk_crm_campaign_response_campaign_activity_id_crm_campaign_activity"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["crm_campaign.id"], name=op.f("fk_crm_campaign_response_campaign_id_crm_campaign")
        ),
        sa.ForeignKeyConstraint(
            ["converted_lead_id"], ["crm_lead.id"], name=op.f("fk_crm_campaign_response_converted_lead_id_crm_lead")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_campaign_response")),
    )
    op.create_table(
        "crm_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("origin", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("case_type", sa.String(length=30), nullable=True),
        sa.Column("queue", sa.String(length=100), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("entitlement_id", sa.Integer(), nullable=True),
        sa.Column("sla_name", sa.String(length=100), nullable=True),
        sa.Column("first_response_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolve_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_responded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("on_hold_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reopened_count", sa.Integer(), nullable=False),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["account_id"], ["crm_account.id"], name=op.f("fk_crm_case_account_id_crm_account")),
        sa.ForeignKeyConstraint(["contact_id"], ["crm_contact.id"], name=op.f("fk_crm_case_contact_id_crm_contact")),
        sa.ForeignKeyConstraint(
            ["entitlement_id"], ["crm_entitlement.id"], name=op.f("fk_crm_case_entitlement_id_crm_entitlement")
        ),
        sa.ForeignKeyConstraint(["merged_into_id"], ["crm_case.id"], name=op.f("fk_crm_case_merged_into_id_crm_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_case")),
        sa.UniqueConstraint("number", name=op.f("uq_crm_case_number")),
    )
    op.create_table(
        "crm_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("quote_id", sa.Integer(), nullable=True),
        sa.Column("opportunity_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("price_list_id", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("discount_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("net_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("tax_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("total_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["crm_account.id"], name=op.f("fk_crm_order_account_id_crm_account")),
        sa.ForeignKeyConstraint(["contact_id"], ["crm_contact.id"], name=op.f("fk_crm_order_contact_id_crm_contact")),
        sa.ForeignKeyConstraint(
            ["opportunity_id"], ["crm_opportunity.id"], name=op.f("fk_crm_order_opportunity_id_crm_opportunity")
        ),
        sa.ForeignKeyConstraint(
            ["price_list_id"], ["crm_price_list.id"], name=op.f("fk_crm_order_price_list_id_crm_price_list")
        ),
        sa.ForeignKeyConstraint(["quote_id"], ["crm_quote.id"], name=op.f("fk_crm_order_quote_id_crm_quote")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_order")),
        sa.UniqueConstraint("number", name=op.f("uq_crm_order_number")),
        sa.UniqueConstraint("quote_id", name=op.f("uq_crm_order_quote_id")),
    )
    op.create_table(
        "crm_quote_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quote_id", sa.Integer(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("discount_percent", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("discount_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("net_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("tax_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("total_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["crm_product.id"], name=op.f("fk_crm_quote_line_product_id_crm_product")
        ),
        sa.ForeignKeyConstraint(["quote_id"], ["crm_quote.id"], name=op.f("fk_crm_quote_line_quote_id_crm_quote")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_quote_line")),
    )
    op.create_table(
        "crm_case_article",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("suggested_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["crm_knowledge_article.id"],
            name=op.f("fk_crm_case_article_article_id_crm_knowledge_article"),
        ),
        sa.ForeignKeyConstraint(["case_id"], ["crm_case.id"], name=op.f("fk_crm_case_article_case_id_crm_case")),
        sa.PrimaryKeyConstraint("case_id", "article_id", name=op.f("pk_crm_case_article")),
    )
    op.create_table(
        "crm_case_resolution",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("resolution_type", sa.String(length=40), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("time_spent_minutes", sa.Integer(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["crm_case.id"], name=op.f("fk_crm_case_resolution_case_id_crm_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_case_resolution")),
    )
    op.create_table(
        "crm_invoice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("opportunity_id", sa.Integer(), nullable=True),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("amount_paid", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("last_reminder_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("price_list_id", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("subtotal", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("discount_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("net_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("tax_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("total_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["crm_account.id"], name=op.f("fk_crm_invoice_account_id_crm_account")),
        sa.ForeignKeyConstraint(["contact_id"], ["crm_contact.id"], name=op.f("fk_crm_invoice_contact_id_crm_contact")),
        sa.ForeignKeyConstraint(
            ["opportunity_id"], ["crm_opportunity.id"], name=op.f("fk_crm_invoice_opportunity_id_crm_opportunity")
        ),
        sa.ForeignKeyConstraint(["order_id"], ["crm_order.id"], name=op.f("fk_crm_invoice_order_id_crm_order")),
        sa.ForeignKeyConstraint(
            ["price_list_id"], ["crm_price_list.id"], name=op.f("fk_crm_invoice_price_list_id_crm_price_list")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_invoice")),
        sa.UniqueConstraint("number", name=op.f("uq_crm_invoice_number")),
        sa.UniqueConstraint("order_id", name=op.f("uq_crm_invoice_order_id")),
    )
    op.create_table(
        "crm_order_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("discount_percent", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("discount_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("net_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("tax_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("total_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.ForeignKeyConstraint(["order_id"], ["crm_order.id"], name=op.f("fk_crm_order_line_order_id_crm_order")),
        sa.ForeignKeyConstraint(
            ["product_id"], ["crm_product.id"], name=op.f("fk_crm_order_line_product_id_crm_product")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_order_line")),
    )
    op.create_table(
        "crm_sla_kpi_instance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kpi", sa.String(length=30), nullable=False),
        sa.Column("warning_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failure_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_seconds", sa.Integer(), nullable=False),
        sa.Column("succeeded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state_changed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["crm_case.id"], name=op.f("fk_crm_sla_kpi_instance_case_id_crm_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_sla_kpi_instance")),
        sa.UniqueConstraint("case_id", "kpi", name=op.f("uq_crm_sla_kpi_instance_case_id_kpi")),
    )
    op.create_table(
        "crm_invoice_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("line_number", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("unit_price", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("discount_percent", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=5, scale=2), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("discount_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("net_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("tax_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("total_amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["crm_invoice.id"], name=op.f("fk_crm_invoice_line_invoice_id_crm_invoice")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["crm_product.id"], name=op.f("fk_crm_invoice_line_product_id_crm_product")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_invoice_line")),
    )
    op.create_table(
        "crm_payment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.Integer(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("method", sa.String(length=30), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(["invoice_id"], ["crm_invoice.id"], name=op.f("fk_crm_payment_invoice_id_crm_invoice")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_payment")),
    )

    if _is_sqlite():
        for statement in FTS_SQL:
            op.execute(statement)


def downgrade() -> None:
    if _is_sqlite():
        for statement in FTS_DROP:
            op.execute(statement)
    op.drop_table("crm_payment")
    op.drop_table("crm_invoice_line")
    op.drop_table("crm_sla_kpi_instance")
    op.drop_table("crm_order_line")
    op.drop_table("crm_invoice")
    op.drop_table("crm_case_resolution")
    op.drop_table("crm_case_article")
    op.drop_table("crm_quote_line")
    op.drop_table("crm_order")
    op.drop_table("crm_case")
    op.drop_table("crm_campaign_response")
    op.drop_table("crm_quote")
    op.drop_table("crm_opportunity_close")
    op.drop_index("ix_crm_lead_email_normalized", table_name="crm_lead")
    op.drop_table("crm_lead")
    op.drop_table("crm_entitlement")
    op.drop_table("crm_opportunity")
    op.drop_table("crm_contract")
    op.drop_table("crm_price_list_item")
    op.drop_table("crm_marketing_list_member")
    op.drop_index("ix_crm_contact_email_normalized", table_name="crm_contact")
    op.drop_table("crm_contact")
    op.drop_table("crm_campaign_list")
    op.drop_table("crm_campaign_activity")
    op.drop_table("crm_sequence")
    op.drop_table("crm_product")
    op.drop_table("crm_price_list")
    op.drop_table("crm_marketing_list")
    op.drop_table("crm_knowledge_article")
    op.drop_table("crm_handler_call")
    op.drop_table("crm_competitor")
    op.drop_table("crm_campaign")
    op.drop_index("ix_crm_activity_regarding", table_name="crm_activity")
    op.drop_table("crm_activity")
    op.drop_table("crm_account")
