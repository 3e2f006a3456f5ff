"""Where a verification looks people up and logs its decision: the Matcher protocol
and the database's SqlMatcher; while the database is unreachable, the kiosk's gallery
cache and spool (offline/matcher.py's CacheMatcher).

FaceService.verify makes one decision with either; both give the same answers for
the same gallery (cosine similarity, best score per person, inactive people not
identified), so a decision made offline means what it means online.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.domain.people import Match
from facedb.store import attendance, calibration, gallery
from facedb.store.calibration import GallerySize
from facedb.store.schema import Threshold
from facedb.store.search import Search, two_stage

# pg_advisory_xact_lock(key1, key2): key1 names facedb's cooldown locks, key2 the person.
COOLDOWN_LOCK = 0x46444243  # "FDBC"
_COOLDOWN_LOCK_SQL = text(
    "SELECT pg_advisory_xact_lock(CAST(:ns AS integer), CAST(:user_id % 2147483647 AS integer))"
)


class Matcher(Protocol):
    offline: bool

    def calibrated_threshold(self, model: str) -> float | None: ...

    def similarity_to_user(self, user_id: int, probe: np.ndarray, model: str) -> float | None: ...

    def identify(
        self, probe: np.ndarray, model: str, scope: Sequence[int] | None = None
    ) -> list[Match]: ...

    def search(
        self,
        probe: np.ndarray,
        model: str,
        scope: Sequence[int] | None,
        threshold: float,
        margin: float,
    ) -> Search:
        """A decision's 1:N: people as ``identify`` finds them, with exact search's
        answer wherever the index's may differ from it (store/search.py)."""
        ...

    def gallery_size(self, model: str, scope: Sequence[int] | None = None) -> GallerySize: ...

    def gallery_tail(self, model: str) -> dict[str, Any] | None: ...

    def accepted_since(self, user_id: int, device: str, since: datetime) -> bool:
        """Whether the person was accepted at the device since then. Online, it also
        holds a lock on the person until the transaction ends, so that concurrent
        attempts (API workers, processes) see each other's rows: one event per cooldown."""
        ...

    def log_event(self, event: AttendanceEvent) -> None: ...


class SqlMatcher:
    """The database, in the caller's transaction."""

    offline = False

    def __init__(
        self,
        session: Session,
        ef_search: int,
        clear: float = Settings.search_clear,
        reads: Session | None = None,
        candidates: int = Settings.search_candidates,
    ) -> None:
        self.session = session
        self.ef_search = ef_search
        self.clear = clear  # store/search.py: a clear accept of the index stands
        self.candidates = candidates  # stage two: 0 a float scan, N binary codes
        # Where the gallery is read (a replica, store/replica.py); the attendance log
        # (the cooldown under its lock, and the rows) is always the primary's.
        self.reads = reads if reads is not None else session

    def calibrated_threshold(self, model: str) -> float | None:
        calibrated = self.reads.get(Threshold, model)
        return None if calibrated is None else calibrated.threshold

    def similarity_to_user(self, user_id: int, probe: np.ndarray, model: str) -> float | None:
        return gallery.similarity_to_user(self.reads, user_id, probe, model)

    def identify(
        self, probe: np.ndarray, model: str, scope: Sequence[int] | None = None
    ) -> list[Match]:
        return gallery.identify(self.reads, probe, model, ef_search=self.ef_search, user_ids=scope)[
            0
        ]

    def search(
        self,
        probe: np.ndarray,
        model: str,
        scope: Sequence[int] | None,
        threshold: float,
        margin: float,
    ) -> Search:
        return two_stage(
            self.reads,
            probe,
            model,
            threshold=threshold,
            margin=margin,
            clear=self.clear,
            ef_search=self.ef_search,
            user_ids=scope,
            candidates=self.candidates,
        )

    def gallery_size(self, model: str, scope: Sequence[int] | None = None) -> GallerySize:
        return calibration.gallery_size(self.reads, model, scope)

    def gallery_tail(self, model: str) -> dict[str, Any] | None:
        stored = calibration.load_calibration(self.reads, model)
        return None if stored is None else stored.tail

    def accepted_since(self, user_id: int, device: str, since: datetime) -> bool:
        # Transaction-scoped: released at commit, after this attempt's row is written.
        self.session.execute(_COOLDOWN_LOCK_SQL, {"ns": COOLDOWN_LOCK, "user_id": user_id})
        return attendance.accepted_since(self.session, user_id, device, since)

    def log_event(self, event: AttendanceEvent) -> None:
        attendance.log_event(self.session, event)
