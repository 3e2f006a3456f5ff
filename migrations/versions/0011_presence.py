"""One record per presence: a doubtful attempt that a kiosk sees again and again (a
stranger standing in front of it) is one attendance row that counts its looks.

Two columns on attendance: looks (how many polls the row stands for, 1 for every
existing row) and last_seen_at (the last of them; NULL: the row is one look).

Revision ID: 0011_presence
Revises: 0010_key_expiry_private_hooks
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_presence"
down_revision = "0010_key_expiry_private_hooks"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "attendance",
        sa.Column("looks", sa.Integer(), nullable=False, server_default=sa.text("1")),
    )
    op.add_column("attendance", sa.Column("last_seen_at", sa.DateTime(timezone=True)))
    op.create_check_constraint("attendance_looks_check", "attendance", "looks >= 1")
    # The presence a new look may continue: the latest row of one device.
    op.create_index("attendance_device_occurred_at_idx", "attendance", ["device", "occurred_at"])


def downgrade() -> None:
    op.drop_index("attendance_device_occurred_at_idx", table_name="attendance")
    op.drop_constraint("attendance_looks_check", "attendance", type_="check")
    op.drop_column("attendance", "last_seen_at")
    op.drop_column("attendance", "looks")
