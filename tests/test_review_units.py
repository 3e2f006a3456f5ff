"""The pure parts of review (docs/REVIEW.md): which decisions are doubtful, the
clustering of unknown faces, and the offline evidence files read as hostile input."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import numpy as np
import pytest

from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.domain.evidence import Candidate
from facedb.offline.evidence_files import _encode, decode
from facedb.review.clustering import average_linkage
from facedb.store.evidence import NewEvidence
from facedb.usecases.evidence import is_doubtful


def _event(decision: str, similarity: float | None, runner_up: float | None) -> AttendanceEvent:
    return AttendanceEvent(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        kind="identify",
        decision=decision,
        user_id=1 if decision == "accepted" else None,
        claimed_user_id=None,
        similarity=similarity,
        threshold=0.30,
        liveness=None,
        device="door",
        model="w600k_mbf_int8",
        runner_up=runner_up,
    )


@pytest.mark.parametrize(
    ("decision", "similarity", "runner_up", "doubtful"),
    [
        ("unknown", 0.10, None, True),
        ("rejected", 0.20, None, True),
        ("ambiguous", 0.50, 0.48, True),
        ("bad_quality", None, None, True),
        ("spoof", None, None, True),
        ("no_face", None, None, False),  # nothing to keep
        ("accepted", 0.32, None, True),  # 0.02 above the threshold: small margin
        ("accepted", 0.60, 0.50, True),  # 0.10 over the runner-up: under margin + 0.05
        ("accepted", 0.60, 0.20, False),  # clear of both
        ("accepted", 0.60, None, False),
    ],
)
def test_what_is_doubtful(
    decision: str, similarity: float | None, runner_up: float | None, doubtful: bool
) -> None:
    settings = Settings(margin=0.05, evidence_margin=0.05)
    assert is_doubtful(settings, _event(decision, similarity, runner_up)) is doubtful
    every = settings.replace(evidence="all")
    assert is_doubtful(every, _event(decision, similarity, runner_up)) is (decision != "no_face")
    assert not is_doubtful(settings.replace(evidence="off"), _event(decision, similarity, None))


def _naive_upgma(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Average linkage by its definition: the mean over all cross pairs, recomputed."""
    groups = [[i] for i in range(len(vectors))]
    similarity = vectors @ vectors.T
    while len(groups) > 1:
        best, pair = -np.inf, (0, 0)
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                mean = float(similarity[np.ix_(groups[i], groups[j])].mean())
                if mean > best:
                    best, pair = mean, (i, j)
        if best < threshold:
            break
        i, j = pair
        groups[i] = groups[i] + groups[j]
        del groups[j]
    return sorted((sorted(g) for g in groups), key=lambda g: g[0])


@pytest.mark.parametrize("seed", range(5))
def test_clustering_agrees_with_the_definition(seed: int) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((6, 64))
    labels = rng.integers(0, 6, 60)
    vectors = centres[labels] + rng.normal(0, 0.7 + 0.1 * seed, (60, 64))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    assert average_linkage(vectors, 0.45) == _naive_upgma(vectors, 0.45)


def test_one_odd_face_does_not_chain_two_strangers() -> None:
    # A and B, and B and C, are 0.6 alike; A and C are not alike at all. Single
    # linkage would make one group of the three; average linkage keeps C apart.
    angles = np.radians([0.0, 53.13, 106.26])
    vectors = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    assert average_linkage(vectors, 0.45) == [[0, 1], [2]]
    assert average_linkage(vectors[:0], 0.45) == []
    assert average_linkage(vectors[:1], 0.45) == [[0]]


def _item() -> NewEvidence:
    vector = np.random.default_rng(1).standard_normal(512).astype(np.float32)
    return NewEvidence(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        model="w600k_mbf_int8",
        embedding=vector / np.linalg.norm(vector),
        thumbnail=b"\xff\xd8jpeg\xff\xd9",
        quality_ok=False,
        quality=0.4,
        det_score=0.8,
        liveness=None,
        reasons=("face too small: 38 px, need 64",),
        candidates=(Candidate(3, "Alice", 0.21),),
    )


def test_an_evidence_file_round_trips() -> None:
    item = _item()
    back = decode(_encode(item))
    assert back.embedding is not None and item.embedding is not None
    assert np.array_equal(back.embedding, item.embedding)
    assert back == NewEvidence(**{**item.__dict__, "embedding": back.embedding})


def _tampered(**changes: object) -> bytes:
    data = json.loads(_encode(_item()))
    data.update(changes)
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff not json",
        b"[]",
        _tampered(version=99),
        _tampered(embedding=base64.b64encode(b"\x00" * 12).decode()),
        _tampered(embedding=base64.b64encode(np.full(512, np.nan, "<f4").tobytes()).decode()),
        _tampered(embedding="not base64!"),
        _tampered(event_id="nope"),
        _tampered(occurred_at="2026-12-01T10:00:00"),  # no zone
        _tampered(quality="high"),
        _tampered(candidates=[[1, "x"]]),
        _tampered(candidates=[[1e999, "x", 0.5]]),  # json reads inf: int() overflows
        _tampered(candidates=[[1, "x", 10**400]]),  # float() overflows
        _tampered(candidates=[[1, "x", float("nan")]]),  # jsonb refuses NaN
        _tampered(liveness=float("inf")),
        _tampered(thumbnail=None),
    ],
)
def test_a_damaged_evidence_file_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode(raw)
