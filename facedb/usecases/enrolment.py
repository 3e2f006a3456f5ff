"""Enrolment: one person from a source or from captured faces, and one person per
folder. Every path (enrol, enrol --from-dir, import, review) goes through
enrol_faces: the liveness, capture and duplicate checks, the diverse selection of
faces, and one transaction."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.orm import Session

from facedb import policy
from facedb.decision import attack_reason, is_attack, least_live
from facedb.domain.constants import KEEP_PER_PERSON
from facedb.domain.names import clean_name
from facedb.domain.people import Match
from facedb.errors import (
    DuplicateIdentityError,
    DuplicateNameError,
    FacedbError,
    InvalidInputError,
    MultipleFacesError,
    NoFaceError,
    QualityError,
    SourceError,
    SpoofError,
)
from facedb.matching import SqlMatcher
from facedb.store import calibration, gallery, kept_faces
from facedb.store.gallery import NewEmbedding
from facedb.usecases.results import BulkOutcome, EnrolResult
from facedb.usecases.runtime import Runtime, capture_reasons, describe
from facedb.usecases.thresholds import choose_threshold, recalibrate_gallery_quietly

if TYPE_CHECKING:  # the vision stack is loaded when a face is seen
    from facedb.media.frames import FrameSource
    from facedb.vision.capture import Capture as Capture  # on_frame callbacks receive one
    from facedb.vision.capture import CapturedFace

# The errors by which enrolment refuses one person (their faces, name or row) rather
# than fails (the database, a model), with the reason a bulk import reports: a bulk
# enrolment records the refusal and goes on with the others.
REFUSALS: tuple[tuple[type[FacedbError], str], ...] = (
    (NoFaceError, "no face"),
    (MultipleFacesError, "several faces"),
    (QualityError, "quality"),
    (DuplicateIdentityError, "duplicate identity"),
    (DuplicateNameError, "duplicate name"),
    (SpoofError, "spoof"),
    (InvalidInputError, "invalid row"),
)
REFUSED: tuple[type[FacedbError], ...] = tuple(kind for kind, _ in REFUSALS)
# enrol --from-dir also skips a person whose folder cannot be read.
_FOLDER_REFUSED: tuple[type[FacedbError], ...] = (*REFUSED, SourceError)


def enrol(
    rt: Runtime,
    name: str,
    source: str | FrameSource,
    *,
    frames: int,
    timeout: float | None,
    add: bool,
    largest: bool,
    force: bool,
    recursive: bool,
    on_frame: Callable[[Capture], None] | None,
) -> EnrolResult:
    """Enrols one person from a source (a spec for open_source, or an open
    FrameSource, which is closed after use); writes the person and embeddings
    in one transaction, or nothing."""
    name = clean_name(name)
    with rt.transaction() as session:
        if gallery.find_user(session, name) is not None and not add:
            raise DuplicateNameError(
                f"{name!r} is already enrolled: add the faces to that person instead "
                "(enrol --add, or add=true over HTTP)"
            )
    capture = rt.capture(
        source,
        wanted=frames,
        timeout=timeout,
        on_frame=on_frame,
        recursive=recursive,
        varied=True,  # from a camera: until the faces differ, or the time is up
    )
    return enrol_capture(rt, name, capture, describe(source), add=add, largest=largest, force=force)


def enrol_capture(
    rt: Runtime, name: str, capture: Capture, source: str, *, add: bool, largest: bool, force: bool
) -> EnrolResult:
    """Enrols one person from faces captured already (``source`` names them in
    messages), with enrolment's liveness, quality and duplicate checks: the
    review queue enrols the faces a kiosk kept (docs/REVIEW.md) through here."""
    result = enrol_faces(rt, name, capture, source, add=add, largest=largest, force=force)
    recalibrate_gallery_quietly(rt)
    return result


def enrol_faces(
    rt: Runtime,
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
    one transaction (see write_person for ``add``/``replace``). The gallery's
    1:N calibration is the caller's to refresh, once for a bulk enrolment."""
    name = clean_name(name)
    _check_liveness(capture, rt.settings.liveness_threshold)
    _check_capture(capture, source, largest)
    from facedb.vision.capture import diverse_selection

    selected = diverse_selection(capture.good, KEEP_PER_PERSON)
    with rt.transaction() as session:
        return write_person(
            rt,
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


def write_person(
    rt: Runtime,
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
    model = rt.pipeline.embedder_name
    user = gallery.find_person(session, name, external_id)
    if user is not None and not (add or replace):
        raise DuplicateNameError(
            f"{name!r} is already enrolled: add the faces to that person instead "
            "(enrol --add, or add=true over HTTP)"
        )
    lookalikes = known_faces(rt, session, faces, user.id if user else None, force=force)
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
    not_stored = _not_selected(capture, len(faces))
    replaced = 0
    if replace:
        gallery.replace_embeddings(session, user.id, embeddings, model)
    elif created:
        gallery.add_embeddings(session, user.id, embeddings, model)
    else:
        embeddings, replaced, reasons = _keep_diverse(session, user.id, model, embeddings)
        not_stored += reasons
    return EnrolResult(
        name=user.name,
        user_id=user.id,
        created=created,
        added=len(embeddings),
        total=len(faces) if created else gallery.count_embeddings(session, user.id),
        frames=capture.frames,
        faces_rejected=len(capture.rejected),
        lookalikes=tuple(lookalikes),
        replaced=replaced,
        not_stored=not_stored,
    )


def _not_selected(capture: Capture, selected: int) -> tuple[str, ...]:
    """Why good faces of the capture were not all stored."""
    left = len(capture.good) - selected
    if left <= 0:
        return ()
    return (
        f"{left} good face(s) of the capture not stored: near-copies of those kept, or "
        f"beyond the {KEEP_PER_PERSON} most different",
    )


def _keep_diverse(
    session: Session, user_id: int, model: str, new: list[NewEmbedding]
) -> tuple[list[NewEmbedding], int, tuple[str, ...]]:
    """Adds faces to a person as a choice, not an append: of their stored faces and
    the new ones, at most KEEP_PER_PERSON, the most different (vision.capture.
    most_different), are kept; the stored ones not chosen are deleted. Returns the
    new faces stored, how many stored ones were let go, and why faces were not kept."""
    from facedb.vision.capture import most_different

    stored = kept_faces.stored_embeddings(session, user_id, model)
    vectors = np.stack([s.vector for s in stored] + [np.asarray(e.vector) for e in new])
    qualities = [s.quality for s in stored] + [e.quality or 0.0 for e in new]
    kept, near_copies = most_different(vectors, qualities, KEEP_PER_PERSON)
    chosen = set(kept)
    dropped = [s.id for i, s in enumerate(stored) if i not in chosen]
    kept_faces.delete_embedding_ids(session, dropped)
    added = [e for i, e in enumerate(new, start=len(stored)) if i in chosen]
    gallery.add_embeddings(session, user_id, added, model)
    new_near = sum(1 for i in near_copies if i >= len(stored))
    new_beyond = len(new) - len(added) - new_near
    reasons = []
    if new_near:
        reasons.append(f"{new_near} new face(s) not stored: near-copies of faces kept")
    if new_beyond:
        reasons.append(
            f"{new_beyond} new face(s) not stored: the {KEEP_PER_PERSON} kept are more different"
        )
    if dropped:
        reasons.append(f"{len(dropped)} older face(s) replaced by more different ones")
    return added, len(dropped), tuple(reasons)


def known_faces(
    rt: Runtime, session: Session, faces: list[CapturedFace], own_id: int | None, *, force: bool
) -> list[Match]:
    """The duplicate check: refuses faces so close to another enrolled person's that
    a different person would match that closely in fewer than duplicate_rate of
    enrolments (unless ``force``); returns the people resembled above the 1:1
    threshold (look-alikes, enrolled with a warning), most similar first."""
    model = rt.pipeline.embedder_name
    matcher = SqlMatcher(session, rt.settings.ef_search)
    one_to_one = choose_threshold(rt, matcher, None).value
    size = calibration.gallery_size(session, model)
    cal = policy.calibration_of(
        rt.pipeline.registry.spec(model).impostor_tail, matcher.gallery_tail(model)
    )
    refuse_at = policy.duplicate_threshold(rt.settings, cal, size.faces, len(faces), one_to_one)
    probes = np.stack([f.face.embedding for f in faces])  # type: ignore[misc]
    best: dict[int, Match] = {}
    for face_matches in gallery.identify(session, probes, model, ef_search=rt.settings.ef_search):
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
            "enrol it anyway only if it is someone else (enrol --force, or force=true over HTTP)"
        )
    return ranked


def enrol_folders(
    rt: Runtime,
    root: Path,
    *,
    add: bool,
    force: bool,
    largest: bool,
    on_person: Callable[[BulkOutcome], None] | None,
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
        outcome = _enrol_folder(rt, folder, add=add, force=force, largest=largest)
        outcomes.append(outcome)
        if on_person is not None:
            on_person(outcome)
    if any(o.status != "skipped" for o in outcomes):
        recalibrate_gallery_quietly(rt)
    return outcomes


def _enrol_folder(
    rt: Runtime, folder: Path, *, add: bool, force: bool, largest: bool
) -> BulkOutcome:
    name = folder.name
    images = 0
    try:
        name = clean_name(folder.name)
        with rt.transaction() as session:
            if gallery.find_user(session, name) is not None and not add:
                return BulkOutcome(name, "skipped", "already enrolled", 0, 0)
        capture = rt.capture(str(folder), wanted=10_000)
        images = capture.frames
        result = enrol_faces(rt, name, capture, str(folder), add=add, largest=largest, force=force)
    except _FOLDER_REFUSED as exc:
        return BulkOutcome(name, "skipped", exc.message, 0, images)
    status = "enrolled" if result.created else "added"
    return BulkOutcome(result.name, status, None, result.added, images, result.lookalikes)


def _check_liveness(capture: Capture, threshold: float) -> None:
    """Refuses an enrolment in which any good face (else, with no good face, any face
    refused by the quality gate) was judged an attack (docs/LIVENESS.md)."""
    weakest = least_live(capture.good or capture.rejected_faces)
    if weakest is not None and is_attack(weakest, threshold):
        raise SpoofError(f"{attack_reason(weakest, threshold)}; nothing was enrolled")


def _check_capture(capture: Capture, source: str, largest: bool) -> None:
    """Refuses an enrolment that would be wrong: no face, whose face, or poor faces."""
    if capture.several_faces and not largest:
        raise MultipleFacesError(
            f"several faces in {capture.several_faces[0]}: enrol one person at a time, "
            "or take the largest face (enrol --largest, or largest=true over HTTP)"
        )
    if capture.good:
        return
    if capture.faces_seen == 0:
        where = f"{capture.frames} frame(s) of {source}" if capture.frames else source
        raise NoFaceError(f"no face found in {where}")
    raise QualityError(
        f"no face of {source} passed the quality gate: {'; '.join(capture_reasons(capture))}"
    )


def pose_hint(capture: Capture) -> str:
    """What a person enrolling at a camera should do next (vision.capture.pose_hint)."""
    from facedb.vision.capture import pose_hint as hint

    return hint(capture)
