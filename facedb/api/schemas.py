"""What the API takes and returns: pydantic models at the HTTP boundary.

Requests carry images either as multipart/form-data ("image" file parts and plain
fields) or as JSON with base64 images; both are described in the OpenAPI schema.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from facedb.domain.attendance import AttendanceRow, Report
from facedb.domain.names import NAME_MAX_LENGTH
from facedb.domain.people import UserSummary
from facedb.usecases.results import EnrolResult, IdentifyResult, VerifyResult

# Images in one request: enough for a short burst of camera frames.
MAX_IMAGES = 10
# Numbers in a device's embedding (store/schema.py EMBEDDING_DIM, which the API may
# not import; usecases/edge.py checks it again).
EMBEDDING_LENGTH = 512

Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX_LENGTH)]
Box = Annotated[
    list[float], Field(min_length=4, max_length=4, description="x1, y1, x2, y2 in pixels")
]
Base64Image = Annotated[
    str, Field(description="An encoded image (JPEG, PNG, ...) in base64, or a data: URL")
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    # from_attributes: a response whose fields match a service dataclass's is read
    # from it directly (model_validate), not copied field by field.
    model_config = ConfigDict(frozen=True, from_attributes=True)


# -- requests ---------------------------------------------------------------------


class EnrolFields(_In):
    name: Name
    add: bool = Field(False, description="Add faces to a person already enrolled.")
    force: bool = Field(False, description="Enrol even if the face matches another person.")
    largest: bool = Field(False, description="Take the largest face of an image with several.")


class EnrolJson(EnrolFields):
    images: list[Base64Image] = Field(min_length=1, max_length=MAX_IMAGES)


class VerifyFields(_In):
    name: Name | None = Field(None, description="The claimed identity (1:1); none: 1:N.")


class VerifyJson(VerifyFields):
    images: list[Base64Image] = Field(min_length=1, max_length=MAX_IMAGES)


class VerifyEmbeddingJson(_In):
    """Vision at the edge (a device key): the embedding a device computed itself."""

    embedding: list[Annotated[float, Field(allow_inf_nan=False)]] = Field(
        min_length=EMBEDDING_LENGTH,
        max_length=EMBEDDING_LENGTH,
        description="The face's embedding: 512 numbers (normalised here).",
    )
    model: str = Field(
        min_length=1, max_length=200, description="The embedder that computed it: the gallery's."
    )
    name: Name | None = Field(None, description="The claimed identity (1:1); none: 1:N.")
    liveness: float | None = Field(
        None, ge=0.0, le=1.0, description="The device's liveness score, recorded as its claim."
    )


class IdentifyFields(_In):
    pass


class IdentifyJson(IdentifyFields):
    image: Base64Image


# -- responses --------------------------------------------------------------------


class EnrolOut(_Out):
    name: str
    created: bool
    added: int
    total: int
    images: int
    faces_rejected: int

    @classmethod
    def of(cls, r: EnrolResult) -> EnrolOut:
        return cls(
            name=r.name,
            created=r.created,
            added=r.added,
            total=r.total,
            images=r.frames,
            faces_rejected=r.faces_rejected,
        )


class FaceOut(_Out):
    image: int = Field(description="Index of the image the face is in.")
    box: Box
    det_score: float
    quality: float


class VerifyOut(_Out):
    decision: str = Field(description="accepted, rejected or unknown (or spoof)")
    accepted: bool
    kind: str = Field(description="verify (1:1, a claimed name) or identify (1:N)")
    person: str | None = Field(description="Who was recognised; null when nobody.")
    claimed: str | None
    similarity: float | None = Field(description="Cosine similarity of the best match.")
    threshold: float
    threshold_source: str
    logged: bool = Field(description="False when already logged within the cooldown.")
    offline: bool = Field(
        default=False,
        description="Decided on the server's gallery cache while the database was "
        "unreachable; the event is spooled and sent when the database is back.",
    )
    event_id: uuid.UUID
    occurred_at: datetime
    model: str
    images: int
    faces: list[FaceOut]

    @classmethod
    def of(cls, r: VerifyResult, origins: list[str]) -> VerifyOut:
        return cls(
            decision=r.decision,
            accepted=r.accepted,
            kind=r.kind,
            person=r.name,
            claimed=r.claimed,
            similarity=r.similarity,
            threshold=r.threshold,
            threshold_source=r.threshold_source,
            logged=r.logged,
            offline=r.offline,
            event_id=r.event_id,
            occurred_at=r.occurred_at,
            model=r.model,
            images=r.frames,
            faces=[
                FaceOut(
                    image=origins.index(f.origin) if f.origin in origins else 0,
                    box=list(f.box),
                    det_score=f.det_score,
                    quality=f.quality,
                )
                for f in r.faces
            ],
        )


class CandidateOut(_Out):
    name: str
    similarity: float


class IdentifiedFaceOut(_Out):
    """One face; ``candidates`` lists the people at or above the threshold only."""

    box: Box
    det_score: float
    quality_ok: bool
    reasons: list[str]
    name: str | None = Field(description="Who it is; null: nobody known, or a poor face.")
    similarity: float | None
    candidates: list[CandidateOut]


class IdentifyOut(_Out):
    faces: list[IdentifiedFaceOut]
    threshold: float
    threshold_source: str
    model: str

    @classmethod
    def of(cls, r: IdentifyResult) -> IdentifyOut:
        return cls(
            faces=[
                IdentifiedFaceOut(
                    box=list(f.box),
                    det_score=f.det_score,
                    quality_ok=f.quality_ok,
                    reasons=list(f.reasons),
                    name=f.name,
                    similarity=f.similarity,
                    # Only people at or above the threshold are named: a kiosk does
                    # not learn whom a stranger looks most like.
                    candidates=[
                        CandidateOut(name=c.name, similarity=c.similarity)
                        for c in f.candidates
                        if c.similarity >= r.threshold
                    ],
                )
                for f in r.faces
            ],
            threshold=r.threshold,
            threshold_source=r.threshold_source,
            model=r.model,
        )


class UserOut(_Out):
    name: str
    external_id: str | None
    active: bool
    created_at: datetime
    embeddings: int
    meta: dict[str, Any]

    @classmethod
    def of(cls, u: UserSummary) -> UserOut:
        return cls.model_validate(u)


class RemovedOut(_Out):
    name: str
    embeddings_removed: int


class ForgetOut(_Out):
    name: str
    embeddings_removed: int
    attendance: str = Field(description="keep, anonymise or delete: what was done to the rows")
    attendance_rows: int = Field(description="attendance rows kept, unlinked or deleted")
    shredded: bool = Field(
        description="the files that held the vectors were rewritten and the WAL pushed "
        "past a checkpoint (false: see the server's log for what could not run)"
    )


class AttendanceOut(_Out):
    event_id: uuid.UUID
    occurred_at: datetime
    kind: str
    decision: str
    name: str | None
    claimed_name: str | None
    similarity: float | None
    threshold: float | None
    liveness: float | None
    device: str | None
    model: str | None
    offline: bool
    looks: int = Field(1, description="Looks (kiosk polls) this row stands for: one presence.")
    last_seen_at: datetime | None = None

    @classmethod
    def of(cls, a: AttendanceRow) -> AttendanceOut:
        return cls.model_validate(a)


class PersonDayOut(_Out):
    name: str
    day: date
    first_seen: datetime
    last_seen: datetime
    accepted: int


class ReportOut(_Out):
    date_from: date
    date_to: date
    timezone: str
    present: list[PersonDayOut]
    absent: list[str]
    attempts: dict[str, int]

    @classmethod
    def of(cls, r: Report) -> ReportOut:
        return cls.model_validate(r)


class DatabaseHealth(_Out):
    ok: bool
    error: str | None


class ModelHealth(_Out):
    name: str
    role: str
    provider: str | None


class HealthOut(_Out):
    status: str = Field(
        description="ok; degraded: offline (database unreachable, kiosks answered from "
        "the gallery cache and spooled); or unavailable (then the HTTP status is 503)"
    )
    version: str
    device: str
    database: DatabaseHealth
    models: list[ModelHealth]
    models_error: str | None
