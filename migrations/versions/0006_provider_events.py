"""provider events and admin

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import subscribers.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provider_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("message_id", sa.String(length=256), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.String(length=128), nullable=True),
        sa.Column("send_id", sa.Integer(), nullable=True),
        sa.Column("delivery_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("received_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provider_events")),
        sa.UniqueConstraint(
            "message_id", "event", "timestamp", "email", name="uq_provider_events_natural_key"
        ),
        sa.UniqueConstraint("event_id", name="uq_provider_events_event_id"),
    )
    op.create_index("ix_provider_events_send", "provider_events", ["send_id", "kind"])
    op.create_index("ix_provider_events_delivery", "provider_events", ["delivery_id"])
    op.create_index("ix_provider_events_email", "provider_events", ["email"])
    op.create_table(
        "delivery_outcomes",
        sa.Column(
            "delivery_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("send_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("severity", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("updated_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("delivery_id", name=op.f("pk_delivery_outcomes")),
    )
    op.create_index("ix_delivery_outcomes_send", "delivery_outcomes", ["send_id", "outcome"])


def downgrade() -> None:
    op.drop_index("ix_delivery_outcomes_send", table_name="delivery_outcomes")
    op.drop_table("delivery_outcomes")
    op.drop_index("ix_provider_events_email", table_name="provider_events")
    op.drop_index("ix_provider_events_delivery", table_name="provider_events")
    op.drop_index("ix_provider_events_send", table_name="provider_events")
    op.drop_table("provider_events")
