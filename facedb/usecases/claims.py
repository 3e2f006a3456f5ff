"""A claim of a name nobody is enrolled under, made by a kiosk key (facedb/api/guard.py).

It is answered as a refused claim, after the same work (the faces are captured and
screened: no_face, bad_quality and spoof come out as they would), and logged as a
rejected verification with no claimed person, so that the attempts stay visible.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from facedb.decision import Policy, Verdict, screen
from facedb.domain.constants import FACES_PER_DECISION
from facedb.domain.names import clean_name
from facedb.usecases.recording import Decision, Recorder
from facedb.usecases.results import VerifyResult
from facedb.usecases.runtime import Runtime, capture_reasons
from facedb.usecases.thresholds import choose_threshold
from facedb.usecases.verification import face_box

if TYPE_CHECKING:  # the vision stack is loaded when a face is seen
    from facedb.media.frames import FrameSource

log = logging.getLogger(__name__)


def refuse_unknown_claim(
    rt: Runtime, source: FrameSource, claimed: str, device: str
) -> VerifyResult:
    capture = rt.capture(source, wanted=FACES_PER_DECISION)
    used = capture.best(FACES_PER_DECISION)
    verdict = screen(
        used, capture.rejected_faces, capture_reasons(capture), rt.settings.liveness_threshold
    )
    decision = verdict.decision if verdict is not None else "rejected"
    model = rt.pipeline.embedder_name
    # Recorded as any verification is (usecases/recording.py): the same presence,
    # evidence and metrics as a refused claim of an enrolled name.
    with Recorder(rt).online() as recording:
        rules = Policy(choose_threshold(rt, recording.matcher, None), None, 0.0)
        recorded = recording.record(
            Decision(
                verdict=verdict or Verdict("rejected", None, None, None),
                kind="verify",
                policy=rules,
                faces=used or capture.rejected_faces,
                device=device,
                model=model,
                event_id=uuid.uuid4(),
                occurred_at=datetime.now(UTC),
            ),
            presence=True,
        )
    event = recorded.event
    threshold = rules.one_to_one
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
        logged=recorded.logged,
        event_id=recorded.event_id or event.event_id,
        occurred_at=event.occurred_at,
        model=model,
        reasons=verdict.reasons if verdict is not None else (),
        faces=tuple(face_box(c) for c in used),
        liveness=event.liveness,
    )
