"""Enrolment from uploaded photos, with what became of each photo (the admin
console): kept, or refused and why (unreadable, no face, several faces, the quality
gate's reasons, not kept as too like a better photo, already enrolled as someone
else). The enrolment itself is enrolment.enrol_faces, as for every other path;
check_photos answers the same before anything is written (the page's live feedback)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from facedb.domain.constants import KEEP_PER_PERSON
from facedb.errors import DuplicateIdentityError, ImageError
from facedb.media.budget import DecodeLedger
from facedb.media.frames import ImagesSource
from facedb.media.images import BGRImage, read_image
from facedb.store import gallery
from facedb.usecases import enrolment
from facedb.usecases.results import EnrolResult
from facedb.usecases.runtime import Runtime
from facedb.usecases.thresholds import recalibrate_gallery_quietly
from facedb.usecases.uploads import EncodedImage
from facedb.vision.capture import Capture, diverse_selection

KEPT = "kept"


@dataclass(frozen=True)
class PhotoOutcome:
    label: str  # the file's name as uploaded
    kept: bool
    reason: str  # "kept", else why not


@dataclass(frozen=True)
class PhotoEnrolment:
    photos: tuple[PhotoOutcome, ...]
    result: EnrolResult | None  # None: nothing was enrolled
    refused: str | None  # why nothing was enrolled (a refusal of enrolment's checks)


def enrol_photos(
    rt: Runtime,
    name: str,
    images: Sequence[EncodedImage],
    *,
    add: bool = False,
    force: bool = False,
) -> PhotoEnrolment:
    """Enrols ``name`` from the faces of these photos (one person per photo: a photo
    with several good faces is refused rather than guessed at)."""
    photos, usable = _analyse(rt, images)
    if not usable.good:
        return PhotoEnrolment(photos, None, "no photo has a usable face of one person")
    try:
        result = enrolment.enrol_faces(rt, name, usable, "uploaded photos", add=add, force=force)
    except enrolment.REFUSED as exc:
        return PhotoEnrolment(photos, None, exc.message)
    recalibrate_gallery_quietly(rt)
    return PhotoEnrolment(photos, result, None)


def check_photos(
    rt: Runtime, images: Sequence[EncodedImage], person: str | None = None
) -> tuple[PhotoOutcome, ...]:
    """What enrolment would make of each photo, before enrolling: enrol_photos'
    answers, and for a usable face whether it is already enrolled as someone else or
    resembles someone enrolled (above the 1:1 threshold; ``person``: the enrolled
    person the faces are for, not counted). Writes nothing."""
    photos, usable = _analyse(rt, images)
    origins = [f"#{i}" for i in range(len(images))]
    faces = {f.origin: f for f in usable.good}
    checked = []
    with rt.transaction() as session:
        own = gallery.get_user(session, person).id if person else None
        for photo, origin in zip(photos, origins, strict=True):
            face = faces.get(origin)
            if face is None:
                checked.append(photo)
                continue
            try:
                alike = enrolment.known_faces(rt, session, [face], own, force=False)
            except DuplicateIdentityError as exc:
                checked.append(PhotoOutcome(photo.label, False, exc.message))
                continue
            if alike:
                note = f"{photo.reason}; resembles {alike[0].name} ({alike[0].similarity:.2f})"
                checked.append(PhotoOutcome(photo.label, photo.kept, note))
            else:
                checked.append(photo)
    return tuple(checked)


def _analyse(
    rt: Runtime, images: Sequence[EncodedImage]
) -> tuple[tuple[PhotoOutcome, ...], Capture]:
    """Each photo's outcome, and the capture of the usable faces (one per photo)."""
    ledger = DecodeLedger()  # the photos of one request share one decoding budget
    decoded: list[tuple[BGRImage, str]] = []
    outcomes: dict[str, str] = {}
    origins = [f"#{i}" for i in range(len(images))]
    for image, origin in zip(images, origins, strict=True):
        try:
            decoded.append((read_image(image.data, name=image.label, ledger=ledger), origin))
        except ImageError as exc:
            outcomes[origin] = f"unreadable: {exc.message}"
    capture = Capture()
    if decoded:
        capture = rt.capture(ImagesSource(decoded, "uploaded photos"), wanted=len(decoded))
    for origin in capture.no_face:
        outcomes[origin] = "no face found"
    for origin in capture.several_faces:
        outcomes[origin] = "several faces: upload photos of this person alone"
    for origin, reasons in capture.rejected:
        outcomes[origin] = "refused by the quality gate: " + "; ".join(reasons)
    usable = Capture(
        good=[g for g in capture.good if g.origin not in capture.several_faces],
        frames=capture.frames,
        no_face=capture.no_face,
        rejected=capture.rejected,
        rejected_faces=capture.rejected_faces,
    )
    kept = {f.origin for f in diverse_selection(usable.good, KEEP_PER_PERSON)}
    for face in usable.good:
        outcomes[face.origin] = KEPT if face.origin in kept else "not kept: too like a better photo"
    photos = tuple(
        PhotoOutcome(image.label, outcomes.get(origin) == KEPT, outcomes.get(origin, "not used"))
        for image, origin in zip(images, origins, strict=True)
    )
    return photos, usable
