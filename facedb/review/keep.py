"""What is kept of a doubtful decision, and where: with the event in the database
(online, in the decision's transaction), or beside the spooled event on the kiosk's
disk (offline), sent to the database when the spool is replayed.

A decision is doubtful unless it is a plain accept with a clear margin: unknown,
rejected, ambiguous, bad_quality and spoof are, and so is an accept less than
FACEDB_EVIDENCE_MARGIN above its threshold or over the runner-up's margin
(FACEDB_EVIDENCE=all keeps every decision's face, off none). no_face has no face.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.domain.evidence import Candidate
from facedb.domain.people import Match
from facedb.fsio import atomic_write
from facedb.matching import Matcher, SqlMatcher
from facedb.numeric import l2_normalize
from facedb.offline.matcher import CacheMatcher
from facedb.store import evidence
from facedb.store.evidence import NewEvidence

if TYPE_CHECKING:  # the vision stack is loaded by the commands that see faces
    from facedb.vision.capture import CapturedFace

log = logging.getLogger(__name__)

JPEG_QUALITY = 85  # a 112x112 crop: about 3 to 5 kB
CANDIDATES_KEPT = 5
EVIDENCE_DIR = "evidence"  # under the spool's folder
FILE_VERSION = 1
# An evidence file larger than this is not read (a thumbnail and a vector are ~12 kB).
MAX_FILE_BYTES = 256 * 1024


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
    import cv2

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


def keep_evidence(
    settings: Settings,
    matcher: Matcher,
    event: AttendanceEvent,
    faces: Sequence[CapturedFace],
    candidates: Sequence[Match],
) -> bool:
    """Keeps the evidence of a logged event when it is doubtful: online in the
    matcher's transaction (and purges what is past the retention), offline in a file
    beside the spool. A failure to keep it is logged, never fails the decision."""
    if not is_doubtful(settings, event):
        return False
    item = collect(event, faces, candidates)
    if item is None:
        return False
    if isinstance(matcher, SqlMatcher):
        return _store(matcher.session, item, settings.evidence_days)
    if isinstance(matcher, CacheMatcher):
        try:
            write_file(matcher.spool.directory / EVIDENCE_DIR, item)
        except OSError as exc:
            log.warning("could not keep the evidence of event %s: %s", event.event_id, exc)
            return False
        return True
    return False


def _store(session: Session, item: NewEvidence, days: float) -> bool:
    try:
        with session.begin_nested():
            stored = evidence.insert_evidence(session, item)
            evidence.purge_before(session, datetime.now(UTC) - timedelta(days=days))
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        log.warning("could not keep the evidence of event %s: %s", item.event_id, exc)
        return False
    except SQLAlchemyError as exc:
        log.warning("could not keep the evidence of event %s: %s", item.event_id, exc)
        return False
    return stored


# -- offline: one file per event beside the spool ---------------------------------


def _encode(item: NewEvidence) -> bytes:
    vector = item.embedding
    data = {
        "version": FILE_VERSION,
        "event_id": str(item.event_id),
        "occurred_at": item.occurred_at.isoformat(),
        "model": item.model,
        "embedding": (
            base64.b64encode(vector.astype("<f4").tobytes()).decode()
            if vector is not None
            else None
        ),
        "thumbnail": base64.b64encode(item.thumbnail).decode(),
        "quality_ok": item.quality_ok,
        "quality": item.quality,
        "det_score": item.det_score,
        "liveness": item.liveness,
        "reasons": list(item.reasons),
        "candidates": [[c.user_id, c.name, c.similarity] for c in item.candidates],
    }
    return json.dumps(data, ensure_ascii=True).encode()


def _number(value: Any) -> float:
    # JSON reads NaN and Infinity, which a jsonb column refuses (the whole replay would).
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("not a finite number")
    return float(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else _number(value)


def decode(raw: bytes) -> NewEvidence:
    """An evidence file's content; ValueError when it is not one (files are hostile)."""
    try:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("version") != FILE_VERSION:
            raise ValueError("not an evidence file of this version")
        vector = None
        if data["embedding"] is not None:
            vector = np.frombuffer(base64.b64decode(data["embedding"], validate=True), "<f4")
            if vector.shape != (512,) or not np.all(np.isfinite(vector)):
                raise ValueError("the embedding is not 512 finite numbers")
        occurred = datetime.fromisoformat(data["occurred_at"])
        if occurred.tzinfo is None:
            raise ValueError("the time has no zone")
        return NewEvidence(
            event_id=uuid.UUID(data["event_id"]),
            occurred_at=occurred,
            model=str(data["model"]),
            embedding=vector.astype(np.float32) if vector is not None else None,
            thumbnail=base64.b64decode(data["thumbnail"], validate=True),
            quality_ok=bool(data["quality_ok"]),
            quality=_optional_float(data["quality"]),
            det_score=_optional_float(data["det_score"]),
            liveness=_optional_float(data["liveness"]),
            reasons=tuple(str(r) for r in data["reasons"]),
            candidates=tuple(
                Candidate(int(u), str(n), _number(s)) for u, n, s in data["candidates"]
            ),
        )
    except (KeyError, TypeError, OverflowError, binascii.Error, json.JSONDecodeError) as exc:
        raise ValueError(f"not an evidence file: {exc}") from None


def write_file(directory: Path, item: NewEvidence) -> Path:
    """Writes the evidence durably (fsync'd, then renamed into place)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{item.event_id}.json"
    atomic_write(path, _encode(item))
    return path


def replay_files(
    spool_directory: Path,
    transaction: Callable[[], AbstractContextManager[Session]],
    days: float,
) -> int:
    """Sends the evidence files whose event is in the database now (each once), and
    deletes them once committed; a file past the retention, or unreadable, is deleted
    too. A file whose event is not there yet stays. Returns how many were stored."""
    directory = spool_directory / EVIDENCE_DIR
    if not directory.is_dir():
        return 0
    oldest = datetime.now(UTC) - timedelta(days=days)
    items: dict[Path, NewEvidence] = {}
    gone: list[Path] = []
    for path in sorted(directory.glob("*.json")):
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ValueError("too large")
            item = decode(path.read_bytes())
        except (OSError, ValueError) as exc:
            log.warning("dropping unreadable evidence file %s: %s", path.name, exc)
            gone.append(path)
            continue
        if item.occurred_at < oldest:
            gone.append(path)
        else:
            items[path] = item
    stored = 0
    if items:
        with transaction() as session:
            logged = evidence.logged_event_ids(session, [i.event_id for i in items.values()])
            for path, item in items.items():
                if item.event_id in logged:
                    stored += evidence.insert_evidence(session, item)
                    gone.append(path)
    for path in gone:
        path.unlink(missing_ok=True)
    return stored
