"""Initial schema: users, face embeddings (HNSW), attendance, thresholds, daily view.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql


revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ATTENDANCE_DAILY_VIEW = """
CREATE VIEW attendance_daily AS
SELECT a.user_id,
       u.name,
       (a.occurred_at AT TIME ZONE current_setting('TimeZone'))::date AS day,
       min(a.occurred_at) AS first_seen,
       max(a.occurred_at) AS last_seen,
       count(*) AS events
FROM attendance a
JOIN users u ON u.id = a.user_id
WHERE a.decision = 'accepted'
GROUP BY a.user_id, u.name, day
"""


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    op.create_table(
        "users",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=True, unique=True),
        sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("meta", postgresql.JSONB(), nullable=False, server_default=sa.text("'{}'::jsonb")),
    )
    op.create_index("users_name_lower_key", "users", [sa.text("lower(name)")], unique=True)

    op.create_table(
        "face_embeddings",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("user_id", sa.BigInteger(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("embedding", Vector(512), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("det_score", sa.Float(), nullable=True),
        sa.Column("quality", sa.Float(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    # 512 floats = 2 KB: kept out of line and uncompressed (random floats do not
    # compress), so the heap rows stay small for scans, as immich does.
    op.execute("ALTER TABLE face_embeddings ALTER COLUMN embedding SET STORAGE EXTERNAL")
    op.create_index("face_embeddings_user_id_idx", "face_embeddings", ["user_id"])
    op.create_index(
        "face_embeddings_embedding_hnsw_idx",
        "face_embeddings",
        ["embedding"],
        postgresql_using="hnsw",
        postgresql_with={"m": 16, "ef_construction": 64},
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )

    op.create_table(
        "attendance",
        sa.Column("id", sa.BigInteger(), sa.Identity(), primary_key=True),
        sa.Column("event_id", postgresql.UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True),
        sa.Column(
            "claimed_user_id", sa.BigInteger(), sa.ForeignKey("users.id", ondelete="SET NULL"), nullable=True
        ),
        sa.Column("similarity", sa.Float(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("liveness", sa.Float(), nullable=True),
        sa.Column("device", sa.Text(), nullable=True),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("offline", sa.Boolean(), nullable=False, server_default=sa.text("false")),
        sa.CheckConstraint("kind IN ('verify', 'identify')", name="attendance_kind_check"),
        sa.CheckConstraint(
            "decision IN ('accepted', 'rejected', 'unknown', 'no_face', 'spoof', 'bad_quality')",
            name="attendance_decision_check",
        ),
    )
    op.create_index("attendance_occurred_at_idx", "attendance", ["occurred_at"])
    op.create_index("attendance_user_id_occurred_at_idx", "attendance", ["user_id", "occurred_at"])

    op.create_table(
        "thresholds",
        sa.Column("model", sa.Text(), primary_key=True),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("far", sa.Float(), nullable=False),
        sa.Column("tar", sa.Float(), nullable=True),
        sa.Column("pairs", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("calibrated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.execute(ATTENDANCE_DAILY_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW IF EXISTS attendance_daily")
    op.drop_table("thresholds")
    op.drop_table("attendance")
    op.drop_table("face_embeddings")
    op.drop_table("users")
    # The vector extension stays: other databases objects of the site may use it.
