"""editors' accounts: people with roles, Argon2id hashes, TOTP, recovery codes, login
throttle, owners' policy; admin sessions belong to an account

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

import subscribers.db

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("created_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.Column("password_changed_at", subscribers.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_accounts")),
        sa.UniqueConstraint("email", name=op.f("uq_admin_accounts_email")),
    )
    op.create_table(
        "admin_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("used_at", subscribers.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["admin_accounts.id"],
            name=op.f("fk_admin_recovery_codes_account_id_admin_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_recovery_codes")),
    )
    op.create_table(
        "admin_login_throttle",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.Column("blocked_until", subscribers.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_admin_login_throttle")),
    )
    op.create_table(
        "admin_policy",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_admin_policy")),
    )
    # Sessions from before accounts name no account and no longer log anybody in.
    with op.batch_alter_table("admin_sessions") as batch:
        batch.add_column(sa.Column("account_id", sa.Integer(), nullable=True))
        batch.create_index("ix_admin_sessions_account_id", ["account_id"])
        batch.create_foreign_key(
            op.f("fk_admin_sessions_account_id_admin_accounts"),
            "admin_accounts",
            ["account_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("admin_sessions") as batch:
        batch.drop_constraint(
            op.f("fk_admin_sessions_account_id_admin_accounts"), type_="foreignkey"
        )
        batch.drop_index("ix_admin_sessions_account_id")
        batch.drop_column("account_id")
    op.drop_table("admin_policy")
    op.drop_table("admin_login_throttle")
    op.drop_table("admin_recovery_codes")
    op.drop_table("admin_accounts")
