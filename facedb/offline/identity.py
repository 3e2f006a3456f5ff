"""Which database a local copy (gallery cache, API key copy, spool) belongs to.

A kiosk may be pointed at another database (FACEDB_DATABASE_URL changed, or unset for
the embedded one) while its FACEDB_HOME still holds copies made from the previous one.
Offline, the database cannot be asked who it is, so the copies name their *target*:
the configured URL with its password masked (a password change is the same database),
or the embedded server of this FACEDB_HOME. A copy of another target is never used,
and spooled events of another target are never replayed (facedb/offline/spool.py keeps them).
"""

from __future__ import annotations

from facedb.config import Settings
from facedb.store.connection import recorded_url


def target(settings: Settings) -> str:
    """The database that ``settings`` name, as copies record it."""
    if not settings.database_url:
        return f"embedded:{settings.home.resolve()}"
    return recorded_url(settings.database_url)
