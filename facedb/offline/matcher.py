"""The Matcher of a kiosk whose database is unreachable: its gallery cache to match
against and its spool to log to (facedb/matching.py has the protocol)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import numpy as np

from facedb.domain.attendance import AttendanceEvent
from facedb.domain.people import Match
from facedb.errors import NoGalleryCacheError
from facedb.offline.evidence_files import EVIDENCE_DIR, write_file
from facedb.offline.gallery_cache import GalleryCache
from facedb.offline.spool import Spool
from facedb.store.calibration import GallerySize
from facedb.store.evidence import NewEvidence
from facedb.store.search import STAGE_EXACT, Search

log = logging.getLogger(__name__)


class CacheMatcher:
    """The gallery cache and the spool, which every event goes to, marked offline.

    ``cache`` None: there is no usable cache (``missing`` says why); decisions that
    need no gallery (no face, a spoof) are still made, matching raises ``missing``."""

    offline = True

    def __init__(
        self,
        cache: GalleryCache | None,
        spool: Spool,
        missing: NoGalleryCacheError | None = None,
    ) -> None:
        self.cache = cache
        self.spool = spool
        self.missing = missing

    def _gallery(self) -> GalleryCache:
        if self.cache is None:
            raise self.missing or NoGalleryCacheError("there is no offline gallery cache")
        return self.cache

    def calibrated_threshold(self, model: str) -> float | None:
        return None if self.cache is None else self.cache.calibrated_threshold

    def similarity_to_user(self, user_id: int, probe: np.ndarray, model: str) -> float | None:
        return self._gallery().similarity_to_user(user_id, probe)

    def identify(
        self, probe: np.ndarray, model: str, scope: Sequence[int] | None = None
    ) -> list[Match]:
        return self._gallery().identify(probe, scope=scope)

    def identify_many(self, probes: np.ndarray, model: str, top: int) -> list[list[Match]]:
        gallery = self._gallery()
        return [gallery.identify(probe, top) for probe in probes]

    def scope(self, site: str | None, group: str | None) -> list[int] | None:
        if site is None and group is None:
            return None
        return self._gallery().scope(site, group)

    def search(
        self,
        probe: np.ndarray,
        model: str,
        scope: Sequence[int] | None,
        threshold: float,
        margin: float,
    ) -> Search:
        # The cache is searched by a scan of every face in memory: exact search.
        return Search(self.identify(probe, model, scope), STAGE_EXACT)

    def gallery_size(self, model: str, scope: Sequence[int] | None = None) -> GallerySize:
        cache = self._gallery()
        active = {u.id for u in cache.users if u.active}
        if scope is not None:
            active &= set(scope)
        owners = [int(o) for o in cache.owners.tolist() if int(o) in active]
        return GallerySize(len(set(owners)), len(owners))

    def gallery_tail(self, model: str) -> dict[str, Any] | None:
        return None if self.cache is None else self.cache.gallery_tail

    def accepted_since(self, user_id: int, device: str, since: datetime) -> bool:
        return self.spool.accepted_since(user_id, device, since)

    def join_presence(
        self, event: AttendanceEvent, since: datetime, probe: np.ndarray | None, same_face: float
    ) -> tuple[uuid.UUID, int] | None:
        # The spool is append-only: offline, every look is its own row.
        return None

    def log_event(self, event: AttendanceEvent) -> None:
        self.spool.append(event)

    def closest_non_match(self, user_id: int, model: str, probe: np.ndarray) -> float | None:
        # The gallery cache holds no known non-matches: offline, none is checked
        # (docs/TEMPLATES.md).
        return None

    def keep_evidence(self, item: NewEvidence, days: float) -> bool:
        try:
            write_file(self.spool.directory / EVIDENCE_DIR, item)
        except OSError as exc:
            log.warning("could not keep the evidence of event %s: %s", item.event_id, exc)
            return False
        return True
