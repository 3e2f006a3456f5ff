"""Vision at the edge: a device that runs the models itself sends the embedding of a
face for matching and recording only (POST /v1/verify with an embedding). The
decision is verify's (usecases/verification.py): the same policy, the same two-stage
search, the same recording; the device's liveness score is its claim, judged against
this server's liveness threshold and recorded as sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from facedb.errors import InvalidInputError
from facedb.store.tables.base import EMBEDDING_DIM
from facedb.usecases import verification
from facedb.usecases.results import VerifyResult
from facedb.usecases.runtime import Runtime

if TYPE_CHECKING:  # the vision stack is loaded when an embedding comes
    from facedb.vision.capture import Capture

# What the attendance row and the answer name as the source of the face.
ORIGIN = "device embedding"
# Below this norm a vector has no direction to compare: not an embedding.
MIN_NORM = 1e-6


def verify_embedding(
    rt: Runtime,
    embedding: Sequence[float],
    *,
    model: str,
    device: str,
    name: str | None = None,
    liveness: float | None = None,
) -> VerifyResult:
    """Who is this (1:N), or is it the claimed ``name`` (1:1), for an embedding the
    ``device`` computed with ``model``? Refused (InvalidInputError) for another model
    than the gallery's, for a vector that is not an embedding, and without a liveness
    score where this server requires liveness (FACEDB_LIVENESS=on)."""
    served = rt.settings.embedder
    if model != served:
        raise InvalidInputError(
            f"this server's gallery holds {served} embeddings, not {model!r}: "
            f"compute the embedding with {served}"
        )
    if liveness is None and rt.settings.liveness == "on":
        raise InvalidInputError(
            "this server requires liveness (FACEDB_LIVENESS=on): send the device's "
            "liveness score with the embedding"
        )
    capture = device_capture(unit_embedding(embedding), liveness)
    return verification.verify(
        rt,
        capture,
        name=name,
        frames=1,
        timeout=None,
        threshold=None,
        on_frame=None,
        presence=False,  # one row per decision (a repeat within the cooldown aside)
        device=device,
        aligned=True,
        site=None,
        group=None,
    )


def unit_embedding(embedding: Sequence[float]) -> np.ndarray:
    """The embedding as a float32 [512] unit vector; InvalidInputError if it is not one."""
    vector = np.asarray(embedding, dtype=np.float64).reshape(-1)
    if vector.shape[0] != EMBEDDING_DIM or not np.isfinite(vector).all():
        raise InvalidInputError(f"an embedding is {EMBEDDING_DIM} finite numbers")
    norm = float(np.linalg.norm(vector))
    if norm < MIN_NORM:
        raise InvalidInputError("the embedding is all zeros: it has no direction to compare")
    return (vector / norm).astype(np.float32)


def device_capture(vector: np.ndarray, liveness: float | None) -> Capture:
    """One good face, as a capture of the device's own camera would give it: the
    device's quality gate passed it (it sent the embedding), its liveness is its claim."""
    from facedb.vision.capture import Capture, CapturedFace
    from facedb.vision.types import AnalysedFace, DetectedFace, QualityVerdict

    face = AnalysedFace(
        face=DetectedFace(
            box=np.zeros(4, np.float32), score=1.0, landmarks=np.zeros((5, 2), np.float32)
        ),
        quality=QualityVerdict(
            accepted=True,
            reasons=(),
            size_px=0,
            det_score=1.0,
            sharpness=0.0,
            yaw=0.0,
            pitch=0.0,
            score=1.0,
        ),
        embedding=vector,
        liveness=liveness,
    )
    return Capture(good=[CapturedFace(face, ORIGIN)], frames=1)
