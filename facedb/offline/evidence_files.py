"""The evidence of a doubtful decision made offline: one file per event beside the
spool (FACEDB_HOME/spool/evidence/<event_id>.json), sent to the database when the
spool is replayed (usecases/evidence.py decides what is kept)."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import logging
import math
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from facedb.domain.evidence import Candidate
from facedb.fsio import atomic_write
from facedb.store import evidence, tombstones
from facedb.store.evidence import NewEvidence

log = logging.getLogger(__name__)

EVIDENCE_DIR = "evidence"  # under the spool's folder
FILE_VERSION = 1
# An evidence file larger than this is not read (a thumbnail and a vector are ~12 kB).
MAX_FILE_BYTES = 256 * 1024


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


def _without_the_forgotten(
    item: NewEvidence, tombs: dict[int, datetime | None], orphans: set[uuid.UUID]
) -> NewEvidence | None:
    """The evidence as an erasure leaves it: None when it shows a forgotten person."""
    if item.event_id in orphans:
        return None
    if item.candidates and tombstones.erased(tombs, item.candidates[0].user_id, item.occurred_at):
        return None
    others = tuple(
        c for c in item.candidates if not tombstones.erased(tombs, c.user_id, item.occurred_at)
    )
    return dataclasses.replace(item, candidates=others)


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
    too. A file whose event is not there yet stays. Returns how many were stored.

    Erasure is final (store/tombstones.py): a file whose event lost its person (a
    person removed or forgotten since), or whose best candidate is a forgotten
    person, is deleted unsent (it shows their face); a forgotten person is struck
    from the candidates of the others."""
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
            orphans = evidence.unlinked_event_ids(session, list(logged))
            tombs = tombstones.of(
                session, {c.user_id for i in items.values() for c in i.candidates}
            )
            for path, item in items.items():
                if item.event_id not in logged:
                    continue
                gone.append(path)
                kept = _without_the_forgotten(item, tombs, orphans)
                if kept is not None:
                    stored += evidence.insert_evidence(session, kept)
    for path in gone:
        path.unlink(missing_ok=True)
    return stored
