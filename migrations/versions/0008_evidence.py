"""Evidence of doubtful decisions (a face thumbnail and the probe embedding, linked to
the attendance event) and the append-only review actions (docs/REVIEW.md).

Nothing existing changes: two new tables, and a trigger that keeps review_actions
append-only.

Revision ID: 0008_evidence
Revises: 0007_time_attendance
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision = "0008_evidence"
down_revision = "0007_time_attendance"
branch_labels = None
depends_on = None

APPEND_ONLY = """
CREATE FUNCTION review_actions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    -- A forgotten person (users row deleted) only loses the link: ON DELETE SET NULL.
    IF TG_OP = 'UPDATE' AND NEW.user_id IS NULL AND OLD.user_id IS NOT NULL
       AND (to_jsonb(NEW) - 'user_id') = (to_jsonb(OLD) - 'user_id') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'review actions are append-only: add an action instead';
END
$fn$;
CREATE TRIGGER review_actions_append_only
BEFORE UPDATE OR DELETE ON review_actions
FOR EACH ROW EXECUTE FUNCTION review_actions_append_only();
"""


def upgrade() -> None:
    op.create_table(
        "evidence",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "event_id",
            postgresql.UUID(as_uuid=True),
            sa.ForeignKey("attendance.event_id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("embedding", Vector(512), nullable=True),
        sa.Column("thumbnail", sa.LargeBinary(), nullable=False),
        sa.Column("quality_ok", sa.Boolean(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=True),
        sa.Column("det_score", sa.Float(), nullable=True),
        sa.Column("liveness", sa.Float(), nullable=True),
        sa.Column(
            "reasons",
            postgresql.JSONB(),
            nullable=False,
            server_default=sa.text("'[]'::jsonb"),
        ),
        sa.Column(
            "candidates",
            postgresql.JSONB(),
            nullable=False,
            server_default=sa.text("'[]'::jsonb"),
        ),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("evidence_occurred_at_idx", "evidence", ["occurred_at"])
    op.create_table(
        "review_actions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column(
            "correction_id",
            sa.BigInteger(),
            sa.ForeignKey("attendance_corrections.id"),
            nullable=True,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.CheckConstraint(
            "action IN ('accept', 'reassign', 'dismiss', 'enrol')",
            name="review_actions_action_check",
        ),
    )
    op.create_index("review_actions_event_id_idx", "review_actions", ["event_id"])
    op.create_index("review_actions_user_id_idx", "review_actions", ["user_id"])
    op.execute(APPEND_ONLY)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS review_actions_append_only ON review_actions")
    op.execute("DROP FUNCTION IF EXISTS review_actions_append_only()")
    op.drop_table("review_actions")
    op.drop_table("evidence")
