"""Where a verification looks people up and logs its decision: the database, or,
while it is unreachable, the kiosk's gallery cache and spool.

FaceService.verify makes one decision with either; both give the same answers for
the same gallery (cosine similarity, best score per person, inactive people not
identified), so a decision made offline means what it means online.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

import numpy as np
from sqlalchemy.orm import Session

from facedb.errors import NoGalleryCacheError
from facedb.gallery_cache import GalleryCache
from facedb.spool import Spool
from facedb.store import attendance, gallery
from facedb.store.attendance import AttendanceEvent
from facedb.store.gallery import Match
from facedb.store.schema import Threshold


class Matcher(Protocol):
    offline: bool

    def calibrated_threshold(self, model: str) -> float | None: ...

    def similarity_to_user(self, user_id: int, probe: np.ndarray, model: str) -> float | None: ...

    def identify(self, probe: np.ndarray, model: str) -> list[Match]: ...

    def accepted_since(self, user_id: int, device: str, since: datetime) -> bool: ...

    def log_event(self, event: AttendanceEvent) -> None: ...


class SqlMatcher:
    """The database, in the caller's transaction."""

    offline = False

    def __init__(self, session: Session, ef_search: int) -> None:
        self.session = session
        self.ef_search = ef_search

    def calibrated_threshold(self, model: str) -> float | None:
        calibrated = self.session.get(Threshold, model)
        return None if calibrated is None else calibrated.threshold

    def similarity_to_user(self, user_id: int, probe: np.ndarray, model: str) -> float | None:
        return gallery.similarity_to_user(self.session, user_id, probe, model)

    def identify(self, probe: np.ndarray, model: str) -> list[Match]:
        return gallery.identify(self.session, probe, model, ef_search=self.ef_search)[0]

    def accepted_since(self, user_id: int, device: str, since: datetime) -> bool:
        return attendance.accepted_since(self.session, user_id, device, since)

    def log_event(self, event: AttendanceEvent) -> None:
        attendance.log_event(self.session, event)


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

    def identify(self, probe: np.ndarray, model: str) -> list[Match]:
        return self._gallery().identify(probe)

    def accepted_since(self, user_id: int, device: str, since: datetime) -> bool:
        return self.spool.accepted_since(user_id, device, since)

    def log_event(self, event: AttendanceEvent) -> None:
        self.spool.append(event)
