"""The kiosk's side of an outage: the gallery cache that decides while the database is
unreachable, the spool that keeps the events until it is back, and their replay."""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from datetime import UTC, datetime

from sqlalchemy.exc import DBAPIError

from facedb.domain.attendance import AttendanceEvent
from facedb.errors import FacedbError, NoGalleryCacheError
from facedb.offline import gallery_cache, identity, sync
from facedb.offline.evidence_files import replay_files
from facedb.offline.matcher import CacheMatcher
from facedb.offline.spool import BatchOutcome, ReplayResult, SpoolStatus
from facedb.usecases.runtime import Runtime

log = logging.getLogger(__name__)


def offline_matcher(rt: Runtime) -> CacheMatcher:
    """This kiosk's gallery cache and spool, as the Matcher of an outage; with no
    usable cache, decisions that need no gallery are still made (facedb watch)."""
    try:
        return CacheMatcher(load_cache(rt), rt.spool)
    except NoGalleryCacheError as exc:
        return CacheMatcher(None, rt.spool, exc)


def load_cache(rt: Runtime) -> gallery_cache.GalleryCache:
    return gallery_cache.load(
        rt.settings.home,
        rt.pipeline.embedder_name,
        rt.settings.cache_max_age,
        database=identity.target(rt.settings),
    )


def sync_quietly(rt: Runtime, *, refresh_cache: bool) -> None:
    """Online again: replays the spool, and refreshes the gallery cache when it is
    older than cache_refresh. A failure is logged; the command goes on."""
    try:
        if rt.spool.has_pending():
            result = replay_spool(rt, wait=False)
            if result.sent:
                log.info("replayed %d spooled event(s), %d new", result.sent, result.inserted)
        if refresh_cache and _cache_due(rt):
            refresh(rt)
    except (FacedbError, DBAPIError, OSError) as exc:
        log.warning("could not sync with the database: %s", exc)


def _cache_due(rt: Runtime) -> bool:
    if rt.settings.cache_max_age <= 0:
        return False
    path = gallery_cache.cache_path(rt.settings.home, rt.pipeline.embedder_name)
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return True
    return age >= rt.settings.cache_refresh


def replay_spool(rt: Runtime, *, wait: bool = True) -> ReplayResult:
    """Sends the spooled events to the database, in order, each exactly once."""

    def write(events: list[AttendanceEvent]) -> BatchOutcome:
        with rt.transaction() as session:
            return sync.write_spooled(session, events)

    rt.connect()  # without the automatic replay of `database`: this is the replay
    result = rt.spool.replay(write, wait=wait)
    replay_files(rt.spool.directory, rt.transaction, rt.settings.evidence_days)
    return result


def spool_status(rt: Runtime) -> SpoolStatus:
    return rt.spool.status()


def refresh(rt: Runtime) -> gallery_cache.GalleryCache | None:
    """Rewrites this kiosk's gallery cache from the database (None: caching is off,
    FACEDB_CACHE_MAX_AGE=0, and any cache file is deleted)."""
    if rt.settings.cache_max_age <= 0:
        gallery_cache.clear(rt.settings.home)
        return None
    with rt.transaction() as session:
        snapshot = sync.snapshot(session, rt.pipeline.embedder_name)
    snapshot = dataclasses.replace(snapshot, database=identity.target(rt.settings))
    gallery_cache.write(rt.settings.home, snapshot)
    return snapshot


def cache_files(rt: Runtime) -> list[gallery_cache.GalleryCache]:
    """The gallery caches of this kiosk (any age); unreadable ones are left out."""
    caches = []
    for path in gallery_cache.cached_files(rt.settings.home):
        try:
            caches.append(gallery_cache.read(path))
        except NoGalleryCacheError as exc:
            log.warning("%s", exc)
    return caches


def clear_cache(rt: Runtime) -> int:
    return gallery_cache.clear(rt.settings.home)


def spool_unknown(
    rt: Runtime,
    kind: str,
    claimed_id: int | None,
    device: str | None,
    *,
    event_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
    threshold: float | None = None,
) -> None:
    """Spools an attempt no gallery could answer: decision unknown, offline."""
    rt.spool.append(
        AttendanceEvent(
            event_id=event_id if event_id is not None else uuid.uuid4(),
            occurred_at=occurred_at if occurred_at is not None else datetime.now(UTC),
            kind=kind,
            decision="unknown",
            user_id=None,
            claimed_user_id=claimed_id,
            similarity=None,
            threshold=threshold if threshold is not None else rt.settings.threshold,
            liveness=None,
            device=device or rt.settings.device_name,
            model=rt.pipeline.embedder_name,
            offline=True,
        )
    )


def offline_refusal(cause: NoGalleryCacheError) -> NoGalleryCacheError:
    return NoGalleryCacheError(
        f"the database is unreachable and {cause.message}; the attempt was logged as "
        "unknown (offline) in the spool and is sent to the database when it is back"
    )
