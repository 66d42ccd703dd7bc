"""send batches: each batch's time span, for rates over the time spent sending

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import subscribers.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

LedgerId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "send_batches",
        sa.Column("id", LedgerId, nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=64), nullable=False),
        sa.Column("started_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.Column("finished_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_send_batches")),
    )
    op.create_index(op.f("ix_send_batches_send_id"), "send_batches", ["send_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_send_batches_send_id"), table_name="send_batches")
    op.drop_table("send_batches")
