"""Two-stage 1:N search and keys for devices that compute their own embeddings.

attendance.search_stage: which stage of a search decided (index: a clear accept of
the HNSW index; exact: a scan of every face in the scope); NULL for every existing
row and for 1:1 decisions. face_codes: the binary code of every stored face (64
bytes, pgvector's binary_quantize), which stage two scans, kept in step with
face_embeddings by a trigger and filled for the faces already stored. api_keys.role
gains 'device' (POST /v1/verify with an embedding).

Revision ID: 0013_search_stage
Revises: 0012_template_updates
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import BIT

from facedb.errors import MigrationNotAppliedError

revision = "0013_search_stage"
down_revision = "0012_template_updates"
branch_labels = None
depends_on = None

ROLES_BEFORE = "role IN ('kiosk', 'admin', 'reporter')"
ROLES_AFTER = "role IN ('kiosk', 'admin', 'reporter', 'device')"


SYNC_FUNCTION = """
CREATE FUNCTION face_codes_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO face_codes (embedding_id, user_id, model, code)
    VALUES (NEW.id, NEW.user_id, NEW.model, CAST(binary_quantize(NEW.embedding) AS bit(512)))
    ON CONFLICT (embedding_id) DO UPDATE
    SET user_id = EXCLUDED.user_id, model = EXCLUDED.model, code = EXCLUDED.code;
    RETURN NULL;
END
$$
"""
SYNC_TRIGGER = (
    "CREATE TRIGGER face_codes_sync AFTER INSERT OR UPDATE OF embedding, user_id, model "
    "ON face_embeddings FOR EACH ROW EXECUTE FUNCTION face_codes_sync()"
)
FILL = (
    "INSERT INTO face_codes (embedding_id, user_id, model, code) "
    "SELECT id, user_id, model, CAST(binary_quantize(embedding) AS bit(512)) FROM face_embeddings"
)


def upgrade() -> None:
    op.create_table(
        "face_codes",
        sa.Column(
            "embedding_id",
            sa.BigInteger(),
            sa.ForeignKey("face_embeddings.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.Text(), nullable=False),
        sa.Column("code", BIT(512), nullable=False),
    )
    op.execute(text(SYNC_FUNCTION).execution_options(no_parameters=True))
    op.execute(SYNC_TRIGGER)
    op.execute(FILL)
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
    op.execute("DROP TRIGGER face_codes_sync ON face_embeddings")
    op.execute("DROP FUNCTION face_codes_sync()")
    op.drop_table("face_codes")
