"""A read-only copy of the gallery on the kiosk's disk, to verify while the database
is unreachable.

One file per embedding model, FACEDB_HOME/cache/gallery-<model>.npz (mode 0600: it
holds biometric data), with three arrays:

    embeddings  float32 [N, 512], L2-normalised, as stored in face_embeddings
    owners      int64 [N], the user id of each embedding
    meta        uint8: a UTF-8 JSON header: format, model, written_at (UTC ISO),
                the calibrated threshold of the model (or null), the people
                [{"id", "name", "active"}], and who belongs to which site and
                group {"sites": {name: [ids]}, "groups": {name: [ids]}} (absent in a
                cache of an older facedb: no scoped search offline)

It is written atomically (a temporary file in the same folder, fsync, rename over the
old file, fsync of the folder): a reader sees the old cache or the new one, never a
mix. A cache older than the configured maximum age is refused. Matching has the
semantics of store/gallery.py: similarity = cosine similarity (a dot product of unit
vectors), the best score per person, inactive people never identified (1:N) but
still checked when claimed (1:1).
"""

from __future__ import annotations

import io
import json
import logging
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facedb.domain.names import clean_name
from facedb.domain.people import Match
from facedb.errors import InvalidInputError, NoGalleryCacheError
from facedb.fsio import atomic_write
from facedb.numeric import l2_normalize
from facedb.store.tables.base import EMBEDDING_DIM

log = logging.getLogger(__name__)

CACHE_DIR = "cache"
FORMAT_VERSION = 1
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class CachedUser:
    id: int
    name: str
    active: bool


@dataclass(frozen=True)
class GalleryCache:
    """One model's gallery, as read from the database at ``written_at``."""

    model: str
    written_at: datetime  # timezone-aware, UTC
    calibrated_threshold: float | None
    users: tuple[CachedUser, ...]
    owners: npt.NDArray[np.int64]  # [N] user id of each embedding
    embeddings: npt.NDArray[np.float32]  # [N, 512], L2-normalised
    # The database it was read from (facedb/offline/identity.py target); None: not recorded.
    database: str | None = None
    # The gallery's own 1:N calibration (ImpostorTail JSON), so that an offline
    # search uses the threshold an online one would; None: the model's alone.
    gallery_tail: dict[str, Any] | None = None
    # Who belongs to which site and group ({"sites": {name: [user ids]}, "groups":
    # ...}), so that an offline search of a scope searches only it; None: not recorded.
    memberships: dict[str, dict[str, list[int]]] | None = None

    def scope(self, site: str | None, group: str | None) -> list[int] | None:
        """The ids of the people of this site and/or group, as org.user_ids_in_scope
        (None: no scope). NoGalleryCacheError when the cache does not know the
        memberships, InvalidInputError for a site or group it does not know."""
        if site is None and group is None:
            return None
        if self.memberships is None:
            raise NoGalleryCacheError(
                "the offline gallery cache does not record sites and groups (written by "
                "an older facedb), so a scoped search cannot be made offline"
            )
        chosen: set[int] | None = None
        for kind, name in (("sites", site), ("groups", group)):
            if name is None:
                continue
            known = {n.lower(): ids for n, ids in self.memberships.get(kind, {}).items()}
            ids = known.get(clean_name(name).lower())
            if ids is None:
                raise InvalidInputError(
                    f"no {kind[:-1]} is called {clean_name(name)!r} "
                    "(offline: the kiosk's gallery cache was checked)"
                )
            chosen = set(ids) if chosen is None else chosen & set(ids)
        return sorted(chosen or ())

    def age_seconds(self, now: datetime | None = None) -> float:
        return ((now or datetime.now(UTC)) - self.written_at).total_seconds()

    def find_user(self, name: str) -> CachedUser | None:
        """The person called ``name``, letter case ignored (as gallery.find_user)."""
        wanted = clean_name(name).lower()
        return next((u for u in self.users if u.name.lower() == wanted), None)

    def similarity_to_user(self, user_id: int, probe: np.ndarray) -> float | None:
        """1:1: the best similarity of the probe to one person's embeddings."""
        mine = self.embeddings[self.owners == user_id]
        if mine.shape[0] == 0:
            return None
        return float(np.max(mine @ _unit(probe)))

    def identify(
        self, probe: np.ndarray, top: int = 5, scope: Sequence[int] | None = None
    ) -> list[Match]:
        """1:N: the most similar active people (of ``scope`` when given), most similar
        first (exact search)."""
        if self.embeddings.shape[0] == 0:
            return []
        scores = self.embeddings @ _unit(probe)
        order = np.argsort(-scores, kind="stable")
        # The first row of each person in descending score order is their best score.
        owners, first = np.unique(self.owners[order], return_index=True)
        best = scores[order][first]
        allowed = None if scope is None else set(scope)
        people = {u.id: u for u in self.users if u.active and (allowed is None or u.id in allowed)}
        ranked = sorted(
            (
                Match(uid, people[uid].name, float(score))
                for uid, score in zip(owners.tolist(), best.tolist(), strict=True)
                if uid in people
            ),
            key=lambda m: m.similarity,
            reverse=True,
        )
        return ranked[:top]

    def without_user(self, user_id: int) -> GalleryCache:
        keep = self.owners != user_id
        return GalleryCache(
            model=self.model,
            written_at=self.written_at,
            calibrated_threshold=self.calibrated_threshold,
            users=tuple(u for u in self.users if u.id != user_id),
            owners=self.owners[keep],
            embeddings=self.embeddings[keep],
            database=self.database,
            gallery_tail=self.gallery_tail,
            memberships=None
            if self.memberships is None
            else {
                kind: {name: [i for i in ids if i != user_id] for name, ids in named.items()}
                for kind, named in self.memberships.items()
            },
        )


def _unit(vector: np.ndarray) -> npt.NDArray[np.float32]:
    return l2_normalize(np.asarray(vector, dtype=np.float32).reshape(-1))


def cache_dir(home: Path) -> Path:
    return home / CACHE_DIR


def cache_path(home: Path, model: str) -> Path:
    return cache_dir(home) / f"gallery-{_UNSAFE.sub('_', model)}.npz"


def write(home: Path, cache: GalleryCache) -> Path:
    """Writes (replaces) the cache of ``cache.model`` atomically; returns its path."""
    path = cache_path(home, cache.model)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    meta = {
        "format": FORMAT_VERSION,
        "model": cache.model,
        "written_at": cache.written_at.astimezone(UTC).isoformat(),
        "calibrated_threshold": cache.calibrated_threshold,
        "database": cache.database,
        "gallery_tail": cache.gallery_tail,
        "memberships": cache.memberships,
        "users": [{"id": u.id, "name": u.name, "active": u.active} for u in cache.users],
    }
    buffer = io.BytesIO()
    np.savez(
        buffer,
        embeddings=np.asarray(cache.embeddings, dtype=np.float32).reshape(-1, EMBEDDING_DIM),
        owners=np.asarray(cache.owners, dtype=np.int64),
        meta=np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8),
    )
    atomic_write(path, buffer.getvalue())
    log.info("wrote the offline gallery cache %s (%d embeddings)", path, len(cache.owners))
    return path


def load(
    home: Path,
    model: str,
    max_age_s: float,
    now: datetime | None = None,
    database: str | None = None,
) -> GalleryCache:
    """The cache of ``model``, refused (NoGalleryCacheError) when missing, unreadable,
    older than ``max_age_s`` seconds (0 = offline verification disabled), or made from
    another database than ``database`` (facedb/offline/identity.py; None: not checked)."""
    if max_age_s <= 0:
        raise NoGalleryCacheError(
            "offline verification is disabled (FACEDB_CACHE_MAX_AGE=0): no gallery is kept "
            "on this kiosk"
        )
    path = cache_path(home, model)
    cache = read(path)
    if database is not None and cache.database != database:
        raise NoGalleryCacheError(
            f"the offline gallery cache {path} was made from another database "
            f"({cache.database or 'not recorded'}), not {database}: it is rewritten when "
            "this kiosk reaches its database (facedb cache refresh)"
        )
    age = cache.age_seconds(now)
    if age > max_age_s:
        raise NoGalleryCacheError(
            f"the offline gallery cache {path} is {_hours(age)} old, older than "
            f"FACEDB_CACHE_MAX_AGE ({_hours(max_age_s)}): it is refreshed when this kiosk "
            "reaches the database (facedb cache refresh)"
        )
    return cache


def read(path: Path) -> GalleryCache:
    """The cache in ``path``, whatever its age."""
    try:
        with np.load(path, allow_pickle=False) as data:
            meta: dict[str, Any] = json.loads(bytes(data["meta"]).decode("utf-8"))
            embeddings = np.asarray(data["embeddings"], dtype=np.float32)
            owners = np.asarray(data["owners"], dtype=np.int64)
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"format {meta.get('format')!r}")
        if embeddings.ndim != 2 or embeddings.shape[1:] != (EMBEDDING_DIM,):
            raise ValueError(f"embeddings of shape {embeddings.shape}")
        if owners.shape != (embeddings.shape[0],):
            raise ValueError("owners do not match the embeddings")
        written_at = datetime.fromisoformat(meta["written_at"])
        if written_at.tzinfo is None:
            raise ValueError("written_at has no time zone")
        threshold = meta.get("calibrated_threshold")
        users = tuple(
            CachedUser(int(u["id"]), str(u["name"]), bool(u["active"])) for u in meta["users"]
        )
        return GalleryCache(
            model=str(meta["model"]),
            written_at=written_at,
            calibrated_threshold=None if threshold is None else float(threshold),
            users=users,
            owners=owners,
            embeddings=embeddings,
            database=meta.get("database"),
            gallery_tail=tail if isinstance(tail := meta.get("gallery_tail"), dict) else None,
            memberships=_memberships(meta.get("memberships")),
        )
    except FileNotFoundError:
        raise NoGalleryCacheError(
            f"no offline gallery cache ({path}): it is written when this kiosk reaches the "
            "database (facedb cache refresh)"
        ) from None
    except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as exc:
        raise NoGalleryCacheError(
            f"the offline gallery cache {path} is unreadable: {exc}"
        ) from None


def _memberships(raw: Any) -> dict[str, dict[str, list[int]]] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ValueError("memberships is not an object")
    if not all(isinstance(named, dict) for named in raw.values()):
        raise ValueError("memberships are not objects")
    return {
        str(kind): {str(name): [int(i) for i in ids] for name, ids in named.items()}
        for kind, named in raw.items()
    }


def cached_files(home: Path) -> list[Path]:
    directory = cache_dir(home)
    return sorted(directory.glob("gallery-*.npz")) if directory.is_dir() else []


def purge_user(home: Path, user_id: int) -> int:
    """Removes one person (their embeddings and name) from every cache of this home;
    returns how many cache files held them. An unreadable cache file is deleted."""
    changed = 0
    for path in cached_files(home):
        try:
            cache = read(path)
        except NoGalleryCacheError:
            path.unlink(missing_ok=True)
            continue
        if user_id in {u.id for u in cache.users} or bool(np.any(cache.owners == user_id)):
            write(home, cache.without_user(user_id))
            changed += 1
    return changed


def clear(home: Path) -> int:
    """Deletes every cache file of this home; returns how many there were."""
    files = cached_files(home)
    for path in files:
        path.unlink(missing_ok=True)
    return len(files)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds:.0f} s"
