"""advertising (docs/advertising.md): consents per newsletter, their records, the notices'
ledger, and which sends are advertising

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

from subscribers.db import UTCDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ad_consents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("newsletter_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("given_at", UTCDateTime(), nullable=True),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.Column("next_notice_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_ad_consents_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["newsletter_id"],
            ["newsletters.id"],
            name=op.f("fk_ad_consents_newsletter_id_newsletters"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_consents")),
        sa.UniqueConstraint(
            "subscriber_id", "newsletter_id", name=op.f("uq_ad_consents_subscriber_id")
        ),
    )
    op.create_index(
        "ix_ad_consents_audience",
        "ad_consents",
        ["newsletter_id", "status", "subscriber_id"],
    )
    op.create_index("ix_ad_consents_next_notice_at", "ad_consents", ["next_notice_at"])
    op.create_table(
        "ad_consent_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("newsletter_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.Text(), nullable=False),
        sa.Column("wording_version", sa.String(length=32), nullable=False),
        sa.Column("consent_record_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_ad_consent_records_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_consent_records")),
    )
    op.create_index(
        op.f("ix_ad_consent_records_subscriber_id"), "ad_consent_records", ["subscriber_id"]
    )
    op.create_table(
        "ad_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("newsletter_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("period", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_at", UTCDateTime(), nullable=True),
        sa.Column("claimed_by", sa.String(length=64), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_ad_notices_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_notices")),
        sa.UniqueConstraint(
            "subscriber_id",
            "newsletter_id",
            "kind",
            "period",
            name=op.f("uq_ad_notices_subscriber_id"),
        ),
    )
    op.create_index("ix_ad_notices_status", "ad_notices", ["status", "claimed_at"])
    # A plain ADD COLUMN (no batch rebuild of ``sends``: its webhook triggers stay).
    op.add_column(
        "sends", sa.Column("ad", sa.Boolean(), nullable=False, server_default=sa.false())
    )


def downgrade() -> None:
    with op.batch_alter_table("sends") as batch:
        batch.drop_column("ad")
    op.drop_table("ad_notices")
    op.drop_table("ad_consent_records")
    op.drop_table("ad_consents")
