"""Tables of the transactional outbox (facedb/events): where events go out.

    event_sinks          a destination: a webhook (URL, secret, decisions wanted) or the
                         MQTT broker; only events written after a sink exists reach it
    outbox               one message per attendance row, written in the row's own
                         transaction (facedb/store/outbox.py); deleted with the row
    outbox_deliveries    one per (message, sink): pending, delivered or dead, with the
                         attempts made, the next one's time and the last error

A pending delivery whose next_attempt_at is past is due. A worker claims it by moving
next_attempt_at forward by a lease before it sends, so that a worker that dies between
sending and recording the answer leaves it due again once the lease runs out: delivery
is at least once, and receivers deduplicate by the event id.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from facedb.store.tables.base import Base


class EventSink(Base):
    __tablename__ = "event_sinks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    # The webhook's URL, or "mqtt" for the broker of FACEDB_MQTT_URL.
    target: Mapped[str] = mapped_column(Text, nullable=False)
    # Decisions sent (accepted, unknown, ...); NULL: every decision.
    events: Mapped[list[str] | None] = mapped_column(ARRAY(Text))
    # HMAC-SHA256 key of a webhook's signature; NULL: deliveries are not signed.
    secret: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    # A webhook to a private address (a LAN door controller): `hooks add --allow-private`.
    allow_private: Mapped[bool] = mapped_column(
        Boolean, nullable=False, server_default=text("false")
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (
        CheckConstraint("kind IN ('webhook', 'mqtt')", name="event_sinks_kind_check"),
        Index("event_sinks_kind_target_key", "kind", "target", unique=True),
    )


class OutboxMessage(Base):
    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True),
        ForeignKey("attendance.event_id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class OutboxDelivery(Base):
    __tablename__ = "outbox_deliveries"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    message_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("outbox.id", ondelete="CASCADE"), nullable=False
    )
    sink_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("event_sinks.id", ondelete="CASCADE"), nullable=False
    )
    status: Mapped[str] = mapped_column(Text, nullable=False, server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default=text("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'delivered', 'dead')", name="outbox_deliveries_status_check"
        ),
        Index("outbox_deliveries_message_sink_key", "message_id", "sink_id", unique=True),
        # The worker's query: due pending deliveries, oldest first.
        Index(
            "outbox_deliveries_due_idx",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("outbox_deliveries_sink_id_idx", "sink_id", "status"),
    )
