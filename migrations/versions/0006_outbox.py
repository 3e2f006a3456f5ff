"""The transactional outbox of outgoing events: sinks (webhooks, MQTT), one message
per attendance row, one delivery per message and sink (facedb/events).

Revision ID: 0006_outbox
Revises: 0004_sites_groups
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_outbox"
down_revision = "0004_sites_groups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "event_sinks",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("events", postgresql.ARRAY(sa.Text()), nullable=True),
        sa.Column("secret", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint("kind IN ('webhook', 'mqtt')", name="event_sinks_kind_check"),
    )
    op.create_index("event_sinks_kind_target_key", "event_sinks", ["kind", "target"], unique=True)
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "event_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("attendance.event_id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "outbox_deliveries",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "message_id",
            sa.BigInteger(),
            sa.ForeignKey("outbox.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "sink_id",
            sa.BigInteger(),
            sa.ForeignKey("event_sinks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("status", sa.Text(), nullable=False, server_default=sa.text("'pending'")),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.func.now(),
        ),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'dead')", name="outbox_deliveries_status_check"
        ),
    )
    op.create_index(
        "outbox_deliveries_message_sink_key",
        "outbox_deliveries",
        ["message_id", "sink_id"],
        unique=True,
    )
    op.create_index(
        "outbox_deliveries_due_idx",
        "outbox_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("outbox_deliveries_sink_id_idx", "outbox_deliveries", ["sink_id", "status"])


def downgrade() -> None:
    op.drop_table("outbox_deliveries")
    op.drop_table("outbox")
    op.drop_table("event_sinks")
