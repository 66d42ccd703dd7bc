"""outgoing webhooks: endpoints, outbox (filled by triggers), messages, deliveries, attempts

Revision ID: 0010
Revises: 0009

The triggers write ``webhook_outbox`` in the transaction of the change itself, whatever
code made it (ORM or set-based SQL, this package or ``subscribers``), and only while at
least one endpoint exists: with no webhooks configured they cost one indexed lookup.
"""

import sqlalchemy as sa
from alembic import op

import subscribers.db

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

KINDS = "('subscribed', 'confirmed', 'unsubscribed', 'bounced', 'complained', 'erased')"
FINISHED = "('sent', 'failed', 'cancelled')"
ANY_ENDPOINT = "EXISTS (SELECT 1 FROM webhook_endpoints)"

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER webhook_outbox_events AFTER INSERT ON events
    WHEN NEW.kind IN {KINDS} AND {ANY_ENDPOINT}
    BEGIN
        INSERT INTO webhook_outbox (source, source_id, created_at)
        VALUES ('event', NEW.id, NEW.created_at);
    END""",
    f"""CREATE TRIGGER webhook_outbox_send_started AFTER UPDATE OF started_at ON sends
    WHEN OLD.started_at IS NULL AND NEW.started_at IS NOT NULL AND {ANY_ENDPOINT}
    BEGIN
        INSERT INTO webhook_outbox (source, source_id, created_at)
        VALUES ('send.started', NEW.id, NEW.started_at);
    END""",
    f"""CREATE TRIGGER webhook_outbox_send_finished AFTER UPDATE OF status ON sends
    WHEN NEW.status IN {FINISHED} AND OLD.status NOT IN {FINISHED} AND {ANY_ENDPOINT}
    BEGIN
        INSERT INTO webhook_outbox (source, source_id, created_at)
        VALUES ('send.finished', NEW.id, COALESCE(NEW.finished_at, NEW.created_at));
    END""",
]

POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION webhook_outbox_event() RETURNS trigger AS $$
    BEGIN
        IF NEW.kind IN {KINDS} AND {ANY_ENDPOINT} THEN
            INSERT INTO webhook_outbox (source, source_id, created_at)
            VALUES ('event', NEW.id, NEW.created_at);
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER webhook_outbox_events AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION webhook_outbox_event()""",
    f"""CREATE FUNCTION webhook_outbox_send() RETURNS trigger AS $$
    BEGIN
        IF {ANY_ENDPOINT} THEN
            IF OLD.started_at IS NULL AND NEW.started_at IS NOT NULL THEN
                INSERT INTO webhook_outbox (source, source_id, created_at)
                VALUES ('send.started', NEW.id, NEW.started_at);
            END IF;
            IF NEW.status IN {FINISHED} AND OLD.status NOT IN {FINISHED} THEN
                INSERT INTO webhook_outbox (source, source_id, created_at)
                VALUES ('send.finished', NEW.id, COALESCE(NEW.finished_at, NEW.created_at));
            END IF;
        END IF;
        RETURN NULL;
    END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER webhook_outbox_sends AFTER UPDATE ON sends
    FOR EACH ROW EXECUTE FUNCTION webhook_outbox_send()""",
]


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("created_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("failure_streak", sa.Integer(), nullable=False),
        sa.Column("disabled_at", subscribers.db.UTCDateTime(), nullable=True),
        sa.Column("disabled_reason", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("created_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_outbox")),
    )
    op.create_table(
        "webhook_messages",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_messages")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("created_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", subscribers.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name=op.f("fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["webhook_messages.id"],
            name=op.f("fk_webhook_deliveries_message_id_webhook_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
    )
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"]
    )
    op.create_index(
        "ix_webhook_deliveries_endpoint", "webhook_deliveries", ["endpoint_id", "id"]
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("attempted_at", subscribers.db.UTCDateTime(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name=op.f("fk_webhook_attempts_delivery_id_webhook_deliveries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index("ix_webhook_attempts_delivery", "webhook_attempts", ["delivery_id", "id"])
    triggers = POSTGRES_TRIGGERS if op.get_bind().dialect.name == "postgresql" else SQLITE_TRIGGERS
    for statement in triggers:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER webhook_outbox_sends ON sends")
        op.execute("DROP TRIGGER webhook_outbox_events ON events")
        op.execute("DROP FUNCTION webhook_outbox_send()")
        op.execute("DROP FUNCTION webhook_outbox_event()")
    else:
        for name in ("webhook_outbox_events", "webhook_outbox_send_started", "webhook_outbox_send_finished"):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("webhook_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_messages")
    op.drop_table("webhook_outbox")
    op.drop_table("webhook_endpoints")
