"""subscriber web: rate-limit hits and the welcome-email marker

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import subscribers.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_rate_limit_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("created_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_rate_limit_hits")),
    )
    op.create_index(
        "ix_web_rate_limit_hits_key", "web_rate_limit_hits", ["key", "created_at"], unique=False
    )
    op.create_table(
        "web_welcomes_sent",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("newsletter_id", sa.String(length=64), nullable=False),
        sa.Column("sent_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_web_welcomes_sent_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "subscriber_id", "newsletter_id", name=op.f("pk_web_welcomes_sent")
        ),
    )


def downgrade() -> None:
    op.drop_table("web_welcomes_sent")
    op.drop_index("ix_web_rate_limit_hits_key", table_name="web_rate_limit_hits")
    op.drop_table("web_rate_limit_hits")
