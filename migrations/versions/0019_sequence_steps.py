"""sequences: each step file as first seen, tied to its send (docs/automations.md)

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

from subscribers.db import UTCDateTime

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sequence_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("newsletter_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=160), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("after_seconds", sa.Float(), nullable=False),
        sa.Column("backfill", sa.Boolean(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("source_path", sa.Text(), nullable=False),
        sa.Column("source_hash", sa.String(length=64), nullable=False),
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sequence_steps")),
        sa.UniqueConstraint("newsletter_id", "name", name=op.f("uq_sequence_steps_newsletter_id")),
        sa.UniqueConstraint("send_id", name=op.f("uq_sequence_steps_send_id")),
    )


def downgrade() -> None:
    op.drop_table("sequence_steps")
