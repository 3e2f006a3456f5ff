"""Use cases: enrol, verify, report, users. The glue between vision and store,
where decisions are made and logged. The CLI calls only this module."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy.orm import Session

from facedb import timezones
from facedb.capture import Capture, CapturedFace, capture_faces, diverse_selection, mean_embedding
from facedb.config import Settings
from facedb.errors import (
    DuplicateIdentityError,
    DuplicateNameError,
    InvalidInputError,
    MultipleFacesError,
    NoFaceError,
    QualityError,
    SourceError,
)
from facedb.store import attendance, gallery
from facedb.store.attendance import AttendanceEvent, AttendanceRow, Report
from facedb.store.engine import Database, open_database
from facedb.store.gallery import Match, NewEmbedding, UserSummary
from facedb.store.schema import Threshold
from facedb.vision.pipeline import FacePipeline
from facedb.vision.sources import open_source

# Embeddings kept per person at enrolment: the best-quality, mutually diverse ones.
KEEP_PER_PERSON = 5
# A verification decides on the template (mean embedding) of its best faces.
FACES_PER_DECISION = 3

# Cosine-similarity thresholds of the embedders when none was calibrated with
# `facedb calibrate`: measured on the shared CelebA pairs at FAR 1e-3
# (docs/ACCURACY.md).
DEFAULT_THRESHOLDS = {"w600k_mbf_int8": 0.30}


@dataclass(frozen=True)
class ThresholdChoice:
    value: float
    source: str  # "option", "setting", "calibrated", "default"


@dataclass(frozen=True)
class EnrolResult:
    name: str
    user_id: int
    created: bool  # False when faces were added to an existing person
    added: int  # embeddings written now
    total: int  # embeddings of the person after this enrolment
    frames: int
    faces_rejected: int


@dataclass(frozen=True)
class BulkOutcome:
    name: str
    status: str  # enrolled, added, skipped
    reason: str | None
    embeddings: int
    images: int


@dataclass(frozen=True)
class VerifyResult:
    decision: str  # accepted, rejected, unknown, no_face, bad_quality
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

    @property
    def accepted(self) -> bool:
        return self.decision == "accepted"


class FaceService:
    """Owns the loaded models and the database engine for the life of a command."""

    def __init__(
        self,
        settings: Settings,
        pipeline: FacePipeline | None = None,
        database: Database | None = None,
    ) -> None:
        self.settings = settings
        self._pipeline = pipeline
        self._database = database

    @property
    def pipeline(self) -> FacePipeline:
        if self._pipeline is None:
            self._pipeline = FacePipeline(self.settings)
        return self._pipeline

    @property
    def database(self) -> Database:
        if self._database is None:
            self._database = open_database(self.settings)
        return self._database

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with Session(self.database.engine, expire_on_commit=False) as session, session.begin():
            yield session

    def close(self) -> None:
        if self._database is not None:
            self._database.engine.dispose()

    # -- thresholds -------------------------------------------------------------

    def threshold(self, session: Session, override: float | None = None) -> ThresholdChoice:
        """The accept threshold: --threshold, else FACEDB_THRESHOLD, else the value
        calibrated for this embedder in the database, else the embedder's default."""
        if override is not None:
            return ThresholdChoice(override, "option")
        if self.settings.threshold is not None:
            return ThresholdChoice(self.settings.threshold, "setting")
        model = self.pipeline.embedder_name
        calibrated = session.get(Threshold, model)
        if calibrated is not None:
            return ThresholdChoice(calibrated.threshold, "calibrated")
        if model not in DEFAULT_THRESHOLDS:
            raise InvalidInputError(
                f"no threshold is known for the embedder {model}: run `facedb calibrate` "
                "or set FACEDB_THRESHOLD"
            )
        return ThresholdChoice(DEFAULT_THRESHOLDS[model], "default")

    # -- enrolment ----------------------------------------------------------------

    def enrol(
        self,
        name: str,
        source: str,
        *,
        frames: int = KEEP_PER_PERSON,
        timeout: float | None = None,
        add: bool = False,
        largest: bool = False,
        force: bool = False,
        recursive: bool = False,
        on_frame: Callable[[Capture], None] | None = None,
    ) -> EnrolResult:
        """Enrols one person from a source; writes the person and embeddings in one
        transaction, or nothing."""
        name = gallery.clean_name(name)
        with self.transaction() as session:
            if gallery.find_user(session, name) is not None and not add:
                raise DuplicateNameError(
                    f"{name!r} is already enrolled: use --add to add faces to that person"
                )
        with open_source(source, recursive=recursive) as frames_source:
            capture = capture_faces(
                frames_source, self.pipeline, wanted=frames, timeout=timeout, on_frame=on_frame
            )
        _check_enrolment_capture(capture, source, largest)
        selected = diverse_selection(capture.good, KEEP_PER_PERSON)
        with self.transaction() as session:
            return self._write_person(session, name, selected, capture, add=add, force=force)

    def _write_person(
        self,
        session: Session,
        name: str,
        faces: list[CapturedFace],
        capture: Capture,
        *,
        add: bool,
        force: bool,
    ) -> EnrolResult:
        model = self.pipeline.embedder_name
        user = gallery.find_user(session, name)
        if user is not None and not add:
            raise DuplicateNameError(
                f"{name!r} is already enrolled: use --add to add faces to that person"
            )
        if not force:
            self._refuse_known_face(session, faces, user.id if user else None)
        created = user is None
        if user is None:
            user = gallery.create_user(session, name)
        gallery.add_embeddings(
            session,
            user.id,
            [
                NewEmbedding(
                    vector=f.face.embedding,  # type: ignore[arg-type]
                    det_score=f.face.face.score,
                    quality=f.face.quality.score,
                    source=f.origin,
                )
                for f in faces
            ],
            model,
        )
        return EnrolResult(
            name=user.name,
            user_id=user.id,
            created=created,
            added=len(faces),
            total=gallery.count_embeddings(session, user.id),
            frames=capture.frames,
            faces_rejected=len(capture.rejected),
        )

    def _refuse_known_face(
        self, session: Session, faces: list[CapturedFace], own_id: int | None
    ) -> None:
        threshold = self.threshold(session)
        probes = np.stack([f.face.embedding for f in faces])  # type: ignore[misc]
        matches = gallery.identify(
            session, probes, self.pipeline.embedder_name, ef_search=self.settings.ef_search
        )
        for face_matches in matches:
            for match in face_matches:
                if match.user_id != own_id and match.similarity >= threshold.value:
                    raise DuplicateIdentityError(
                        f"this face is already enrolled as {match.name!r} (similarity "
                        f"{match.similarity:.3f} >= threshold {threshold.value:.3f}): "
                        "use --force to enrol it anyway"
                    )

    def enrol_folders(
        self,
        root: Path,
        *,
        add: bool = False,
        force: bool = False,
        largest: bool = True,
        on_person: Callable[[BulkOutcome], None] | None = None,
    ) -> list[BulkOutcome]:
        """Enrols one person per subfolder of ``root`` (the folder name is the name).

        Each person is written in their own transaction; a person who cannot be
        enrolled is skipped with the reason, and the others go on."""
        if not root.is_dir():
            raise SourceError(f"{root} is not a folder")
        folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not folders:
            raise SourceError(f"{root} has no subfolders: one folder per person is expected")
        outcomes = []
        for folder in folders:
            outcome = self._enrol_folder(folder, add=add, force=force, largest=largest)
            outcomes.append(outcome)
            if on_person is not None:
                on_person(outcome)
        return outcomes

    def _enrol_folder(self, folder: Path, *, add: bool, force: bool, largest: bool) -> BulkOutcome:
        name = folder.name
        images = 0
        try:
            name = gallery.clean_name(folder.name)
            with self.transaction() as session:
                if gallery.find_user(session, name) is not None and not add:
                    return BulkOutcome(name, "skipped", "already enrolled", 0, 0)
            with open_source(str(folder)) as source:
                capture = capture_faces(source, self.pipeline, wanted=10_000)
            images = capture.frames
            _check_enrolment_capture(capture, str(folder), largest)
            selected = diverse_selection(capture.good, KEEP_PER_PERSON)
            with self.transaction() as session:
                result = self._write_person(session, name, selected, capture, add=add, force=force)
        except (
            InvalidInputError,
            DuplicateNameError,
            DuplicateIdentityError,
            NoFaceError,
            MultipleFacesError,
            QualityError,
            SourceError,
        ) as exc:
            return BulkOutcome(name, "skipped", exc.message, 0, images)
        status = "enrolled" if result.created else "added"
        return BulkOutcome(result.name, status, None, result.added, images)

    # -- verification ---------------------------------------------------------------

    def verify(
        self,
        source: str,
        *,
        name: str | None = None,
        frames: int = FACES_PER_DECISION,
        timeout: float | None = None,
        threshold: float | None = None,
        on_frame: Callable[[Capture], None] | None = None,
    ) -> VerifyResult:
        """Who is in front of the camera (1:N), or is it the claimed person (1:1)?
        Logs one attendance row, except a repeat within the cooldown."""
        claimed = None
        if name is not None:
            with self.transaction() as session:
                claimed = gallery.get_user(session, name)
        with open_source(source) as frames_source:
            capture = capture_faces(
                frames_source, self.pipeline, wanted=frames, timeout=timeout, on_frame=on_frame
            )
        used = capture.best(FACES_PER_DECISION)
        model = self.pipeline.embedder_name
        with self.transaction() as session:
            chosen = self.threshold(session, threshold)
            similarity: float | None = None
            person: Match | None = None
            candidates: list[Match] = []
            reasons: tuple[str, ...] = ()
            if not used:
                decision = "no_face" if capture.faces_seen == 0 else "bad_quality"
                reasons = _capture_reasons(capture)
            elif claimed is not None:
                similarity = gallery.similarity_to_user(
                    session, claimed.id, mean_embedding(used), model
                )
                accepted = similarity is not None and similarity >= chosen.value
                decision = "accepted" if accepted else "rejected"
                if accepted:
                    person = Match(claimed.id, claimed.name, similarity or 0.0)
            else:
                candidates = gallery.identify(
                    session, mean_embedding(used), model, ef_search=self.settings.ef_search
                )[0]
                if candidates:
                    similarity = candidates[0].similarity
                    if similarity >= chosen.value:
                        person = candidates[0]
                decision = "accepted" if person is not None else "unknown"
            event = AttendanceEvent(
                event_id=uuid.uuid4(),
                occurred_at=datetime.now(UTC),
                kind="verify" if claimed is not None else "identify",
                decision=decision,
                user_id=person.user_id if person else None,
                claimed_user_id=claimed.id if claimed is not None else None,
                similarity=similarity,
                threshold=chosen.value,
                liveness=None,
                device=self.settings.device_name,
                model=model,
            )
            logged = True
            if person is not None and self.settings.cooldown > 0:
                since = event.occurred_at - timedelta(seconds=self.settings.cooldown)
                logged = not attendance.accepted_since(session, person.user_id, event.device, since)
            if logged:
                attendance.log_event(session, event)
        return VerifyResult(
            decision=decision,
            kind=event.kind,
            name=person.name if person else None,
            claimed=claimed.name if claimed is not None else None,
            similarity=similarity,
            threshold=chosen.value,
            threshold_source=chosen.source,
            frames=capture.frames,
            faces_used=len(used),
            logged=logged,
            event_id=event.event_id,
            occurred_at=event.occurred_at,
            model=model,
            reasons=reasons,
            candidates=candidates,
        )

    # -- reports and people ------------------------------------------------------------

    def report(self, date_from: date, date_to: date, tz: str | None = None) -> Report:
        zone = timezones.check_zone(tz) if tz else timezones.local_zone()
        if date_to < date_from:
            raise InvalidInputError(f"the period ends ({date_to}) before it starts ({date_from})")
        with self.transaction() as session:
            return attendance.daily_report(session, date_from, date_to, zone)

    def attendance(
        self, since: datetime | None = None, name: str | None = None, limit: int = 100
    ) -> list[AttendanceRow]:
        with self.transaction() as session:
            user_id = gallery.get_user(session, name).id if name else None
            return attendance.list_events(session, since, user_id, limit)

    def users(self) -> list[UserSummary]:
        with self.transaction() as session:
            return gallery.list_users(session)

    def user(self, name: str) -> UserSummary:
        with self.transaction() as session:
            person = gallery.get_user(session, name)
            return gallery.summarise(person, gallery.count_embeddings(session, person.id))

    def rename_user(self, old: str, new: str) -> UserSummary:
        with self.transaction() as session:
            person = gallery.rename_user(session, old, new)
            return gallery.summarise(person, gallery.count_embeddings(session, person.id))

    def remove_user(self, name: str) -> int:
        with self.transaction() as session:
            return gallery.remove_user(session, name)


def _capture_reasons(capture: Capture) -> tuple[str, ...]:
    reasons: list[str] = []
    for _, face_reasons in capture.rejected:
        for reason in face_reasons:
            if reason not in reasons:
                reasons.append(reason)
    return tuple(reasons)


def _check_enrolment_capture(capture: Capture, source: str, largest: bool) -> None:
    """Refuses an enrolment that would be wrong: no face, whose face, or poor faces."""
    if capture.several_faces and not largest:
        raise MultipleFacesError(
            f"several faces in {capture.several_faces[0]}: enrol one person at a time, "
            "or use --largest to take the largest face"
        )
    if capture.good:
        return
    if capture.faces_seen == 0:
        where = f"{capture.frames} frame(s) of {source}" if capture.frames else source
        raise NoFaceError(f"no face found in {where}")
    raise QualityError(
        f"no face of {source} passed the quality gate: {'; '.join(_capture_reasons(capture))}"
    )
