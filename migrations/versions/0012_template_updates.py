"""Guarded template updates and "this is not X" (facedb/usecases/template_updates.py):
template_additions records each face learned from an accepted decision (and its
removal), non_matches the probes a review found were not the person accepted.

Nothing existing changes: two new tables.

Revision ID: 0012_template_updates
Revises: 0011_presence
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision = "0012_template_updates"
down_revision = "0011_presence"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "template_additions",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "face_id",
            sa.BigInteger(),
            sa.ForeignKey("face_embeddings.id", ondelete="SET NULL"),
            nullable=True,
            unique=True,
        ),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column(
            "added_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("runner_up", sa.Float(), nullable=True),
        sa.Column("liveness", sa.Float(), nullable=True),
        sa.Column("quality", sa.Float(), nullable=False),
        sa.Column("nearest", sa.Float(), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by", sa.Text(), nullable=True),
        sa.Column("removed_why", sa.Text(), nullable=True),
    )
    op.create_index(
        "template_additions_user_id_added_at_idx", "template_additions", ["user_id", "added_at"]
    )
    op.create_index("template_additions_event_id_idx", "template_additions", ["event_id"])
    op.create_table(
        "non_matches",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column(
            "user_id",
            sa.BigInteger(),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("embedding", Vector(512), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
    op.create_index("non_matches_user_id_model_idx", "non_matches", ["user_id", "model"])


def downgrade() -> None:
    op.drop_table("non_matches")
    op.drop_table("template_additions")
