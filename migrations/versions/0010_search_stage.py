"""Two-stage 1:N search and keys for devices that compute their own embeddings.

attendance.search_stage: which stage of a search decided (index: a clear accept of
the HNSW index; exact: a scan of every face in the scope); NULL for every existing
row and for 1:1 decisions. api_keys.role gains 'device' (POST /v1/verify with an
embedding).

Revision ID: 0010_search_stage
Revises: 0009_timesheet_date_part
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text

from facedb.errors import MigrationNotAppliedError

revision = "0010_search_stage"
down_revision = "0009_timesheet_date_part"
branch_labels = None
depends_on = None

ROLES_BEFORE = "role IN ('kiosk', 'admin', 'reporter')"
ROLES_AFTER = "role IN ('kiosk', 'admin', 'reporter', 'device')"


def upgrade() -> None:
    op.add_column("attendance", sa.Column("search_stage", sa.Text(), nullable=True))
    op.create_check_constraint(
        "attendance_search_stage_check", "attendance", "search_stage IN ('index', 'exact')"
    )
    op.drop_constraint("api_keys_role_check", "api_keys", type_="check")
    op.create_check_constraint("api_keys_role_check", "api_keys", ROLES_AFTER)


def downgrade() -> None:
    devices = op.get_bind().execute(text("SELECT count(*) FROM api_keys WHERE role = 'device'"))
    if devices.scalar_one():
        raise MigrationNotAppliedError(
            "device API keys exist, which the older schema cannot hold: delete them "
            "(DELETE FROM api_keys WHERE role = 'device'), then downgrade again"
        )
    op.drop_constraint("api_keys_role_check", "api_keys", type_="check")
    op.create_check_constraint("api_keys_role_check", "api_keys", ROLES_BEFORE)
    op.drop_constraint("attendance_search_stage_check", "attendance", type_="check")
    op.drop_column("attendance", "search_stage")
