"""Bulk import: enrol the people of a manifest (an HR export) in one run.

1. ``read_manifest`` (facedb/importing/manifest.py) checks the whole file first. With problems,
   nothing is written (ManifestError lists them with their line numbers), unless
   ``skip_invalid``: the invalid rows are then rejected and the others imported.
2. People already enrolled (matched by external id, else by name) are skipped before
   any photo is read; with ``update`` their embeddings are replaced instead and their
   name, external id and metadata updated.
3. The photos of several people are decoded and analysed together, in batches of
   about ``BATCH_IMAGES`` images (FacePipeline.analyse: detection with the tight-crop
   and large-photo retries, quality gate, embeddings).
4. Each person is then written in their own transaction through the path `facedb
   enrol` uses (FaceService.enrol_faces): the best diverse faces, and the refusal of
   a face enrolled as someone else. A person who cannot be imported is rejected with
   the reason and the others go on.
5. The rejected rows are written to a CSV with the manifest's columns and a ``reason``
   column, to fix and import again.

Running the same manifest twice is harmless: the second run skips everyone imported
by the first (with ``update``, replaces their faces by the same faces).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facedb.csvout import CsvWriter
from facedb.errors import DuplicateNameError, FacedbError, ImageError, InvalidInputError
from facedb.importing.manifest import REASON, Manifest, ManifestError, ManifestRow
from facedb.media.images import read_image
from facedb.service import FaceService
from facedb.store import gallery
from facedb.usecases.enrolment import REFUSALS
from facedb.vision.capture import Capture
from facedb.vision.crops import check_aligned_shape

log = logging.getLogger(__name__)

# Images decoded and analysed together (the people of a batch are kept whole).
BATCH_IMAGES = 8

ENROLLED = "enrolled"
UPDATED = "updated"
SKIPPED = "skipped"  # already enrolled, nothing to do
REJECTED = "rejected"  # could not be imported: in the rejects file

# Why a row was rejected, from the error that refused it: enrolment's refusals, and
# a row none of whose photos could be read.
_REASONS: tuple[tuple[type[FacedbError], str], ...] = (
    *REFUSALS,
    (ImageError, "unreadable image"),
)


@dataclass(frozen=True)
class ImportOptions:
    update: bool = False  # replace the faces of people already enrolled
    force: bool = False  # enrol a face even if it matches another person
    largest: bool = False  # a photo with several faces: take the largest
    skip_invalid: bool = False  # reject invalid rows and import the others
    aligned: bool = False  # photos are crops aligned to the ArcFace template
    rejects: Path | None = None  # default: <manifest>.rejects.csv next to the manifest


@dataclass(frozen=True)
class RowOutcome:
    line: int
    name: str
    external_id: str | None
    status: str  # enrolled, updated, skipped, rejected
    reason: str | None  # skipped / rejected: already enrolled, no face, several faces ...
    detail: str | None  # for a person: what exactly went wrong
    embeddings: int  # faces stored now
    photos: int  # photos listed in the row


@dataclass(frozen=True)
class ImportReport:
    manifest: Path
    outcomes: list[RowOutcome]  # in line order
    rejects_file: Path | None  # None when nothing was rejected
    seconds: float
    counts: dict[str, int] = field(default_factory=dict)  # status or "skipped: reason" -> rows


def default_rejects_path(manifest: Path) -> Path:
    return manifest.with_name(f"{manifest.stem}.rejects.csv")


def run_import(
    service: FaceService,
    manifest: Manifest,
    options: ImportOptions,
    on_row: Callable[[RowOutcome], None] | None = None,
) -> ImportReport:
    """Imports a checked manifest (see the module docstring); ``on_row`` is called with
    each row's outcome as it is decided (in no particular order)."""
    problems = manifest.problems
    if manifest.file_problems or (problems and not options.skip_invalid):
        raise ManifestError(manifest, problems)
    started = time.monotonic()
    outcomes: list[RowOutcome] = []

    def decided(outcome: RowOutcome) -> None:
        outcomes.append(outcome)
        if on_row is not None:
            on_row(outcome)

    for row in manifest.rows:
        if not row.valid:
            decided(_outcome(row, REJECTED, "invalid row", "; ".join(row.problems)))
    todo = _plan(service, manifest.valid_rows, options, decided)
    liveness = service.pipeline.liveness_enabled(False)
    for batch in _batches(todo):
        captures = _analyse(service, batch, options.aligned, liveness)
        for row in batch:
            decided(_write(service, row, captures[row.line], options))
    outcomes.sort(key=lambda o: o.line)
    if todo:
        service.recalibrate_gallery_quietly()  # the 1:N policy learns the new gallery
    rejects = _write_rejects(manifest, outcomes, options.rejects)
    return ImportReport(
        manifest.path, outcomes, rejects, time.monotonic() - started, _counts(outcomes)
    )


def _plan(
    service: FaceService,
    rows: list[ManifestRow],
    options: ImportOptions,
    decided: Callable[[RowOutcome], None],
) -> list[ManifestRow]:
    """The rows to embed: not those enrolled already (unless ``update``), nor those whose
    name belongs to someone with another external id."""
    todo = []
    with service.transaction() as session:
        for row in rows:
            try:
                user = gallery.find_person(session, row.name, row.external_id)
            except DuplicateNameError as exc:
                decided(_outcome(row, REJECTED, "duplicate name", exc.message))
                continue
            if user is not None and not options.update:
                detail = f"enrolled as {user.name!r}: use --update to replace the faces"
                decided(_outcome(row, SKIPPED, "already enrolled", detail))
            else:
                todo.append(row)
    return todo


def _batches(rows: list[ManifestRow]) -> Iterator[list[ManifestRow]]:
    batch: list[ManifestRow] = []
    images = 0
    for row in rows:
        batch.append(row)
        images += len(row.photos)
        if images >= BATCH_IMAGES:
            yield batch
            batch, images = [], 0
    if batch:
        yield batch


def _analyse(
    service: FaceService, rows: list[ManifestRow], aligned: bool, liveness: bool
) -> dict[int, Capture]:
    """Each row's capture (line -> Capture): its photos decoded and analysed in one
    pipeline call with the other rows' photos; an unreadable photo is in ``skipped``."""
    captures = {row.line: Capture() for row in rows}
    images: list[np.ndarray] = []
    owners: list[tuple[int, str]] = []
    for row in rows:
        for photo in row.photos:
            try:
                image = read_image(photo)
                if aligned:
                    check_aligned_shape(image)
            except (ImageError, InvalidInputError) as exc:
                reason = exc.message.split(": ", 1)[-1]
                log.info("line %d: skipping %s: %s", row.line, photo, reason)
                captures[row.line].skipped.append((photo, reason))
                continue
            images.append(image)
            owners.append((row.line, str(photo)))
    analysed = service.pipeline.analyse(images, liveness=liveness, aligned=aligned)
    for (line, origin), image, faces in zip(owners, images, analysed, strict=True):
        captures[line].add(origin, faces, image.shape[1], image.shape[0])
    return captures


def _write(
    service: FaceService, row: ManifestRow, capture: Capture, options: ImportOptions
) -> RowOutcome:
    """Writes one person in their own transaction, or says why not."""
    photos = "; ".join(photo.name for photo in row.photos)
    try:
        if capture.frames == 0:
            unreadable = "; ".join(f"{path.name}: {why}" for path, why in capture.skipped)
            raise ImageError(f"no photo could be read ({unreadable})")
        result = service.enrol_faces(
            row.name,
            capture,
            photos,
            largest=options.largest,
            force=options.force,
            replace=options.update,
            external_id=row.external_id,
            meta=row.meta,
        )
    except FacedbError as exc:
        reason = next((r for kind, r in _REASONS if isinstance(exc, kind)), None)
        if reason is None:
            raise  # the database, a model: not this row's fault
        return _outcome(row, REJECTED, reason, exc.message)
    status = ENROLLED if result.created else UPDATED
    detail = None
    if capture.skipped:
        detail = "unreadable: " + "; ".join(f"{p.name}: {why}" for p, why in capture.skipped)
    return _outcome(row, status, None, detail, embeddings=result.added)


def _outcome(
    row: ManifestRow, status: str, reason: str | None, detail: str | None, embeddings: int = 0
) -> RowOutcome:
    return RowOutcome(
        line=row.line,
        name=row.name,
        external_id=row.external_id,
        status=status,
        reason=reason,
        detail=detail,
        embeddings=embeddings,
        photos=len(row.photos),
    )


def _counts(outcomes: list[RowOutcome]) -> dict[str, int]:
    counts: dict[str, int] = {ENROLLED: 0, UPDATED: 0, SKIPPED: 0, REJECTED: 0}
    for outcome in outcomes:
        counts[outcome.status] += 1
        if outcome.reason is not None:
            key = f"{outcome.status}: {outcome.reason}"
            counts[key] = counts.get(key, 0) + 1
    return counts


def _write_rejects(
    manifest: Manifest, outcomes: list[RowOutcome], path: Path | None
) -> Path | None:
    """The rejected rows, as read, with a ``reason`` column; None when there are none.

    Without rejects, a default rejects file left by an earlier run is removed, so that
    an old list is never taken for the result of this run."""
    target = path if path is not None else default_rejects_path(manifest.path)
    rejected = {o.line: o for o in outcomes if o.status == REJECTED}
    if not rejected:
        if path is None and target.exists():
            log.info("no rejects: removing %s from an earlier run", target)
            target.unlink()
        return None
    keep = [i for i, column in enumerate(manifest.columns) if column.lower() != REASON]
    try:
        with target.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = CsvWriter(handle)  # formula prefixes escaped: the cells are user text
            writer.writerow([manifest.columns[i] for i in keep] + [REASON])
            for row in manifest.rows:
                outcome = rejected.get(row.line)
                if outcome is not None:
                    why = f"line {row.line}: {outcome.reason}: {outcome.detail}"
                    writer.writerow([row.values[i] for i in keep] + [why])
    except OSError as exc:
        raise InvalidInputError(
            f"cannot write the rejects file {target}: {exc.strerror or exc}"
        ) from None
    return target
