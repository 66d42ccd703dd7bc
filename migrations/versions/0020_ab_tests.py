"""A/B subjects: each send's test (ab_tests) and each ledger row's variant

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

import subscribers.db

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ab_tests",
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("subjects", sa.Text(), nullable=False),
        sa.Column("sample", sa.String(length=16), nullable=False),
        sa.Column("wait_seconds", sa.Integer(), nullable=False),
        sa.Column("sample_size", sa.Integer(), nullable=False),
        sa.Column("decide_at", subscribers.db.UTCDateTime(), nullable=True),
        sa.Column("winner", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("decided_at", subscribers.db.UTCDateTime(), nullable=True),
        sa.Column("figures", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("send_id", name=op.f("pk_ab_tests")),
    )
    # Plain ADD COLUMN (no table rebuild on SQLite: the webhook triggers of 0010 stay).
    op.add_column("deliveries", sa.Column("variant", sa.SmallInteger(), nullable=True))
    op.add_column(
        "deliveries",
        sa.Column("in_sample", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_column("deliveries", "in_sample")
    op.drop_column("deliveries", "variant")
    op.drop_table("ab_tests")
