"""Who may use the HTTP API: keys, their roles, and what each role may do.

A key is a random 32-byte token shown once at creation; the database keeps only its
sha256, so a stolen database does not give working keys. Roles:

    kiosk     verify and identify (what a door or a tablet at the entrance needs)
    reporter  the attendance log and reports
    admin     everything: enrol, list and remove people, and the above
    device    verify with an embedding it computed itself (vision at the edge), only
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from facedb.domain.constants import API_KEY_ROLES
from facedb.domain.keys import ApiKeyInfo
from facedb.domain.names import clean_name
from facedb.errors import DatabaseUnreachableError, InvalidInputError
from facedb.offline import identity, key_cache
from facedb.service import FaceService
from facedb.store import api_keys

log = logging.getLogger(__name__)

TOKEN_PREFIX = "fdb_"
TOKEN_BYTES = 32
# Longer tokens are refused before hashing: no real key is near this.
MAX_TOKEN_LENGTH = 200

ACTIONS = ("verify", "identify", "enrol", "users", "attendance", "report", "verify_embedding")
PERMISSIONS: dict[str, frozenset[str]] = {
    "kiosk": frozenset({"verify", "identify"}),
    "reporter": frozenset({"attendance", "report"}),
    # An embedding is trusted as the device's own camera's: only a device key sends one.
    "admin": frozenset(ACTIONS) - {"verify_embedding"},
    "device": frozenset({"verify_embedding"}),
}


@dataclass(frozen=True)
class NewKey:
    key: ApiKeyInfo
    token: str  # shown once; only its sha256 is stored


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def allows(role: str, action: str) -> bool:
    return action in PERMISSIONS.get(role, frozenset())


def check_role(role: str) -> str:
    if role not in API_KEY_ROLES:
        raise InvalidInputError(f"a key's role is one of {', '.join(API_KEY_ROLES)}, not {role!r}")
    return role


def create_key(
    service: FaceService, name: str, role: str, *, expires_at: datetime | None = None
) -> NewKey:
    """A new key with a fresh random token; the token is in the result only.
    ``expires_at``: from then on the key is refused (None: never); in the future."""
    name = clean_name(name)
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidInputError("a key's expiry needs a time zone (or is given in days)")
        if expires_at <= datetime.now(UTC):
            raise InvalidInputError(
                f"a key's expiry is in the future, not {expires_at:%Y-%m-%d %H:%M %Z}"
            )
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    with service.transaction() as session:
        key = api_keys.add_key(session, name, check_role(role), hash_token(token), expires_at)
    return NewKey(key, token)


def list_keys(service: FaceService, *, include_revoked: bool = False) -> list[ApiKeyInfo]:
    with service.transaction() as session:
        return api_keys.list_keys(session, include_revoked=include_revoked)


def revoke_key(service: FaceService, name: str) -> ApiKeyInfo:
    with service.transaction() as session:
        revoked = api_keys.revoke_key(session, clean_name(name))
    key_cache.remove_key(service.settings.home, revoked.id)  # at once on this machine
    return revoked


def authenticate(service: FaceService, token: str) -> ApiKeyInfo | None:
    """The live key this token belongs to, or None (unknown, revoked, expired or
    malformed). Its last use is recorded (to the minute) when the database answers.

    Online, the database answers, and the local copy of the live keys (key_cache.py)
    is refreshed when it is due or disagrees. While the database is unreachable, the
    copy answers; without a usable copy, DatabaseUnreachableError (HTTP 503)."""
    token = token.strip()
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    key_hash = hash_token(token)
    settings = service.settings
    where = identity.target(settings)
    try:
        with service.transaction() as session:
            found = api_keys.find_live_key(session, key_hash)
            if settings.cache_max_age > 0:
                copy = key_cache.load(settings.home, settings.cache_max_age, where)
                stale = copy is None or copy.age_seconds() >= settings.cache_refresh
                if stale or (copy is not None and (copy.find(key_hash) is None) != (found is None)):
                    key_cache.write(settings.home, api_keys.live_keys(session), where)
            return found
    except DatabaseUnreachableError as exc:
        copy = key_cache.load(settings.home, settings.cache_max_age, where)
        if copy is None:
            raise
        log.info("checking an API key against the local copy: %s", exc)
        cached = copy.find(key_hash)
        return None if cached is None or cached.expired(datetime.now(UTC)) else cached
