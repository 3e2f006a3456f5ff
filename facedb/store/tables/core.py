"""The core tables: people, their faces, attendance, thresholds and calibrations, API
keys (store/tables/ has the other groups; migrations follow them, and
tests/test_migrations.py proves the two agree)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from facedb.domain.constants import API_KEY_ROLES, DECISIONS, SEARCH_STAGES
from facedb.domain.names import NAME_MAX_LENGTH
from facedb.store.tables.base import EMBEDDING_DIM, Base, one_of

# HNSW build parameters: pgvector's defaults, m=16 links per node and
# ef_construction=64. Face embeddings of different people are nearly orthogonal,
# which makes the graph search hard: at 100k faces recall@1 reaches 0.99 only at
# ef_search 200 (FACEDB_EF_SEARCH); m=32 reached it at ef_search 100 but was no
# faster and took 2.5x longer to build (docs/BENCHMARKS.md).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 64

KINDS = ("verify", "identify")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH), nullable=False)
    external_id: Mapped[str | None] = mapped_column(Text, unique=True)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    meta: Mapped[dict[str, Any]] = mapped_column(
        JSONB, nullable=False, server_default=text("'{}'::jsonb")
    )

    __table_args__ = (
        # Names are unique regardless of case: "alice" and "Alice" are one person.
        Index("users_name_lower_key", func.lower(name), unique=True),
    )


class FaceEmbedding(Base):
    __tablename__ = "face_embeddings"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    embedding: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIM), nullable=False)
    # Which embedder made the vector: vectors of two models are never compared.
    model: Mapped[str] = mapped_column(Text, nullable=False)
    det_score: Mapped[float | None] = mapped_column(Float)
    quality: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (
        Index("face_embeddings_user_id_idx", "user_id"),
        Index(
            "face_embeddings_embedding_hnsw_idx",
            embedding,
            postgresql_using="hnsw",
            postgresql_with={"m": HNSW_M, "ef_construction": HNSW_EF_CONSTRUCTION},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
    )


class Attendance(Base):
    __tablename__ = "attendance"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # Made by the kiosk, so that a replayed event is inserted once.
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False, unique=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    decision: Mapped[str] = mapped_column(Text, nullable=False)
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    claimed_user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    similarity: Mapped[float | None] = mapped_column(Float)
    threshold: Mapped[float | None] = mapped_column(Float)
    liveness: Mapped[float | None] = mapped_column(Float)
    device: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(Text)
    offline: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("false"))
    # The policy that decided (README "How decisions are made"): where the threshold
    # came from, the size of the gallery searched (1:N), the FPIR target it was set
    # for, the second-best person's similarity, and the scope (site or group).
    threshold_source: Mapped[str | None] = mapped_column(Text)
    gallery_persons: Mapped[int | None] = mapped_column(Integer)
    gallery_faces: Mapped[int | None] = mapped_column(Integer)
    fpir_target: Mapped[float | None] = mapped_column(Float)
    runner_up: Mapped[float | None] = mapped_column(Float)
    scope: Mapped[str | None] = mapped_column(Text)
    # One record per presence (usecases/recording.py): the looks (kiosk polls) this
    # row stands for, and when the last of them was (NULL: one look).
    looks: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("1"))
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # 1:N: the stage of the two-stage search that decided (store/search.py): index
    # (a clear accept of the HNSW index) or exact (a scan of every face in the scope).
    search_stage: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        CheckConstraint(one_of("kind", KINDS), name="attendance_kind_check"),
        CheckConstraint(one_of("decision", DECISIONS), name="attendance_decision_check"),
        CheckConstraint("looks >= 1", name="attendance_looks_check"),
        CheckConstraint(
            one_of("search_stage", SEARCH_STAGES), name="attendance_search_stage_check"
        ),
        Index("attendance_occurred_at_idx", "occurred_at"),
        Index("attendance_user_id_occurred_at_idx", "user_id", "occurred_at"),
        Index("attendance_device_occurred_at_idx", "device", "occurred_at"),
    )


class Threshold(Base):
    """The calibrated accept threshold of an embedding model (`facedb calibrate`)."""

    __tablename__ = "thresholds"

    model: Mapped[str] = mapped_column(Text, primary_key=True)
    threshold: Mapped[float] = mapped_column(Float, nullable=False)
    far: Mapped[float] = mapped_column(Float, nullable=False)
    tar: Mapped[float | None] = mapped_column(Float)
    pairs: Mapped[int] = mapped_column(Integer, nullable=False)
    source: Mapped[str | None] = mapped_column(Text)
    calibrated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class GalleryCalibration(Base):
    """The enrolled gallery searched against itself (facedb/identification): the tail
    of its impostor scores, from which 1:N thresholds follow for any gallery size."""

    __tablename__ = "gallery_calibrations"

    model: Mapped[str] = mapped_column(Text, primary_key=True)
    persons: Mapped[int] = mapped_column(Integer, nullable=False)
    faces: Mapped[int] = mapped_column(Integer, nullable=False)
    pairs: Mapped[int] = mapped_column(BigInteger, nullable=False)
    tail: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    computed_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class Lookalike(Base):
    """A person enrolled although a face of theirs resembles another person's (above
    the 1:1 threshold, below the duplicate check's): for an administrator to review."""

    __tablename__ = "lookalikes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    other_user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    similarity: Mapped[float] = mapped_column(Float, nullable=False)
    model: Mapped[str] = mapped_column(Text, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (
        UniqueConstraint("user_id", "other_user_id", "model", name="lookalikes_pair_key"),
        Index("lookalikes_other_user_id_idx", "other_user_id"),
    )


class ApiKey(Base):
    """A key of the HTTP API (`facedb keys`). Only the sha256 of the token is stored;
    a revoked key stays, for the record, and frees its name."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX_LENGTH), nullable=False)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # After this moment the key is refused like a revoked one; NULL: never.
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The last request the key authenticated (to the minute: store/api_keys.py).
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(one_of("role", API_KEY_ROLES), name="api_keys_role_check"),
        # One live key per name (names are what `facedb keys revoke` takes).
        Index(
            "api_keys_name_live_key",
            "name",
            unique=True,
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )


# Views (attendance_daily, ...) are not ORM models: migrations create them, and
# reports and psql users read them.
