"""delivery: per-delivery due instants (waves), the send's next unreached due instant,
and what the issues catalog needs for `deliver: local` and quiet hours (docs/delivery.md)

Revision ID: 0016
Revises: 0015

Plain ``ADD COLUMN`` s (no table rebuild), so the outgoing-webhook triggers of 0010 stay.
"""

import sqlalchemy as sa
from alembic import op

import subscribers.db

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "deliveries", sa.Column("due_at", subscribers.db.UTCDateTime(), nullable=True)
    )
    op.add_column("sends", sa.Column("next_due_at", subscribers.db.UTCDateTime(), nullable=True))
    op.add_column(
        "issues",
        sa.Column("deliver", sa.String(length=16), nullable=False, server_default=""),
    )
    op.add_column(
        "issues",
        sa.Column("local_wall", sa.String(length=32), nullable=False, server_default=""),
    )
    op.add_column("issues", sa.Column("moved_from", subscribers.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("issues") as batch:
        batch.drop_column("moved_from")
        batch.drop_column("local_wall")
        batch.drop_column("deliver")
    op.drop_column("sends", "next_due_at")
    op.drop_column("deliveries", "due_at")
