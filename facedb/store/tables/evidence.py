"""Evidence of doubtful decisions and the review of them (docs/REVIEW.md).

``evidence``: for an attendance event that was not a plain accept, a small JPEG of
the face (the aligned 112x112 crop) and the probe embedding, kept for
FACEDB_EVIDENCE_DAYS and deleted with its event. ``review_actions``: what an
administrator decided about an event, append-only (a trigger refuses UPDATE and
DELETE, except the unlinking of a forgotten person)."""

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
    LargeBinary,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from facedb.store.tables.base import EMBEDDING_DIM, Base, one_of

REVIEW_ACTIONS = ("accept", "reassign", "dismiss", "enrol")


class Evidence(Base):
    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("attendance.event_id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    )
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    model: Mapped[str] = mapped_column(Text, nullable=False)
    # The probe the decision was made on (the template of the faces used); None when
    # no face was embedded.
    embedding: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIM), nullable=True)
    thumbnail: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # JPEG
    # The best face as the quality gate and the liveness model judged it then.
    quality_ok: Mapped[bool] = mapped_column(Boolean, nullable=False)
    quality: Mapped[float | None] = mapped_column(Float)
    det_score: Mapped[float | None] = mapped_column(Float)
    liveness: Mapped[float | None] = mapped_column(Float)
    reasons: Mapped[list[str]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    # 1:N: the most similar people then: [{"user_id", "name", "similarity"}, ...].
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, nullable=False, server_default=text("'[]'::jsonb")
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (Index("evidence_occurred_at_idx", "occurred_at"),)


class ReviewAction(Base):
    __tablename__ = "review_actions"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    # reassign: the person the event belongs to; enrol: the person the face went to.
    user_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("users.id", ondelete="SET NULL")
    )
    # reassign: the attendance correction that carries it (the timesheet follows it).
    correction_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("attendance_corrections.id")
    )
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint(one_of("action", REVIEW_ACTIONS), name="review_actions_action_check"),
        Index("review_actions_event_id_idx", "event_id"),
        Index("review_actions_user_id_idx", "user_id"),
    )
