"""scheduler: issue_schedules (date overrides, fired instants, missed/cancel notes)

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import subscribers.db

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "issue_schedules",
        sa.Column("issue_id", sa.Integer(), nullable=False),
        sa.Column("override_by", sa.String(length=200), nullable=False),
        sa.Column("override_set_at", subscribers.db.UTCDateTime(), nullable=True),
        sa.Column("fired_for", subscribers.db.UTCDateTime(), nullable=True),
        sa.Column("fired_at", subscribers.db.UTCDateTime(), nullable=True),
        sa.Column("fired_by", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["issue_id"],
            ["issues.id"],
            name=op.f("fk_issue_schedules_issue_id_issues"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("issue_id", name=op.f("pk_issue_schedules")),
    )


def downgrade() -> None:
    op.drop_table("issue_schedules")
