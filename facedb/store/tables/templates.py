"""Guarded template updates and "this is not X" (facedb/usecases/template_updates.py).

``template_additions``: a face learned from an accepted decision (the face itself is
a face_embeddings row, source "event <id>"), with the evidence it was learned on; a
removed addition keeps its row (removed_at, removed_by, why) and loses its face.
``non_matches``: a probe a review found was not the person it was accepted as; a
later probe close to it needs a wider margin to be accepted as that person."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import BigInteger, DateTime, Float, ForeignKey, Identity, Index, Text, func
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from facedb.store.tables.base import EMBEDDING_DIM, Base


class TemplateAddition(Base):
    __tablename__ = "template_additions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    # None once removed (the face is deleted, this record stays).
    face_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("face_embeddings.id", ondelete="SET NULL"), unique=True
    )
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    model: Mapped[str] = mapped_column(Text, nullable=False)
    added_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    # The evidence: the decision's similarity, threshold and runner-up, the face's
    # liveness and quality, and its similarity to the nearest stored face then.
    similarity: Mapped[float] = mapped_column(Float, nullable=False)
    threshold: Mapped[float] = mapped_column(Float, nullable=False)
    runner_up: Mapped[float | None] = mapped_column(Float)
    liveness: Mapped[float | None] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float, nullable=False)
    nearest: Mapped[float] = mapped_column(Float, nullable=False)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_by: Mapped[str | None] = mapped_column(Text)
    removed_why: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("template_additions_user_id_added_at_idx", "user_id", "added_at"),
        Index("template_additions_event_id_idx", "event_id"),
    )


class NonMatch(Base):
    __tablename__ = "non_matches"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    # The person the probe is not.
    user_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False
    )
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    model: Mapped[str] = mapped_column(Text, nullable=False)
    embedding: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIM), nullable=False)
    action: Mapped[str] = mapped_column(Text, nullable=False)  # the review: reassign, dismiss
    created_by: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (Index("non_matches_user_id_model_idx", "user_id", "model"),)
