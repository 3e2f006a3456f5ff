"""An API key of the HTTP API as the layers pass it around: never the token, only its
name, role and dates (store/api_keys.py keeps them; facedb/access.py checks them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ApiKeyInfo:
    id: int
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def live(self) -> bool:
        return self.revoked_at is None
