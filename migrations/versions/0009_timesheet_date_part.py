"""timesheet(): durations in double precision (date_part) instead of numeric
(extract), the same values about 12 % faster for a month of 1,000 people.

The function's own text is read back from the server and rewritten in place, so that
this migration carries no second copy of it (0007_time_attendance has the function).

Revision ID: 0009_timesheet_date_part
Revises: 0008_evidence
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import text

from facedb.errors import MigrationNotAppliedError

revision = "0009_timesheet_date_part"
down_revision = "0008_evidence"
branch_labels = None
depends_on = None

SIGNATURE = "timesheet(date, date, text, bigint[])"
NUMERIC = "extract(epoch FROM"
DOUBLE = "date_part('epoch',"
USES = 5  # the durations of timesheet(): worked, scheduled, late, early leave, span


def _rewrite(old: str, new: str) -> None:
    connection = op.get_bind()
    definition = connection.execute(
        text("SELECT pg_get_functiondef(CAST(:f AS regprocedure))"), {"f": SIGNATURE}
    ).scalar_one()
    if definition.count(old) != USES:
        raise MigrationNotAppliedError(
            f"{SIGNATURE} in this database is not the one facedb created (changed by "
            "hand?): recreate it from migration 0007_time_attendance, then upgrade again"
        )
    op.execute(text(definition.replace(old, new)).execution_options(no_parameters=True))


def upgrade() -> None:
    _rewrite(NUMERIC, DOUBLE)


def downgrade() -> None:
    _rewrite(DOUBLE, NUMERIC)
