"""A doubtful event as the review queue shows it (docs/REVIEW.md)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

# What the queue shows: events nobody reviewed, those reviewed, or both.
STATUSES = ("open", "reviewed", "all")


@dataclass(frozen=True)
class Candidate:
    user_id: int
    name: str
    similarity: float


@dataclass(frozen=True)
class EvidenceInfo:
    """One doubtful event as the review queue shows it."""

    event_id: uuid.UUID
    occurred_at: datetime
    kind: str
    decision: str
    name: str | None  # who the event counts for as logged (accepted only)
    claimed: str | None  # 1:1: who was claimed
    similarity: float | None
    threshold: float | None
    runner_up: float | None
    device: str | None
    quality_ok: bool
    liveness: float | None
    reasons: tuple[str, ...]
    candidates: tuple[Candidate, ...]
    thumbnail_bytes: int
    status: str  # open, or the last review action: accept, reassign, dismiss, enrol
    reviewed_by: str | None
    reviewed_person: str | None  # reassign/enrol: the person named by the review
