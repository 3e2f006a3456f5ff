"""Faces learned from accepted decisions, as the layers pass them around
(facedb/usecases/template_updates.py)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class AddedFace:
    """One face added to a person's template from an accepted decision, with the
    evidence it was added on; ``removed_at`` set once it was taken out again."""

    id: int
    person: str
    event_id: uuid.UUID
    model: str
    added_at: datetime
    similarity: float  # the decision's, to the person
    threshold: float  # the decision's
    runner_up: float | None  # the second person's similarity then
    liveness: float | None
    quality: float
    nearest: float  # the face's similarity to the person's nearest stored face then
    removed_at: datetime | None
    removed_by: str | None
    removed_why: str | None

    @property
    def active(self) -> bool:
        return self.removed_at is None
