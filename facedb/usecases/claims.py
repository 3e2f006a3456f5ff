"""A claim of a name nobody is enrolled under, made by a kiosk key (facedb/api/guard.py).

It is answered as a refused claim, after the same work (the faces are captured and
screened: no_face, bad_quality and spoof come out as they would), and logged as a
rejected verification with no claimed person, so that the attempts stay visible.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from facedb.decision import least_live, screen
from facedb.domain.attendance import AttendanceEvent
from facedb.domain.names import clean_name
from facedb.matching import SqlMatcher
from facedb.media.frames import FrameSource
from facedb.usecases.results import FaceBox, VerifyResult
from facedb.usecases.runtime import Runtime, capture_reasons
from facedb.usecases.thresholds import choose_threshold
from facedb.vision.capture import CapturedFace

log = logging.getLogger(__name__)

FACES_PER_DECISION = 3  # as facedb/usecases/verification.py


def refuse_unknown_claim(
    rt: Runtime, source: FrameSource, claimed: str, device: str
) -> VerifyResult:
    capture = rt.capture(source, wanted=FACES_PER_DECISION)
    used = capture.best(FACES_PER_DECISION)
    verdict = screen(
        used, capture.rejected_faces, capture_reasons(capture), rt.settings.liveness_threshold
    )
    decision = verdict.decision if verdict is not None else "rejected"
    weakest = least_live(used or capture.rejected_faces)
    model = rt.pipeline.embedder_name
    with rt.transaction() as session:
        matcher = SqlMatcher(session, rt.settings.ef_search)
        threshold = choose_threshold(rt, matcher, None)
        event = AttendanceEvent(
            event_id=uuid.uuid4(),
            occurred_at=datetime.now(UTC),
            kind="verify",
            decision=decision,
            user_id=None,
            claimed_user_id=None,
            similarity=None,
            threshold=threshold.value,
            liveness=weakest.face.liveness if weakest is not None else None,
            device=device,
            model=model,
            offline=False,
            threshold_source=threshold.source,
        )
        if decision != "no_face":
            matcher.log_event(event)
    if decision != "no_face":
        log.warning(
            "key %s claimed %r: nobody is enrolled under that name", device, clean_name(claimed)
        )
    return VerifyResult(
        decision=decision,
        kind="verify",
        name=None,
        claimed=claimed,
        similarity=None,
        threshold=threshold.value,
        threshold_source=threshold.source,
        frames=capture.frames,
        faces_used=len(used),
        logged=decision != "no_face",
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        model=model,
        reasons=verdict.reasons if verdict is not None else (),
        faces=tuple(_face_box(c) for c in used),
        liveness=event.liveness,
    )


def _face_box(captured: CapturedFace) -> FaceBox:
    """As a verification reports it (usecases/verification.py)."""
    face = captured.face
    x1, y1, x2, y2 = (round(float(v), 1) for v in face.face.box[:4])
    return FaceBox(captured.origin, (x1, y1, x2, y2), face.face.score, face.quality.score)
