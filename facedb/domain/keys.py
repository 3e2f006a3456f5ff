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
    expires_at: datetime | None = None  # None: never
    last_used_at: datetime | None = None  # to the minute; None: never used

    @property
    def live(self) -> bool:
        return self.revoked_at is None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now
