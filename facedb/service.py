"""Use cases: enrol, verify, report, users. The glue between vision and store,
where decisions are made and logged. The CLI calls only this module."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from facedb import gallery_cache, identity, policy, sync, timezones
from facedb.capture import Capture, CapturedFace, capture_faces, diverse_selection, mean_embedding
from facedb.config import Settings
from facedb.decision import (
    Policy,
    ThresholdChoice,
    Verdict,
    attack_reason,
    is_attack,
    judge_claim,
    judge_search,
    least_live,
    screen,
)
from facedb.domain.attendance import Report
from facedb.domain.thresholds import StoredThreshold
from facedb.errors import (
    DatabaseUnreachableError,
    DuplicateIdentityError,
    DuplicateNameError,
    FacedbError,
    InvalidInputError,
    MultipleFacesError,
    NoFaceError,
    NoGalleryCacheError,
    QualityError,
    SourceError,
    SpoofError,
    UnknownUserError,
)
from facedb.evaluation.acquire import acquire
from facedb.evaluation.detplot import det_svg
from facedb.evaluation.metrics import CalibrationResult
from facedb.evaluation.openset import OpenSetResult as OpenSetResult  # for cli/eval1n.py
from facedb.evaluation.openset import evaluate_open_set
from facedb.gallery_cache import CachedUser
from facedb.matching import CacheMatcher, Matcher, SqlMatcher
from facedb.review.keep import keep_evidence, replay_files
from facedb.spool import BatchOutcome, ReplayResult, Spool, SpoolStatus
from facedb.store import attendance, calibration, erasure, evidence, gallery, org, thresholds
from facedb.store.attendance import AttendanceEvent, AttendanceRow
from facedb.store.engine import Database, connection_lost, describe_connection_error, open_database
from facedb.store.erasure import ShredReport
from facedb.store.gallery import Match, NewEmbedding, UserSummary
from facedb.store.schema import User
from facedb.vision.pipeline import FacePipeline
from facedb.vision.sources import FrameSource, open_source

log = logging.getLogger(__name__)

# Embeddings kept per person at enrolment: the best-quality, mutually diverse ones.
KEEP_PER_PERSON = 5
# A verification decides on the template (mean embedding) of its best faces.
FACES_PER_DECISION = 3
# What `facedb users forget` does with the person's attendance rows (README
# "Reliability and privacy"): keep them theirs, unlink them, or delete them.
ATTENDANCE_POLICIES = ("keep", "anonymise", "delete")


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


@dataclass(frozen=True)
class _Attempt:
    """One verification, whatever answers it: the faces, the claim, and the event's
    identity (the same event_id online and, after a failure, offline)."""

    capture: Capture
    used: list[CapturedFace]
    claimed: User | CachedUser | None
    threshold: float | None  # --threshold
    device: str
    log_no_face: bool
    event_id: uuid.UUID
    occurred_at: datetime
    site: str | None = None  # 1:N scope: only the people of this site and/or group
    group: str | None = None

    @property
    def scope(self) -> str | None:
        parts = [f"site:{self.site}"] if self.site else []
        parts += [f"group:{self.group}"] if self.group else []
        return ",".join(parts) or None


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
        # One service may serve concurrent requests (facedb serve): the first use of
        # the models or the database happens once.
        self._lock = threading.Lock()
        self.spool = Spool(settings.home, database=identity.target(settings))
        self._galleries = policy.GalleryStateCache()

    @property
    def pipeline(self) -> FacePipeline:
        if self._pipeline is None:
            with self._lock:
                if self._pipeline is None:
                    self._pipeline = FacePipeline(self.settings)
        return self._pipeline

    @property
    def database(self) -> Database:
        """The database, opened on first use; the command that opens it first sends
        the events spooled while it was unreachable."""
        database, opened = self._connect()
        if opened:
            self._sync_quietly(refresh_cache=False)
        return database

    def _connect(self) -> tuple[Database, bool]:
        """The database, and whether this call opened it."""
        if self._database is not None:
            return self._database, False
        with self._lock:
            if self._database is not None:
                return self._database, False
            self._database = open_database(self.settings)
            return self._database, True

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction, committed at the end. A server that goes away
        (down, restarting, network lost) is DatabaseUnreachableError, not a traceback."""
        try:
            with Session(self.database.engine, expire_on_commit=False) as session, session.begin():
                yield session
        except DBAPIError as exc:
            if not connection_lost(exc):
                raise
            where = (
                self._database.libpq_url
                if self._database is not None
                else self.settings.database_url or "the embedded server"
            )
            raise describe_connection_error(exc, where) from None

    def close(self) -> None:
        if self._database is not None:
            self._database.engine.dispose()

    # -- thresholds -------------------------------------------------------------

    def threshold(self, session: Session, override: float | None = None) -> ThresholdChoice:
        """The 1:1 accept threshold: --threshold, else FACEDB_THRESHOLD, else the value
        calibrated for this embedder in the database, else the embedder's default."""
        return self._choose_threshold(SqlMatcher(session, self.settings.ef_search), override)

    def _choose_threshold(self, matcher: Matcher, override: float | None) -> ThresholdChoice:
        model = self.pipeline.embedder_name
        default = self.pipeline.registry.spec(model).threshold
        return policy.one_to_one(self.settings, matcher, model, default, override)

    def _search_policy(
        self, matcher: Matcher, override: float | None, scope: list[int] | None
    ) -> Policy:
        model = self.pipeline.embedder_name
        prior = self.pipeline.registry.spec(model).impostor_tail
        chosen = self._choose_threshold(matcher, override)
        state = self._galleries.get(matcher, model, scope)
        return policy.search_policy(self.settings, state, prior, chosen)

    def decision_policy(self, matcher: Matcher, override: float | None = None) -> Policy:
        """The 1:N policy of an unscoped search through ``matcher`` (what verify uses;
        facedb watch decides with it)."""
        return self._search_policy(matcher, override, None)

    def search_policy(
        self, session: Session, *, site: str | None = None, group: str | None = None
    ) -> Policy:
        """The 1:N policy a search of this scope would use now (for status displays)."""
        matcher = SqlMatcher(session, self.settings.ef_search)
        return self._search_policy(matcher, None, org.user_ids_in_scope(session, site, group))

    def policy_status(
        self, *, site: str | None = None, group: str | None = None
    ) -> policy.PolicyStatus:
        """The decision policy in force now, and how it would grow with the gallery."""
        model = self.pipeline.embedder_name
        prior = self.pipeline.registry.spec(model).impostor_tail
        with self.transaction() as session:
            matcher = SqlMatcher(session, self.settings.ef_search)
            scope = org.user_ids_in_scope(session, site, group)
            rules = self._search_policy(matcher, None, scope)
            stored = calibration.load_calibration(session, model)
        cal = policy.calibration_of(prior, stored.tail if stored else None)
        return policy.status(self.settings, model, rules, cal, stored)

    def recalibrate_gallery(self, *, force: bool = False) -> calibration.StoredCalibration | None:
        """Searches the gallery against itself and stores its impostor tail (done after
        enrolments when the stored one is stale; ``force``: now)."""
        with self.transaction() as session:
            return policy.refresh_gallery_calibration(
                session, self.pipeline.embedder_name, force=force
            )

    def recalibrate_gallery_quietly(self) -> None:
        """After a change of the gallery: its calibration, and a fresh size for searches."""
        self._galleries.clear()
        try:
            self.recalibrate_gallery()
        except (FacedbError, DBAPIError) as exc:
            log.warning("could not update the gallery calibration: %s", exc)

    def _capture(
        self,
        source: str | FrameSource,
        *,
        wanted: int,
        timeout: float | None = None,
        on_frame: Callable[[Capture], None] | None = None,
        recursive: bool = False,
        aligned: bool = False,
    ) -> Capture:
        """The faces of a source for one decision, with liveness where it applies."""
        with _open(source, recursive=recursive) as frames:
            return capture_faces(
                frames,
                self.pipeline,
                wanted=wanted,
                timeout=timeout,
                on_frame=on_frame,
                liveness=self.pipeline.liveness_enabled(frames.is_live),
                aligned=aligned,
            )

    # -- enrolment ----------------------------------------------------------------

    def enrol(
        self,
        name: str,
        source: str | FrameSource,
        *,
        frames: int = KEEP_PER_PERSON,
        timeout: float | None = None,
        add: bool = False,
        largest: bool = False,
        force: bool = False,
        recursive: bool = False,
        on_frame: Callable[[Capture], None] | None = None,
    ) -> EnrolResult:
        """Enrols one person from a source (a spec for open_source, or an open
        FrameSource, which is closed after use); writes the person and embeddings
        in one transaction, or nothing."""
        name = gallery.clean_name(name)
        with self.transaction() as session:
            if gallery.find_user(session, name) is not None and not add:
                raise DuplicateNameError(
                    f"{name!r} is already enrolled: use --add to add faces to that person"
                )
        capture = self._capture(
            source, wanted=frames, timeout=timeout, on_frame=on_frame, recursive=recursive
        )
        return self.enrol_capture(
            name, capture, _describe(source), add=add, largest=largest, force=force
        )

    def enrol_capture(
        self,
        name: str,
        capture: Capture,
        source: str,
        *,
        add: bool = False,
        largest: bool = False,
        force: bool = False,
    ) -> EnrolResult:
        """Enrols one person from faces captured already (``source`` names them in
        messages), with enrolment's liveness, quality and duplicate checks: the
        review queue enrols the faces a kiosk kept (docs/REVIEW.md) through here."""
        result = self.enrol_faces(name, capture, source, add=add, largest=largest, force=force)
        self.recalibrate_gallery_quietly()
        return result

    def enrol_faces(
        self,
        name: str,
        capture: Capture,
        source: str,
        *,
        add: bool = False,
        largest: bool = False,
        force: bool = False,
        replace: bool = False,
        external_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> EnrolResult:
        """The enrolment of one capture, for every enrolment path (enrol, enrol
        --from-dir, import, review): liveness and capture checks, diverse selection,
        one transaction (see _write_person for ``add``/``replace``). The gallery's
        1:N calibration is the caller's to refresh, once for a bulk enrolment."""
        name = gallery.clean_name(name)
        _check_enrolment_liveness(capture, self.settings.liveness_threshold)
        _check_enrolment_capture(capture, source, largest)
        selected = diverse_selection(capture.good, KEEP_PER_PERSON)
        with self.transaction() as session:
            return self._write_person(
                session,
                name,
                selected,
                capture,
                add=add,
                force=force,
                replace=replace,
                external_id=external_id,
                meta=meta,
            )

    def _write_person(
        self,
        session: Session,
        name: str,
        faces: list[CapturedFace],
        capture: Capture,
        *,
        add: bool,
        force: bool,
        replace: bool = False,
        external_id: str | None = None,
        meta: dict[str, Any] | None = None,
    ) -> EnrolResult:
        """Writes one person and their faces in ``session``: a new person with
        ``external_id`` and ``meta``; a person enrolled already (by external id, else by
        name) is refused unless ``add`` (faces added) or ``replace`` (faces replaced;
        name, external id and meta updated). Every enrolment path writes through here."""
        model = self.pipeline.embedder_name
        user = gallery.find_person(session, name, external_id)
        if user is not None and not (add or replace):
            raise DuplicateNameError(
                f"{name!r} is already enrolled: use --add to add faces to that person"
            )
        lookalikes = self._known_faces(session, faces, user.id if user else None, force=force)
        created = user is None
        if user is None:
            user = gallery.create_user(session, name, external_id, meta)
        elif replace:
            gallery.update_user(session, user, name=name, external_id=external_id, meta=meta)
        for other in lookalikes:
            calibration.record_lookalike(session, user.id, other.user_id, other.similarity, model)
        embeddings = [
            NewEmbedding(
                vector=f.face.embedding,  # type: ignore[arg-type]
                det_score=f.face.face.score,
                quality=f.face.quality.score,
                source=f.origin,
            )
            for f in faces
        ]
        if replace:
            gallery.replace_embeddings(session, user.id, embeddings, model)
        else:
            gallery.add_embeddings(session, user.id, embeddings, model)
        return EnrolResult(
            name=user.name,
            user_id=user.id,
            created=created,
            added=len(faces),
            total=gallery.count_embeddings(session, user.id),
            frames=capture.frames,
            faces_rejected=len(capture.rejected),
            lookalikes=tuple(lookalikes),
        )

    def _known_faces(
        self, session: Session, faces: list[CapturedFace], own_id: int | None, *, force: bool
    ) -> list[Match]:
        """The duplicate check: refuses faces so close to another enrolled person's that
        a different person would match that closely in fewer than duplicate_rate of
        enrolments (unless ``force``); returns the people resembled above the 1:1
        threshold (look-alikes, enrolled with a warning), most similar first."""
        model = self.pipeline.embedder_name
        matcher = SqlMatcher(session, self.settings.ef_search)
        one_to_one = self._choose_threshold(matcher, None).value
        size = calibration.gallery_size(session, model)
        cal = policy.calibration_of(
            self.pipeline.registry.spec(model).impostor_tail, matcher.gallery_tail(model)
        )
        refuse_at = policy.duplicate_threshold(
            self.settings, cal, size.faces, len(faces), one_to_one
        )
        probes = np.stack([f.face.embedding for f in faces])  # type: ignore[misc]
        best: dict[int, Match] = {}
        for face_matches in gallery.identify(
            session, probes, model, ef_search=self.settings.ef_search
        ):
            for match in face_matches:
                if match.user_id == own_id or match.similarity < one_to_one:
                    continue
                if match.user_id not in best or match.similarity > best[match.user_id].similarity:
                    best[match.user_id] = match
        ranked = sorted(best.values(), key=lambda m: m.similarity, reverse=True)
        if ranked and ranked[0].similarity >= refuse_at and not force:
            top = ranked[0]
            raise DuplicateIdentityError(
                f"this face is already enrolled as {top.name!r} (similarity "
                f"{top.similarity:.3f} >= duplicate threshold {refuse_at:.3f}): "
                "use --force to enrol it anyway"
            )
        return ranked

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
        if any(o.status != "skipped" for o in outcomes):
            self.recalibrate_gallery_quietly()
        return outcomes

    def _enrol_folder(self, folder: Path, *, add: bool, force: bool, largest: bool) -> BulkOutcome:
        name = folder.name
        images = 0
        try:
            name = gallery.clean_name(folder.name)
            with self.transaction() as session:
                if gallery.find_user(session, name) is not None and not add:
                    return BulkOutcome(name, "skipped", "already enrolled", 0, 0)
            capture = self._capture(str(folder), wanted=10_000)
            images = capture.frames
            result = self.enrol_faces(
                name, capture, str(folder), add=add, largest=largest, force=force
            )
        except (
            InvalidInputError,
            DuplicateNameError,
            DuplicateIdentityError,
            NoFaceError,
            MultipleFacesError,
            QualityError,
            SourceError,
            SpoofError,
        ) as exc:
            return BulkOutcome(name, "skipped", exc.message, 0, images)
        status = "enrolled" if result.created else "added"
        return BulkOutcome(result.name, status, None, result.added, images, result.lookalikes)

    # -- verification ---------------------------------------------------------------

    def verify(
        self,
        source: str | FrameSource,
        *,
        name: str | None = None,
        frames: int = FACES_PER_DECISION,
        timeout: float | None = None,
        threshold: float | None = None,
        on_frame: Callable[[Capture], None] | None = None,
        log_no_face: bool = True,
        device: str | None = None,
        aligned: bool = False,
        site: str | None = None,
        group: str | None = None,
    ) -> VerifyResult:
        """Who is in front of the camera (1:N), or is it the claimed person (1:1)?
        ``source``: a spec for open_source, or an open FrameSource (closed after use).
        Logs one attendance row, except a repeat within the cooldown, and except a
        no_face decision when ``log_no_face`` is off (a kiosk polling an empty scene).
        ``device``: the kiosk to log, when not this machine (settings.device_name).
        ``aligned``: the images are face crops aligned to the ArcFace template.
        ``site``/``group``: a search considers only the people of this site and/or
        group (the threshold follows the scope's size); a claim is not scoped.

        While the database is unreachable the decision is made against this kiosk's
        gallery cache, marked offline, and the event is spooled (facedb/spool.py) until
        a later command reaches the database; with no usable cache the attempt is
        spooled as unknown and NoGalleryCacheError raised."""
        claimed = self._claimed_user(name, device) if name is not None else None
        capture = self._capture(
            source, wanted=frames, timeout=timeout, on_frame=on_frame, aligned=aligned
        )
        attempt = _Attempt(
            capture=capture,
            used=capture.best(FACES_PER_DECISION),
            claimed=claimed,
            threshold=threshold,
            device=device or self.settings.device_name,
            log_no_face=log_no_face,
            event_id=uuid.uuid4(),
            occurred_at=datetime.now(UTC),
            site=site or self.settings.search_site,
            group=group or self.settings.search_group,
        )
        if not isinstance(claimed, CachedUser):  # a claim found offline is decided offline
            try:
                with self.transaction() as session:
                    result = self._decide(SqlMatcher(session, self.settings.ef_search), attempt)
            except DatabaseUnreachableError as exc:
                # Said once in the answer (offline) rather than on stderr at every attempt.
                log.info("deciding offline: %s", exc)
            else:
                self._sync_quietly(refresh_cache=True)
                return result
        return self._decide_offline(attempt)

    def _decide(self, matcher: Matcher, attempt: _Attempt) -> VerifyResult:
        """The decision on one attempt (facedb/decision.py), logged (or spooled)
        through ``matcher``."""
        capture, used, claimed = attempt.capture, attempt.used, attempt.claimed
        model = self.pipeline.embedder_name
        scope: list[int] | None = None
        if claimed is not None:
            rules = Policy(self._choose_threshold(matcher, attempt.threshold), None, 0.0)
        else:
            if attempt.scope is not None and isinstance(matcher, SqlMatcher):
                scope = org.user_ids_in_scope(matcher.session, attempt.site, attempt.group)
            rules = self._search_policy(matcher, attempt.threshold, scope)
        candidates: list[Match] = []
        verdict = screen(
            used,
            capture.rejected_faces,
            _capture_reasons(capture),
            self.settings.liveness_threshold,
        )
        if verdict is None and claimed is not None:
            similarity = matcher.similarity_to_user(claimed.id, mean_embedding(used), model)
            person = Match(claimed.id, claimed.name, similarity or 0.0)
            verdict = judge_claim(person, similarity, rules.one_to_one.value)
        elif verdict is None:
            candidates = matcher.identify(mean_embedding(used), model, scope)
            verdict = judge_search(candidates, rules.search_threshold, rules.margin)
        weakest = least_live(used or capture.rejected_faces)
        liveness = weakest.face.liveness if weakest is not None else None
        open_set = rules.open_set
        threshold = rules.one_to_one.value if claimed is not None else rules.search_threshold
        source = rules.one_to_one.source if claimed is not None else rules.search_source
        event = AttendanceEvent(
            event_id=attempt.event_id,
            occurred_at=attempt.occurred_at,
            kind="verify" if claimed is not None else "identify",
            decision=verdict.decision,
            user_id=verdict.person.user_id if verdict.person else None,
            claimed_user_id=claimed.id if claimed is not None else None,
            similarity=verdict.similarity,
            threshold=threshold,
            liveness=liveness,
            device=attempt.device,
            model=model,
            offline=matcher.offline,
            threshold_source=source,
            gallery_persons=open_set.persons if open_set else None,
            gallery_faces=open_set.faces if open_set else None,
            fpir_target=open_set.fpir_target if open_set else None,
            runner_up=verdict.runner_up,
            scope=attempt.scope if claimed is None else None,
        )
        logged = self._log(matcher, event, verdict, attempt.log_no_face)
        if logged:  # a doubtful decision's face, with its event (docs/REVIEW.md)
            keep_evidence(self.settings, matcher, event, used or capture.rejected_faces, candidates)
        return VerifyResult(
            decision=verdict.decision,
            kind=event.kind,
            name=verdict.person.name if verdict.person else None,
            claimed=claimed.name if claimed is not None else None,
            similarity=verdict.similarity,
            threshold=threshold,
            threshold_source=source,
            frames=capture.frames,
            faces_used=len(used),
            logged=logged,
            event_id=event.event_id,
            occurred_at=event.occurred_at,
            model=model,
            reasons=verdict.reasons,
            candidates=candidates,
            faces=tuple(_face_box(c) for c in used),
            offline=matcher.offline,
            liveness=liveness,
            runner_up=verdict.runner_up,
            gallery_persons=event.gallery_persons,
            gallery_faces=event.gallery_faces,
            fpir_target=event.fpir_target,
            predicted_fpir=open_set.predicted_fpir if open_set else None,
            scope=event.scope,
        )

    def _log(
        self, matcher: Matcher, event: AttendanceEvent, verdict: Verdict, log_no_face: bool
    ) -> bool:
        """Logs the event, except a repeat acceptance within the cooldown (checked under
        a lock on the person, so concurrent attempts log once) and, when not
        ``log_no_face``, a no_face. True if logged."""
        if verdict.decision == "no_face" and not log_no_face:
            return False
        if verdict.person is not None and self.settings.cooldown > 0:
            since = event.occurred_at - timedelta(seconds=self.settings.cooldown)
            if matcher.accepted_since(verdict.person.user_id, event.device, since):
                return False
        matcher.log_event(event)
        return True

    def identify_faces(self, image: np.ndarray, *, top: int = 3) -> IdentifyResult:
        """Every face of one uint8 BGR image and who it is (1:N each, one SQL query
        for all faces). Only faces that pass the quality gate get a name. Nothing is
        logged: this is a look-up, not an attendance decision. While the database is
        unreachable, the gallery cache answers (NoGalleryCacheError without one)."""
        faces = sorted(self.pipeline.analyse([image])[0], key=lambda f: f.face.area, reverse=True)
        model = self.pipeline.embedder_name
        probes = [f.embedding for f in faces if f.embedding is not None]
        try:
            with self.transaction() as session:
                rules = self._search_policy(
                    SqlMatcher(session, self.settings.ef_search), None, None
                )
                matches = (
                    gallery.identify(
                        session, np.stack(probes), model, top=top, ef_search=self.settings.ef_search
                    )
                    if probes
                    else []
                )
        except DatabaseUnreachableError as exc:
            log.info("identifying offline: %s", exc)
            offline = self.offline_matcher()
            rules = self.decision_policy(offline)
            matches = [offline.identify(probe, model)[:top] for probe in probes]
        identified = []
        for face, candidates in zip(faces, matches, strict=True):
            best = candidates[0] if candidates else None
            verdict = judge_search(candidates, rules.search_threshold, rules.margin)
            known = face.quality.accepted and verdict.person is not None
            identified.append(
                IdentifiedFace(
                    box=_box(face.face.box),
                    det_score=face.face.score,
                    quality_ok=face.quality.accepted,
                    reasons=face.quality.reasons,
                    name=best.name if known and best is not None else None,
                    similarity=best.similarity if best is not None else None,
                    candidates=candidates,
                )
            )
        return IdentifyResult(identified, rules.search_threshold, rules.search_source, model)

    # -- offline: the spool and the gallery cache -------------------------------------

    def _claimed_user(self, name: str, device: str | None) -> User | CachedUser:
        """The claimed person, from the database, else from the gallery cache."""
        try:
            with self.transaction() as session:
                return gallery.get_user(session, name)
        except DatabaseUnreachableError as exc:
            log.info("looking up the claimed person offline: %s", exc)
        try:
            cache = self._load_cache()
        except NoGalleryCacheError as exc:
            self._spool_unknown("verify", None, device)
            raise _offline_refusal(exc) from None
        person = cache.find_user(name)
        if person is None:
            raise UnknownUserError(
                f"no enrolled person is called {gallery.clean_name(name)!r} "
                "(offline: the database is unreachable, the kiosk's gallery cache was checked)"
            )
        return person

    def _decide_offline(self, attempt: _Attempt) -> VerifyResult:
        cache, missing = None, None
        try:
            cache = self._load_cache()
        except NoGalleryCacheError as exc:
            missing = exc  # decisions that need no gallery (no face, spoof) still work
        try:
            return self._decide(CacheMatcher(cache, self.spool, missing), attempt)
        except NoGalleryCacheError as exc:
            claimed_id = attempt.claimed.id if attempt.claimed is not None else None
            kind = "identify" if attempt.claimed is None else "verify"
            self._spool_unknown(kind, claimed_id, attempt.device, attempt)
            raise _offline_refusal(exc) from None

    def _spool_unknown(
        self, kind: str, claimed_id: int | None, device: str | None, attempt: _Attempt | None = None
    ) -> None:
        """Spools an attempt no gallery could answer: decision unknown, offline."""
        self.spool.append(
            AttendanceEvent(
                event_id=attempt.event_id if attempt else uuid.uuid4(),
                occurred_at=attempt.occurred_at if attempt else datetime.now(UTC),
                kind=kind,
                decision="unknown",
                user_id=None,
                claimed_user_id=claimed_id,
                similarity=None,
                threshold=(
                    attempt.threshold
                    if attempt is not None and attempt.threshold is not None
                    else self.settings.threshold
                ),
                liveness=None,
                device=device or self.settings.device_name,
                model=self.pipeline.embedder_name,
                offline=True,
            )
        )

    def offline_matcher(self) -> CacheMatcher:
        """This kiosk's gallery cache and spool, as the Matcher of an outage; with no
        usable cache, decisions that need no gallery are still made (facedb watch)."""
        try:
            return CacheMatcher(self._load_cache(), self.spool)
        except NoGalleryCacheError as exc:
            return CacheMatcher(None, self.spool, exc)

    def _load_cache(self) -> gallery_cache.GalleryCache:
        return gallery_cache.load(
            self.settings.home,
            self.pipeline.embedder_name,
            self.settings.cache_max_age,
            database=identity.target(self.settings),
        )

    def sync(self, *, refresh_cache: bool = True) -> None:
        """What verify does once it reached the database: replays the spool and
        refreshes the gallery cache when due; a failure is logged (facedb watch)."""
        self._sync_quietly(refresh_cache=refresh_cache)

    def _sync_quietly(self, *, refresh_cache: bool) -> None:
        """Online again: replays the spool, and refreshes the gallery cache when it is
        older than cache_refresh. A failure is logged; the command goes on."""
        try:
            if self.spool.has_pending():
                result = self.replay_spool(wait=False)
                if result.sent:
                    log.info("replayed %d spooled event(s), %d new", result.sent, result.inserted)
            if refresh_cache and self._cache_due():
                self.refresh_cache()
        except (FacedbError, DBAPIError, OSError) as exc:
            log.warning("could not sync with the database: %s", exc)

    def _cache_due(self) -> bool:
        if self.settings.cache_max_age <= 0:
            return False
        path = gallery_cache.cache_path(self.settings.home, self.pipeline.embedder_name)
        try:
            age = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            return True
        return age >= self.settings.cache_refresh

    def replay_spool(self, *, wait: bool = True) -> ReplayResult:
        """Sends the spooled events to the database, in order, each exactly once."""

        def write(events: list[AttendanceEvent]) -> BatchOutcome:
            with self.transaction() as session:
                return sync.write_spooled(session, events)

        self._connect()  # without the automatic replay of `database`: this is the replay
        result = self.spool.replay(write, wait=wait)
        replay_files(self.spool.directory, self.transaction, self.settings.evidence_days)
        return result

    def spool_status(self) -> SpoolStatus:
        return self.spool.status()

    def refresh_cache(self) -> gallery_cache.GalleryCache | None:
        """Rewrites this kiosk's gallery cache from the database (None: caching is off,
        FACEDB_CACHE_MAX_AGE=0, and any cache file is deleted)."""
        if self.settings.cache_max_age <= 0:
            gallery_cache.clear(self.settings.home)
            return None
        with self.transaction() as session:
            snapshot = sync.snapshot(session, self.pipeline.embedder_name)
        snapshot = dataclasses.replace(snapshot, database=identity.target(self.settings))
        gallery_cache.write(self.settings.home, snapshot)
        return snapshot

    def cache_files(self) -> list[gallery_cache.GalleryCache]:
        """The gallery caches of this kiosk (any age); unreadable ones are left out."""
        caches = []
        for path in gallery_cache.cached_files(self.settings.home):
            try:
                caches.append(gallery_cache.read(path))
            except NoGalleryCacheError as exc:
                log.warning("%s", exc)
        return caches

    def clear_cache(self) -> int:
        return gallery_cache.clear(self.settings.home)

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

    def save_calibration(self, calibration: CalibrationResult, source: str) -> ThresholdChoice:
        """Stores a threshold calibrated for the current embedder; verify and enrol
        on every kiosk sharing the database use it from then on."""
        with self.transaction() as session:
            thresholds.save_threshold(
                session,
                self.pipeline.embedder_name,
                calibration.threshold,
                calibration.far,
                calibration.tar,
                calibration.n_genuine + calibration.n_impostor,
                source,
            )
        return ThresholdChoice(calibration.threshold, "calibrated")

    def calibrations(self) -> list[StoredThreshold]:
        with self.transaction() as session:
            return thresholds.stored_thresholds(session)

    def evaluate_open_set(
        self,
        people: Path,
        *,
        strangers: Path | None = None,
        sizes: Sequence[int],
        draws: int,
        per_person: int,
        progress: Callable[[int, int], None] | None = None,
        det_plot: Path | None = None,
    ) -> OpenSetResult:
        """1:N error rates of this pipeline and decision policy on folders of people
        (facedb/evaluation/openset.py), and their DET curves as SVG in ``det_plot``;
        needs no database."""
        model = self.pipeline.embedder_name
        spec = self.pipeline.registry.spec(model)
        acquired = acquire(
            people,
            self.pipeline,
            per_person=per_person,
            strangers_root=strangers,
            progress=progress,
        )
        one_to_one = (
            self.settings.threshold if self.settings.threshold is not None else spec.threshold
        )
        result = evaluate_open_set(
            acquired.people,
            acquired.strangers,
            sizes=sizes,
            draws=draws,
            fpir=self.settings.fpir,
            margin=self.settings.margin,
            one_to_one=one_to_one if one_to_one is not None else -1.0,
            prior=policy.calibration_of(spec.impostor_tail, None).prior,
            fixed=self.settings.threshold,
            images=acquired.images,
            failures=acquired.failures,
        )
        if det_plot is not None:
            title = f"{people.name}: DET at FPIR target {result.fpir_target:g}"
            det_plot.write_text(det_svg(result.sizes, title), encoding="utf-8")
        return result

    def lookalikes(self) -> list[calibration.LookalikeRow]:
        with self.transaction() as session:
            return calibration.list_lookalikes(session)

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
            user_id = gallery.get_user(session, name).id
            evidence.forget_user(session, user_id)
            removed = gallery.remove_user(session, name)
        gallery_cache.purge_user(self.settings.home, user_id)
        self._galleries.clear()
        return removed

    # -- privacy and retention -----------------------------------------------------------

    def forget_user(
        self, name: str, attendance_policy: str = "anonymise", *, shred: bool = True
    ) -> ForgetResult:
        """Erases a person's biometric data: every stored face (all models), in one
        transaction, then their copies in this kiosk's gallery caches. Their attendance
        rows are kept as theirs (``keep``: the person stays, inactive, with no face),
        unlinked from them (``anonymise``: the person is deleted), or deleted with them
        (``delete``). ``shred``: then rewrite the files that held the vectors and push
        the WAL past a checkpoint (store/erasure.py), so that the bytes leave the disk."""
        if attendance_policy not in ATTENDANCE_POLICIES:
            raise InvalidInputError(
                f"--attendance is one of {', '.join(ATTENDANCE_POLICIES)}, "
                f"not {attendance_policy!r}"
            )
        with self.transaction() as session:
            person = gallery.get_user(session, name)
            embeddings = gallery.delete_embeddings(session, person.id)
            evidence.forget_user(session, person.id)  # their faces kept for review
            if attendance_policy == "keep":
                gallery.deactivate_user(session, person.id)
                rows = attendance.count_for_user(session, person.id)
            else:
                if attendance_policy == "delete":
                    rows = attendance.delete_for_user(session, person.id)
                else:
                    rows = attendance.unlink_user(session, person.id)
                session.delete(person)
                session.flush()
        caches = gallery_cache.purge_user(self.settings.home, person.id)
        self._galleries.clear()
        shredded = erasure.shred(self.database.engine) if shred else None
        log.info(
            "forgot person %d: %d face(s), attendance %s", person.id, embeddings, attendance_policy
        )
        return ForgetResult(
            person.name, person.id, embeddings, attendance_policy, rows, caches, shredded
        )

    def purge_attendance(self, older_than: timedelta) -> int:
        """Deletes the attendance rows older than ``older_than`` (retention)."""
        if older_than <= timedelta(0):
            raise InvalidInputError("--older-than must be a positive duration, e.g. 365d")
        try:
            before = datetime.now(UTC) - older_than
        except OverflowError:
            raise InvalidInputError(
                f"--older-than {older_than.days}d is longer than any date"
            ) from None
        from facedb.store.corrections import refuse_purge_in_locked_period

        with self.transaction() as session:
            # A locked pay period keeps its events (PeriodLockedError, exit code 21).
            refuse_purge_in_locked_period(session, before)
            kept_from = datetime.now(UTC) - timedelta(days=self.settings.evidence_days)
            evidence.purge_before(session, min(before, kept_from))
            return attendance.purge_before(session, before)


def _offline_refusal(cause: NoGalleryCacheError) -> NoGalleryCacheError:
    return NoGalleryCacheError(
        f"the database is unreachable and {cause.message}; the attempt was logged as "
        "unknown (offline) in the spool and is sent to the database when it is back"
    )


def _open(source: str | FrameSource, *, recursive: bool = False) -> FrameSource:
    if isinstance(source, FrameSource):
        return source
    return open_source(source, recursive=recursive)


def _describe(source: str | FrameSource) -> str:
    return source if isinstance(source, str) else source.description


def _box(box: np.ndarray) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (round(float(v), 1) for v in box[:4])
    return (x1, y1, x2, y2)


def _face_box(captured: CapturedFace) -> FaceBox:
    face = captured.face
    return FaceBox(captured.origin, _box(face.face.box), face.face.score, face.quality.score)


def _capture_reasons(capture: Capture) -> tuple[str, ...]:
    reasons: list[str] = []
    for _, face_reasons in capture.rejected:
        for reason in face_reasons:
            if reason not in reasons:
                reasons.append(reason)
    return tuple(reasons)


def _check_enrolment_liveness(capture: Capture, threshold: float) -> None:
    """Refuses an enrolment in which any good face (else, with no good face, any face
    refused by the quality gate) was judged an attack (docs/LIVENESS.md)."""
    weakest = least_live(capture.good or capture.rejected_faces)
    if weakest is not None and is_attack(weakest, threshold):
        raise SpoofError(f"{attack_reason(weakest, threshold)}; nothing was enrolled")


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
