"""tracking: each send's tracked links and the hits on them (docs/tracking.md)

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

import subscribers.db

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

LedgerId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "tracked_links",
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("link_index", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("send_id", "link_index", name=op.f("pk_tracked_links")),
    )
    op.create_table(
        "tracking_hits",
        sa.Column("id", LedgerId, nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("link_index", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("reader", sa.String(length=24), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=True),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("at", subscribers.db.UTCDateTime(), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("hit_reason", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracking_hits")),
    )
    op.create_index("ix_tracking_hits_send_reader", "tracking_hits", ["send_id", "reader", "at"])
    op.create_index("ix_tracking_hits_subscriber", "tracking_hits", ["subscriber_id"])


def downgrade() -> None:
    op.drop_index("ix_tracking_hits_subscriber", table_name="tracking_hits")
    op.drop_index("ix_tracking_hits_send_reader", table_name="tracking_hits")
    op.drop_table("tracking_hits")
    op.drop_table("tracked_links")
