"""The review queue's use cases (docs/REVIEW.md): the doubtful events with their
evidence, and what an administrator does about them. Every action is one
transaction of the FaceService's database and leaves an append-only review_actions
row; a reassignment also leaves an attendance correction (store/corrections.py),
so that the timesheet follows it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from facedb.domain.evidence import EvidenceInfo
from facedb.domain.names import clean_name
from facedb.domain.notes import clean_note
from facedb.errors import DuplicateNameError, InvalidInputError
from facedb.numeric import l2_normalize
from facedb.review.clustering import MAX_FACES, average_linkage
from facedb.service import FaceService
from facedb.store import corrections, evidence, gallery
from facedb.store.evidence import StoredFace
from facedb.usecases import template_updates
from facedb.usecases.results import EnrolResult
from facedb.vision.capture import Capture, CapturedFace
from facedb.vision.types import AnalysedFace, DetectedFace, QualityVerdict


@dataclass(frozen=True)
class ReviewResult:
    event_id: uuid.UUID
    action: str  # accept, reassign, dismiss, enrol
    person: str | None  # reassign/enrol: the person named
    correction_id: int | None  # reassign: the attendance correction written
    review_id: int


@dataclass(frozen=True)
class UnknownGroup:
    """Unknown faces that look like one stranger: ``id`` is the short id of its first
    event (stable while that event is kept), for `facedb review unknowns enrol`."""

    id: str
    count: int
    devices: tuple[str, ...]
    first_seen: datetime
    last_seen: datetime
    cohesion: float  # the lowest similarity of a face to the group's mean
    event_ids: tuple[uuid.UUID, ...]  # oldest first


@dataclass(frozen=True)
class GroupEnrolResult:
    group: str
    enrolment: EnrolResult
    events: int  # events of the group marked enrolled in the queue


class Review:
    """The review queue, on the database of ``service``."""

    def __init__(self, service: FaceService) -> None:
        self.service = service

    # -- the queue ------------------------------------------------------------------

    def queue(
        self,
        *,
        status: str = "open",
        decisions: Sequence[str] | None = None,
        since: datetime | None = None,
        limit: int = 100,
    ) -> list[EvidenceInfo]:
        if limit < 1:
            raise InvalidInputError("--limit is at least 1")
        with self.service.transaction() as s:
            return evidence.list_evidence(
                s, status=status, decisions=decisions, since=since, limit=limit
            )

    def show(self, event: str) -> EvidenceInfo:
        with self.service.transaction() as s:
            event_id = evidence.find_event(s, event)
            return evidence.list_evidence(s, status="all", event_ids=[event_id], limit=1)[0]

    def thumbnail(self, event: str) -> tuple[uuid.UUID, bytes]:
        """The JPEG kept for the event."""
        with self.service.transaction() as s:
            event_id = evidence.find_event(s, event)
            data = evidence.thumbnail(s, event_id)
        if data is None:
            raise InvalidInputError(f"no evidence is kept for event {event_id}")
        return event_id, data

    # -- actions ----------------------------------------------------------------------

    def accept(self, event: str, *, by: str, note: str | None = None) -> ReviewResult:
        """Confirms the decision as logged."""
        return self._simple(event, "accept", by, note)

    def dismiss(self, event: str, *, by: str, note: str | None = None) -> ReviewResult:
        """Takes the event out of the queue (nothing to do: a passer-by, a test)."""
        return self._simple(event, "dismiss", by, note)

    def _simple(self, event: str, action: str, by: str, note: str | None) -> ReviewResult:
        who, note = clean_name(by), _note(note)
        with self.service.transaction() as s:
            event_id = evidence.find_event(s, event)
            review_id = evidence.add_action(s, event_id, action, created_by=who, note=note)
            if action == "dismiss":
                template_updates.not_the_person(s, event_id, action, by=who)
        return ReviewResult(event_id, action, None, None, review_id)

    def reassign(
        self,
        event: str,
        person: str,
        *,
        by: str,
        reason: str | None = None,
        note: str | None = None,
    ) -> ReviewResult:
        """The event was ``person``: an accepted event is reassigned to them (reason
        false_accept unless told), any other is added as their punch at its time and
        device (reason missed_punch), through an attendance correction."""
        who, note = clean_name(by), _note(note)
        with self.service.transaction() as s:
            event_id = evidence.find_event(s, event)
            target = gallery.get_user(s, person)
            decision, occurred_at, device = evidence.event_at(s, event_id)
            text = f"review of event {event_id}" + (f": {note}" if note else "")
            if decision == "accepted":
                template_updates.not_the_person(s, event_id, "reassign", by=who, instead=target.id)
                if corrections.event_history(s, event_id).counted_for == target.name:
                    raise InvalidInputError(
                        f"event {event_id} counts for {target.name} already: nothing to reassign"
                    )
                correction = corrections.correct_event(
                    s,
                    event_id,
                    "reassign",
                    reason=reason or "false_accept",
                    note=text,
                    created_by=who,
                    user_id=target.id,
                )
            else:
                correction = corrections.add_punch(
                    s,
                    target.id,
                    occurred_at,
                    device=device,
                    direction=None,
                    reason=reason or "missed_punch",
                    note=text,
                    created_by=who,
                )
            review_id = evidence.add_action(
                s,
                event_id,
                "reassign",
                created_by=who,
                user_id=target.id,
                correction_id=correction.id,
                note=note,
            )
        return ReviewResult(event_id, "reassign", target.name, correction.id, review_id)

    def enrol(
        self,
        events: Sequence[str],
        name: str,
        *,
        by: str,
        new: bool = False,
        force: bool = False,
        note: str | None = None,
    ) -> EnrolResult:
        """Enrols the faces kept for ``events`` into ``name``: an existing person (faces
        added), or with ``new`` a new one; enrolment's liveness, quality and
        duplicate checks apply to the faces as they were judged when seen."""
        who, note = clean_name(by), _note(note)
        with self.service.transaction() as s:
            event_ids = [evidence.find_event(s, e) for e in events]
            faces = evidence.stored_faces(s, event_ids)
            exists = gallery.find_user(s, clean_name(name)) is not None
        # The flags differ by command: `review enrol --new` creates the person,
        # `review unknowns enrol` does unless --add.
        if not new and not exists:
            raise InvalidInputError(
                f"nobody is called {name!r}: enrol the faces as a new person "
                "(review enrol --new; review unknowns enrol without --add)"
            )
        if new and exists:
            raise DuplicateNameError(
                f"{name!r} is already enrolled: add the faces to that person "
                "(review enrol without --new; review unknowns enrol --add)"
            )
        capture = _capture(faces)
        where = f"the evidence of {len(event_ids)} event(s)"
        result = self.service.enrol_capture(
            name, capture, where, add=not new, largest=True, force=force
        )
        with self.service.transaction() as s:
            for event_id in event_ids:
                evidence.add_action(
                    s, event_id, "enrol", created_by=who, user_id=result.user_id, note=note
                )
        return result

    # -- unknown faces, grouped ---------------------------------------------------------

    def unknowns(self, *, since: datetime | None = None, min_count: int = 1) -> list[UnknownGroup]:
        """The unknown faces nobody reviewed, grouped by stranger, largest group first."""
        model = self.service.pipeline.embedder_name
        with self.service.transaction() as s:
            faces = evidence.open_unknowns(s, model, since, limit=MAX_FACES)
        if not faces:
            return []
        vectors = np.stack([f.embedding for f in faces if f.embedding is not None])
        groups = []
        for rows in average_linkage(vectors, self.service.settings.cluster_similarity):
            if len(rows) < min_count:
                continue
            members = [faces[i] for i in rows]
            centre = l2_normalize(vectors[rows].mean(axis=0))
            groups.append(
                UnknownGroup(
                    id=_short(members[0].event_id),
                    count=len(members),
                    devices=tuple(sorted({m.device or "?" for m in members})),
                    first_seen=members[0].occurred_at,
                    last_seen=members[-1].occurred_at,
                    cohesion=round(float((vectors[rows] @ centre).min()), 4),
                    event_ids=tuple(m.event_id for m in members),
                )
            )
        return sorted(groups, key=lambda g: (-g.count, g.first_seen))

    def group(self, group_id: str) -> UnknownGroup:
        key = group_id.strip().lower()
        for found in self.unknowns():
            if found.id == key or str(found.event_ids[0]) == key:
                return found
        raise InvalidInputError(
            f"no open group of unknown faces is called {group_id!r} (see facedb review unknowns)"
        )

    def enrol_group(
        self, group_id: str, name: str, *, by: str, new: bool = True, force: bool = False
    ) -> GroupEnrolResult:
        found = self.group(group_id)
        ids = [str(e) for e in found.event_ids]
        result = self.enrol(ids, name, by=by, new=new, force=force, note=f"group {found.id}")
        return GroupEnrolResult(found.id, result, len(ids))

    def dismiss_group(self, group_id: str, *, by: str, note: str | None = None) -> int:
        found = self.group(group_id)
        who, note = clean_name(by), _note(note)
        with self.service.transaction() as s:
            for event_id in found.event_ids:
                evidence.add_action(
                    s, event_id, "dismiss", created_by=who, note=note or f"group {found.id}"
                )
        return len(found.event_ids)

    # -- retention ----------------------------------------------------------------------

    def purge(self) -> int:
        """Deletes the evidence older than FACEDB_EVIDENCE_DAYS (also done at each write)."""
        before = datetime.now(UTC) - timedelta(days=self.service.settings.evidence_days)
        with self.service.transaction() as s:
            return evidence.purge_before(s, before)


def _note(note: str | None) -> str | None:
    return clean_note(note)


def _short(event_id: uuid.UUID) -> str:
    return event_id.hex[:8]


def _capture(faces: Sequence[StoredFace]) -> Capture:
    """The kept faces as a capture, judged as they were when seen."""
    capture = Capture()
    for face in faces:
        capture.frames += 1
        captured = CapturedFace(_analysed(face), f"event {face.event_id}")
        if face.quality_ok and face.embedding is not None:
            capture.good.append(captured)
        else:
            capture.rejected.append((captured.origin, face.reasons or ("no usable face",)))
            capture.rejected_faces.append(captured)
    return capture


def _analysed(face: StoredFace) -> AnalysedFace:
    verdict = QualityVerdict(
        accepted=face.quality_ok,
        reasons=face.reasons,
        size_px=0,
        det_score=face.det_score or 0.0,
        sharpness=0.0,
        yaw=0.0,
        pitch=0.0,
        score=face.quality or 0.0,
    )
    detected = DetectedFace(
        box=np.zeros(4, np.float32),
        score=face.det_score or 0.0,
        landmarks=np.zeros((5, 2), np.float32),
    )
    return AnalysedFace(detected, verdict, face.embedding, face.liveness)
