"""An enrolled person as the layers pass it around: a match of a probe, and a summary
for listings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Match:
    user_id: int
    name: str
    similarity: float


@dataclass(frozen=True)
class UserSummary:
    id: int
    name: str
    external_id: str | None
    active: bool
    created_at: datetime
    embeddings: int
    meta: dict[str, Any]
