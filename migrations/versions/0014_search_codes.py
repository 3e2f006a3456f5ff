"""Stage two of a 1:N search over binary codes is recorded as such.

attendance.search_stage gains 'codes': stage two scanned the faces' binary codes and
re-ranked the nearest exactly (FACEDB_SEARCH_CANDIDATES, the default since this
revision), as against 'exact', a scan of every face's float vector. Downgrading turns
'codes' rows into 'exact' (the earlier revision knows no other stage two).

Revision ID: 0014_search_codes
Revises: 0013_search_stage
Create Date: 2026-12-08
"""

from __future__ import annotations

from alembic import op

revision = "0014_search_codes"
down_revision = "0013_search_stage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("attendance_search_stage_check", "attendance", type_="check")
    op.create_check_constraint(
        "attendance_search_stage_check",
        "attendance",
        "search_stage IN ('index', 'exact', 'codes')",
    )


def downgrade() -> None:
    op.drop_constraint("attendance_search_stage_check", "attendance", type_="check")
    op.execute("UPDATE attendance SET search_stage = 'exact' WHERE search_stage = 'codes'")
    op.create_check_constraint(
        "attendance_search_stage_check", "attendance", "search_stage IN ('index', 'exact')"
    )
