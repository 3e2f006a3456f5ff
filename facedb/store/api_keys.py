"""API keys of the HTTP API, in SQL. Only a key's sha256 is stored (facedb/access.py
makes and hashes the tokens); a revoked key keeps its row and frees its name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.orm import Session

from facedb.domain.keys import ApiKeyInfo
from facedb.errors import InvalidInputError
from facedb.store.tables.core import ApiKey
from facedb.store.unique import refused_as_duplicate

# last_used_at is written at most once a minute per key: a kiosk polling twice a
# second costs no write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _info(key: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        key.id,
        key.name,
        key.role,
        key.created_at,
        key.revoked_at,
        key.expires_at,
        key.last_used_at,
    )


def add_key(
    session: Session, name: str, role: str, key_hash: str, expires_at: datetime | None = None
) -> ApiKeyInfo:
    """Stores a new key; a live key of the same name is DuplicateNameError."""
    key = ApiKey(name=name, role=role, key_hash=key_hash, expires_at=expires_at)
    session.add(key)
    with refused_as_duplicate(
        session, f"an API key called {name!r} exists: revoke it first, or choose another name"
    ):
        session.flush()
    session.refresh(key)
    return _info(key)


def list_keys(session: Session, *, include_revoked: bool = False) -> list[ApiKeyInfo]:
    query = select(ApiKey).order_by(func.lower(ApiKey.name), ApiKey.created_at)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    return [_info(k) for k in session.scalars(query)]


def revoke_key(session: Session, name: str) -> ApiKeyInfo:
    """Marks the live key of this name revoked, from now on."""
    key = session.scalars(
        select(ApiKey).where(ApiKey.name == name, ApiKey.revoked_at.is_(None))
    ).first()
    if key is None:
        raise InvalidInputError(f"no live API key is called {name!r} (see `facedb keys list`)")
    key.revoked_at = datetime.now(UTC)
    session.flush()
    return _info(key)


def live_keys(session: Session) -> list[tuple[str, ApiKeyInfo]]:
    """(sha256, info) of every live key not expired: what a server copies for offline
    use (with each key's expiry, which the copy honours too)."""
    query = select(ApiKey).where(ApiKey.revoked_at.is_(None), _not_expired()).order_by(ApiKey.id)
    return [(k.key_hash, _info(k)) for k in session.scalars(query)]


def find_live_key(session: Session, key_hash: str) -> ApiKeyInfo | None:
    """The live, unexpired key of this hash, its last use recorded (to the minute)."""
    key = session.scalars(
        select(ApiKey).where(
            ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None), _not_expired()
        )
    ).first()
    if key is None:
        return None
    now = datetime.now(UTC)
    if key.last_used_at is None or key.last_used_at <= now - LAST_USED_RESOLUTION:
        session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key.id,
                or_(
                    ApiKey.last_used_at.is_(None),
                    ApiKey.last_used_at <= now - LAST_USED_RESOLUTION,
                ),
            )
            .values(last_used_at=now)
        )
        session.refresh(key)
    return _info(key)


def _not_expired() -> ColumnElement[bool]:
    return or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > func.now())
