"""API keys with an optional expiry and the time they were last used; webhooks that
may be sent to private addresses (`facedb hooks add --allow-private`).

Existing keys never expire and have not been used yet (as far as the record goes);
existing webhooks keep being delivered where they were: they are marked allow_private,
so that the delivery worker's new check of private addresses does not stop a LAN door
controller that worked yesterday (link-local and metadata addresses are refused all
the same).

Revision ID: 0010_key_expiry_private_hooks
Revises: 0009_timesheet_date_part
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_key_expiry_private_hooks"
down_revision = "0009_timesheet_date_part"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("expires_at", sa.DateTime(timezone=True)))
    op.add_column("api_keys", sa.Column("last_used_at", sa.DateTime(timezone=True)))
    op.add_column(
        "event_sinks",
        sa.Column("allow_private", sa.Boolean(), nullable=False, server_default=sa.text("false")),
    )
    # Webhooks added before the check: kept deliverable, whatever their host.
    op.execute("UPDATE event_sinks SET allow_private = true WHERE kind = 'webhook'")


def downgrade() -> None:
    op.drop_column("event_sinks", "allow_private")
    op.drop_column("api_keys", "last_used_at")
    op.drop_column("api_keys", "expires_at")
