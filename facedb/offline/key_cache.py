"""The API keys a server may accept while its database is unreachable: a local,
hashed, expiring copy of the live keys (``FACEDB_HOME/cache/api-keys.json``).

- Only what the database holds is copied: each live key's sha256, name, role and id.
  A stolen copy gives no working key.
- The copy is refreshed from the database by an online request when it is older than
  ``FACEDB_CACHE_REFRESH`` (300 s), and at once when a lookup disagrees with it (a key
  created or revoked since). ``facedb keys revoke`` on the server's machine removes
  the key from the copy at once. A key revoked elsewhere stops working offline at the
  next refresh, i.e. at most FACEDB_CACHE_REFRESH seconds after the revocation if the
  server stayed online, or when the database is back.
- The copy is refused when older than ``FACEDB_CACHE_MAX_AGE`` (86400 s): a server
  offline for longer accepts no key (503). ``FACEDB_CACHE_MAX_AGE=0`` keeps no copy.
- The copy names the database it came from (facedb/offline/identity.py): a copy of
  another database is never used.

Written by facedb.fsio.atomic_write: mode 0600, temporary file, fsync, rename.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from facedb.domain.keys import ApiKeyInfo
from facedb.fsio import atomic_write

log = logging.getLogger(__name__)

FILE_NAME = "api-keys.json"
FORMAT = 1


@dataclass(frozen=True)
class CachedKey:
    key_hash: str
    info: ApiKeyInfo


@dataclass(frozen=True)
class KeyCache:
    written_at: datetime
    database_id: str | None
    keys: tuple[CachedKey, ...]

    def find(self, key_hash: str) -> ApiKeyInfo | None:
        return next((k.info for k in self.keys if k.key_hash == key_hash), None)

    def age_seconds(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.written_at).total_seconds()


def cache_file(home: Path) -> Path:
    return home / "cache" / FILE_NAME


def write(home: Path, keys: list[tuple[str, ApiKeyInfo]], database_id: str | None) -> Path:
    """Replaces the copy with ``keys`` ((sha256, info) of every live key)."""
    payload = {
        "format": FORMAT,
        "written_at": datetime.now(UTC).isoformat(),
        "database_id": database_id,
        "keys": [
            {
                "hash": key_hash,
                "id": info.id,
                "name": info.name,
                "role": info.role,
                "created_at": info.created_at.isoformat(),
                "expires_at": info.expires_at.isoformat() if info.expires_at else None,
            }
            for key_hash, info in keys
        ],
    }
    path = cache_file(home)
    _atomic_json(path, payload)
    return path


def _atomic_json(path: Path, payload: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, json.dumps(payload).encode("utf-8"))


def load(home: Path, max_age_s: float, database_id: str | None) -> KeyCache | None:
    """The copy, or None when there is none, it is unreadable, older than
    ``max_age_s``, or of another database than ``database_id`` (when both are known)."""
    if max_age_s <= 0:
        return None
    path = cache_file(home)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        cache = KeyCache(
            datetime.fromisoformat(payload["written_at"]),
            payload.get("database_id"),
            tuple(
                CachedKey(
                    str(k["hash"]),
                    ApiKeyInfo(
                        int(k["id"]),
                        str(k["name"]),
                        str(k["role"]),
                        datetime.fromisoformat(k["created_at"]),
                        None,
                        datetime.fromisoformat(k["expires_at"]) if k.get("expires_at") else None,
                    ),
                )
                for k in payload["keys"]
            ),
        )
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("ignoring the unreadable API key copy %s: %s", path, exc)
        return None
    if cache.age_seconds() > max_age_s:
        log.info(
            "the API key copy is %.0f s old, above %.0f s: not used", cache.age_seconds(), max_age_s
        )
        return None
    if database_id is not None and cache.database_id not in (None, database_id):
        log.warning("the API key copy %s is of another database: not used", path)
        return None
    return cache


def remove_key(home: Path, key_id: int) -> None:
    """Drops one key from the copy (a revocation made on this machine)."""
    path = cache_file(home)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        payload["keys"] = [k for k in payload["keys"] if int(k["id"]) != key_id]
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError):
        path.unlink(missing_ok=True)  # unreadable: no copy is safer than a wrong one
        return
    _atomic_json(path, payload)


def clear(home: Path) -> None:
    cache_file(home).unlink(missing_ok=True)
