"""sunset: the episode ledger, how each send was tracked, a consent record's reason

Revision ID: 0018
Revises: 0017

``tracking_sends`` is filled from now on when a send's links are rewritten. Sends made
before it get a row only when a per-reader click proves their mode (a hit carrying a
delivery id); the others give the sunset no evidence (docs/automations.md).
"""

import sqlalchemy as sa
from alembic import op

import subscribers.db

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracking_sends",
        sa.Column("send_id", sa.Integer(), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("send_id", name=op.f("pk_tracking_sends")),
    )
    op.execute(
        "INSERT INTO tracking_sends (send_id, mode) SELECT DISTINCT send_id, 'per_reader'"
        " FROM tracking_hits WHERE delivery_id IS NOT NULL"
    )
    op.create_table(
        "sunset_episodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("newsletter_id", sa.String(length=64), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("first_send_id", sa.Integer(), nullable=False),
        sa.Column("last_send_id", sa.Integer(), nullable=False),
        sa.Column("created_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.Column("asked_at", subscribers.db.UTCDateTime(), nullable=True),
        sa.Column("closed_at", subscribers.db.UTCDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sunset_episodes")),
        sa.UniqueConstraint(
            "subscriber_id",
            "newsletter_id",
            "episode",
            name=op.f("uq_sunset_episodes_subscriber_id"),
        ),
    )
    op.create_index(
        "ix_sunset_episodes_newsletter_state", "sunset_episodes", ["newsletter_id", "state"]
    )
    op.add_column(
        "consent_records",
        sa.Column("reason", sa.String(length=32), nullable=False, server_default=""),
    )


def downgrade() -> None:
    with op.batch_alter_table("consent_records") as batch:
        batch.drop_column("reason")
    op.drop_index("ix_sunset_episodes_newsletter_state", table_name="sunset_episodes")
    op.drop_table("sunset_episodes")
    op.drop_table("tracking_sends")
