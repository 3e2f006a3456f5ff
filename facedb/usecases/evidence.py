"""What is kept of a doubtful decision: whether a decision is doubtful, and the
evidence collected from its faces (docs/REVIEW.md). The Recorder
(usecases/recording.py) keeps it
through the Matcher: with the event in the database (online, in the decision's
transaction), or beside the spooled event on the kiosk's disk (offline,
offline/evidence_files.py), sent to the database when the spool is replayed.

A decision is doubtful unless it is a plain accept with a clear margin: unknown,
rejected, ambiguous, bad_quality and spoof are, and so is an accept less than
FACEDB_EVIDENCE_MARGIN above its threshold or over the runner-up's margin
(FACEDB_EVIDENCE=all keeps every decision's face, off none). no_face has no face.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.domain.evidence import Candidate
from facedb.domain.people import Match
from facedb.numeric import l2_normalize
from facedb.store.evidence import NewEvidence

if TYPE_CHECKING:  # the vision stack is loaded when a face is seen
    from facedb.vision.capture import CapturedFace

JPEG_QUALITY = 85  # a 112x112 crop: about 3 to 5 kB
CANDIDATES_KEPT = 5


def is_doubtful(settings: Settings, event: AttendanceEvent) -> bool:
    """Whether the decision's face is kept (module docstring)."""
    if settings.evidence == "off" or event.decision == "no_face":
        return False
    if settings.evidence == "all" or event.decision != "accepted":
        return True
    if event.similarity is None or event.threshold is None:
        return True
    if event.similarity < event.threshold + settings.evidence_margin:
        return True
    return (
        event.runner_up is not None
        and event.similarity - event.runner_up < settings.margin + settings.evidence_margin
    )


def collect(
    event: AttendanceEvent, faces: Sequence[CapturedFace], candidates: Sequence[Match]
) -> NewEvidence | None:
    """The evidence of an event decided on ``faces`` (best first): the best face's
    thumbnail, and the template the decision used. None when no face has a crop."""
    best = next((f for f in faces if f.face.aligned is not None), None)
    if best is None or best.face.aligned is None:
        return None
    import cv2  # only when a face is kept

    ok, encoded = cv2.imencode(".jpg", best.face.aligned, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        return None
    vectors = [f.face.embedding for f in faces if f.face.embedding is not None]
    probe: np.ndarray | None = None
    if vectors:
        probe = l2_normalize(np.stack(vectors).mean(axis=0))
    return NewEvidence(
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        model=event.model,
        embedding=probe,
        thumbnail=encoded.tobytes(),
        quality_ok=best.face.quality.accepted,
        quality=best.face.quality.score,
        det_score=best.face.face.score,
        liveness=event.liveness,
        reasons=best.face.quality.reasons,
        candidates=tuple(
            Candidate(m.user_id, m.name, m.similarity) for m in candidates[:CANDIDATES_KEPT]
        ),
    )
