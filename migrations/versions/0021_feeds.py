"""feeds: RSS/Atom feeds polled into issues/ and the entries imported from them

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

import subscribers.db

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("newsletter_id", sa.String(length=64), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("etag", sa.Text(), nullable=False),
        sa.Column("last_modified", sa.Text(), nullable=False),
        sa.Column("created_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.Column("last_polled_at", subscribers.db.UTCDateTime(), nullable=True),
        sa.Column("last_success_at", subscribers.db.UTCDateTime(), nullable=True),
        sa.Column("next_poll_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.Column("lease_until", subscribers.db.UTCDateTime(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feeds")),
        sa.UniqueConstraint("url", name=op.f("uq_feeds_url")),
    )
    op.create_table(
        "feed_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("entry_key", sa.Text(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("file_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.Column("updated_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feeds.id"],
            name=op.f("fk_feed_entries_feed_id_feeds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_entries")),
        sa.UniqueConstraint("feed_id", "key_hash", name=op.f("uq_feed_entries_feed_id")),
    )
    op.create_index("ix_feed_entries_feed_id", "feed_entries", ["feed_id"])


def downgrade() -> None:
    op.drop_index("ix_feed_entries_feed_id", table_name="feed_entries")
    op.drop_table("feed_entries")
    op.drop_table("feeds")
