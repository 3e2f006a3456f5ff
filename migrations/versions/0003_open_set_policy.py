"""Open-set 1:N decisions: the policy recorded on every attendance row, the
gallery's own impostor calibration, look-alikes recorded at enrolment, and the
`ambiguous` decision.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OLD_DECISIONS = "'accepted', 'rejected', 'unknown', 'no_face', 'spoof', 'bad_quality'"
NEW_DECISIONS = OLD_DECISIONS + ", 'ambiguous'"


def upgrade() -> None:
    # Rows logged before this revision keep NULLs: their policy was the 1:1 threshold.
    op.add_column("attendance", sa.Column("threshold_source", sa.Text(), nullable=True))
    op.add_column("attendance", sa.Column("gallery_persons", sa.Integer(), nullable=True))
    op.add_column("attendance", sa.Column("gallery_faces", sa.Integer(), nullable=True))
    op.add_column("attendance", sa.Column("fpir_target", sa.Float(), nullable=True))
    op.add_column("attendance", sa.Column("runner_up", sa.Float(), nullable=True))
    op.add_column("attendance", sa.Column("scope", sa.Text(), nullable=True))
    op.drop_constraint("attendance_decision_check", "attendance", type_="check")
    op.create_check_constraint(
        "attendance_decision_check", "attendance", f"decision IN ({NEW_DECISIONS})"
    )
    op.create_table(
        "gallery_calibrations",
        sa.Column("model", sa.Text(), primary_key=True),
        sa.Column("persons", sa.Integer(), nullable=False),
        sa.Column("faces", sa.Integer(), nullable=False),
        sa.Column("pairs", sa.BigInteger(), nullable=False),
        sa.Column("tail", postgresql.JSONB(), nullable=False),
        sa.Column(
            "computed_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_table(
        "lookalikes",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "other_user_id",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column(
            "recorded_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.UniqueConstraint("user_id", "other_user_id", "model", name="lookalikes_pair_key"),
    )
    op.create_index("lookalikes_other_user_id_idx", "lookalikes", ["other_user_id"])


def downgrade() -> None:
    op.drop_index("lookalikes_other_user_id_idx", table_name="lookalikes")
    op.drop_table("lookalikes")
    op.drop_table("gallery_calibrations")
    op.execute("DELETE FROM attendance WHERE decision = 'ambiguous'")
    op.drop_constraint("attendance_decision_check", "attendance", type_="check")
    op.create_check_constraint(
        "attendance_decision_check", "attendance", f"decision IN ({OLD_DECISIONS})"
    )
    for column in ("scope", "runner_up", "fpir_target", "gallery_faces", "gallery_persons"):
        op.drop_column("attendance", column)
    op.drop_column("attendance", "threshold_source")
