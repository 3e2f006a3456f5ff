"""The answers of the use cases: frozen dataclasses that the CLI, the HTTP API and
watch print or serialise."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from facedb.domain.people import Match
from facedb.store.erasure import ShredReport


@dataclass(frozen=True)
class EnrolResult:
    name: str
    user_id: int
    created: bool  # False when faces were added to an existing person
    added: int  # embeddings written now
    total: int  # embeddings of the person after this enrolment
    frames: int
    faces_rejected: int
    # Enrolled people whom a face of this one resembles (above the 1:1 threshold,
    # below the duplicate check's): recorded in `lookalikes` for review.
    lookalikes: tuple[Match, ...] = ()
    replaced: int = 0  # stored faces let go for more different new ones (enrol --add)
    not_stored: tuple[str, ...] = ()  # why faces seen were not stored, one line each


@dataclass(frozen=True)
class BulkOutcome:
    name: str
    status: str  # enrolled, added, skipped
    reason: str | None
    embeddings: int
    images: int
    lookalikes: tuple[Match, ...] = ()


@dataclass(frozen=True)
class FaceBox:
    """A face a decision used: where it was (pixels of its frame: x1, y1, x2, y2)."""

    origin: str  # the frame it came from
    box: tuple[float, float, float, float]
    det_score: float
    quality: float


@dataclass(frozen=True)
class IdentifiedFace:
    """One face of an image and who it is (``name`` None: nobody, or a poor face)."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2 pixels
    det_score: float
    quality_ok: bool
    reasons: tuple[str, ...]  # why the face failed the quality gate
    name: str | None
    similarity: float | None  # of the most similar person, even below the threshold
    candidates: list[Match]


@dataclass(frozen=True)
class IdentifyResult:
    faces: list[IdentifiedFace]  # largest face first
    threshold: float
    threshold_source: str
    model: str


@dataclass(frozen=True)
class VerifyResult:
    decision: str  # accepted, rejected, unknown, ambiguous, no_face, bad_quality, spoof
    kind: str  # verify (1:1, a claimed name) or identify (1:N)
    name: str | None  # who was recognised; None when nobody
    claimed: str | None
    similarity: float | None
    threshold: float
    threshold_source: str
    frames: int
    faces_used: int
    logged: bool  # False when the same person was logged within the cooldown
    event_id: uuid.UUID
    occurred_at: datetime
    model: str
    reasons: tuple[str, ...] = ()
    candidates: list[Match] = field(default_factory=list)
    faces: tuple[FaceBox, ...] = ()  # the faces the decision used, best first
    # Decided against the kiosk's gallery cache while the database was unreachable;
    # the event is in the spool until it is replayed.
    offline: bool = False
    # The lowest liveness score of the faces used (None: liveness off); below
    # settings.liveness_threshold the decision is spoof and nobody is matched.
    liveness: float | None = None
    # 1:N: the second person's similarity, the size of the gallery searched, the FPIR
    # target the threshold was set for and the FPIR predicted at it, and the scope.
    runner_up: float | None = None
    gallery_persons: int | None = None
    gallery_faces: int | None = None
    fpir_target: float | None = None
    predicted_fpir: float | None = None
    scope: str | None = None
    # The looks of the row this attempt is part of (one presence at a polling kiosk);
    # 0: no row (a repeat within the cooldown, a kiosk's look without a usable face).
    looks: int = 1

    @property
    def accepted(self) -> bool:
        return self.decision == "accepted"


@dataclass(frozen=True)
class ForgetResult:
    name: str
    user_id: int
    embeddings: int  # deleted from the database
    attendance: str  # the policy applied: keep, anonymise or delete
    attendance_rows: int  # rows kept, unlinked or deleted
    cache_files: int  # local gallery cache files the person was removed from
    shred: ShredReport | None = None  # the rewrite of the files (store/erasure.py)
