"""Where a decision looks people up and is recorded: the Matcher protocol and the
database's SqlMatcher; while the database is unreachable, the kiosk's gallery cache
and spool (offline/matcher.py's CacheMatcher).

The Recorder (usecases/recording.py) records through either; both give the same
answers for the same gallery (cosine similarity, best score per person, inactive
people not identified, a scope searched alone), so a decision made offline means
what it means online. Callers never ask which one they hold.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import numpy as np
from sqlalchemy.orm import Session

from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.domain.people import Match
from facedb.store import attendance, calibration, evidence, gallery, org, templates
from facedb.store.calibration import GallerySize
from facedb.store.evidence import NewEvidence
from facedb.store.search import Search, two_stage
from facedb.store.tables.core import Threshold


class Matcher(Protocol):
    offline: bool

    def calibrated_threshold(self, model: str) -> float | None: ...

    def similarity_to_user(self, user_id: int, probe: np.ndarray, model: str) -> float | None: ...

    def identify(
        self, probe: np.ndarray, model: str, scope: Sequence[int] | None = None
    ) -> list[Match]: ...

    def identify_many(self, probes: np.ndarray, model: str, top: int) -> list[list[Match]]:
        """1:N of several probes [K, 512] at once (a look-up of every face of an image)."""
        ...

    def scope(self, site: str | None, group: str | None) -> list[int] | None:
        """The people a search of this site and/or group considers (None: everyone)."""
        ...

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

    def join_presence(
        self, event: AttendanceEvent, since: datetime, probe: np.ndarray | None, same_face: float
    ) -> tuple[uuid.UUID, int] | None:
        """Adds the event as a look to the presence it continues (store/attendance.py
        join_presence): that row's (event_id, looks), or None for a new presence."""
        ...

    def log_event(self, event: AttendanceEvent) -> None: ...

    def keep_evidence(self, item: NewEvidence, days: float) -> bool:
        """Keeps the evidence of a logged event (a failure is logged, not raised)."""
        ...

    def closest_non_match(self, user_id: int, model: str, probe: np.ndarray) -> float | None:
        """The probe's highest similarity to a face a review found was not this person
        (None: none known here)."""
        ...


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
        search_ef: int | None = None,
    ) -> None:
        self.session = session
        self.ef_search = ef_search
        self.clear = clear  # store/search.py: a clear accept of the index stands
        self.candidates = candidates  # stage two: 0 a float scan, N binary codes
        # Stage one of a decision's search (search()); look-ups use ef_search.
        self.search_ef = ef_search if search_ef is None else search_ef
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
            ef_search=self.search_ef,
            user_ids=scope,
            candidates=self.candidates,
        )

    def identify_many(self, probes: np.ndarray, model: str, top: int) -> list[list[Match]]:
        return gallery.identify(self.session, probes, model, top=top, ef_search=self.ef_search)

    def scope(self, site: str | None, group: str | None) -> list[int] | None:
        return org.user_ids_in_scope(self.session, site, group)

    def gallery_size(self, model: str, scope: Sequence[int] | None = None) -> GallerySize:
        return calibration.gallery_size(self.reads, model, scope)

    def gallery_tail(self, model: str) -> dict[str, Any] | None:
        stored = calibration.load_calibration(self.reads, model)
        return None if stored is None else stored.tail

    def accepted_since(self, user_id: int, device: str, since: datetime) -> bool:
        return attendance.accepted_since(self.session, user_id, device, since, lock=True)

    def join_presence(
        self, event: AttendanceEvent, since: datetime, probe: np.ndarray | None, same_face: float
    ) -> tuple[uuid.UUID, int] | None:
        return attendance.join_presence(self.session, event, since, probe, same_face)

    def log_event(self, event: AttendanceEvent) -> None:
        attendance.log_event(self.session, event)

    def keep_evidence(self, item: NewEvidence, days: float) -> bool:
        return evidence.keep(self.session, item, days)

    def closest_non_match(self, user_id: int, model: str, probe: np.ndarray) -> float | None:
        return templates.closest_non_match(self.session, user_id, model, probe)
