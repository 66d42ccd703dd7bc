"""delivery: sends, the deliveries ledger and the shared rate limit

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

import subscribers.db

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LedgerId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("issue_slug", sa.String(length=200), nullable=False),
        sa.Column("newsletter_id", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("backend", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("error_streak", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("worker", sa.String(length=64), nullable=False),
        sa.Column("heartbeat_at", subscribers.db.UTCDateTime(), nullable=True),
        sa.Column("created_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.Column("started_at", subscribers.db.UTCDateTime(), nullable=True),
        sa.Column("finished_at", subscribers.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sends")),
        sa.UniqueConstraint("issue_slug", name=op.f("uq_sends_issue_slug")),
    )
    op.create_index(op.f("ix_sends_newsletter_id"), "sends", ["newsletter_id"])
    op.create_index(op.f("ix_sends_status"), "sends", ["status"])
    op.create_table(
        "deliveries",
        sa.Column("id", LedgerId, nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("batch", sa.String(length=32), nullable=True),
        sa.Column("worker", sa.String(length=64), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.String(length=128), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("updated_at", subscribers.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("send_id", "subscriber_id", name=op.f("uq_deliveries_send_id")),
    )
    op.create_index("ix_deliveries_claim", "deliveries", ["send_id", "status", "id"])
    op.create_table(
        "delivery_rate_limits",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("next_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_delivery_rate_limits")),
    )


def downgrade() -> None:
    op.drop_table("delivery_rate_limits")
    op.drop_index("ix_deliveries_claim", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_index(op.f("ix_sends_status"), table_name="sends")
    op.drop_index(op.f("ix_sends_newsletter_id"), table_name="sends")
    op.drop_table("sends")
