"""A calibrated accept threshold, one per embedding model (`facedb calibrate`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class StoredThreshold:
    model: str
    threshold: float
    far: float
    tar: float | None
    pairs: int
    source: str | None
    calibrated_at: datetime
