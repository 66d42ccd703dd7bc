"""tracking: the provider each send counted an MX-looked-up domain under (docs/tracking.md)

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracking_send_domains",
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("send_id", "domain", name=op.f("pk_tracking_send_domains")),
    )


def downgrade() -> None:
    op.drop_table("tracking_send_domains")
