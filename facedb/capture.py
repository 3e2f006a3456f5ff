"""Collecting faces from a source for one decision: up to N good frames or T seconds.

Each frame contributes at most one face: the largest one that passes the quality
gate, the person nearest the camera. Frames are analysed in batches (one for a live camera, where latency
matters; several for files, where throughput does).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facedb.vision.pipeline import FacePipeline
from facedb.vision.sources import FrameSource
from facedb.vision.types import AnalysedFace, Frame

FILE_BATCH = 8
# Above this similarity two faces of one capture are near-copies: keeping both
# adds nothing to the gallery.
NEAR_COPY_SIMILARITY = 0.95


@dataclass(frozen=True)
class CapturedFace:
    face: AnalysedFace
    origin: str  # the frame it came from


@dataclass
class Capture:
    """What a capture saw: the good faces, and why the other frames were not used."""

    good: list[CapturedFace] = field(default_factory=list)
    frames: int = 0
    no_face: list[str] = field(default_factory=list)  # origins of frames without a face
    several_faces: list[str] = field(default_factory=list)  # origins with more than one face
    rejected: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # origin, reasons
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # unreadable files of a folder

    @property
    def faces_seen(self) -> int:
        return len(self.good) + len(self.rejected)

    def best(self, count: int) -> list[CapturedFace]:
        """The best-quality good faces, best first."""
        return sorted(self.good, key=lambda c: c.face.quality.score, reverse=True)[:count]


def largest_face(faces: list[AnalysedFace]) -> AnalysedFace:
    return max(faces, key=lambda f: f.face.area)


def _batches(source: FrameSource, size: int) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for frame in source:
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def capture_faces(
    source: FrameSource,
    pipeline: FacePipeline,
    *,
    wanted: int,
    timeout: float | None = None,
    on_frame: Callable[[Capture], None] | None = None,
) -> Capture:
    """Reads frames until ``wanted`` good faces, the source ends, or ``timeout`` seconds."""
    capture = Capture()
    started = time.monotonic()
    for frames in _batches(source, 1 if source.is_live else FILE_BATCH):
        analysed = pipeline.analyse([frame.image for frame in frames])
        for frame, faces in zip(frames, analysed, strict=True):
            capture.frames += 1
            if not faces:
                capture.no_face.append(frame.origin)
                continue
            # Faces that fail the quality gate (a blurred passer-by, a poster, a
            # false detection) neither count as a second person nor get used.
            good = [face for face in faces if face.quality.accepted]
            if len(good) > 1:
                capture.several_faces.append(frame.origin)
            if good:
                capture.good.append(CapturedFace(largest_face(good), frame.origin))
            else:
                capture.rejected.append((frame.origin, largest_face(faces).quality.reasons))
        if on_frame is not None:
            on_frame(capture)
        if len(capture.good) >= wanted:
            break
        if timeout is not None and time.monotonic() - started > timeout:
            break
    capture.skipped.extend(source.skipped)
    return capture


def diverse_selection(faces: list[CapturedFace], count: int) -> list[CapturedFace]:
    """Up to ``count`` faces, best quality first, skipping near-copies of those kept."""
    kept: list[CapturedFace] = []
    for candidate in sorted(faces, key=lambda c: c.face.quality.score, reverse=True):
        vector = candidate.face.embedding
        if vector is None:
            continue
        if all(float(np.dot(vector, k.face.embedding)) < NEAR_COPY_SIMILARITY for k in kept):  # type: ignore[arg-type]
            kept.append(candidate)
        if len(kept) == count:
            break
    return kept


def mean_embedding(faces: list[CapturedFace]) -> np.ndarray:
    """The template of several faces: the mean of their unit embeddings, re-normalised."""
    vectors = np.stack([f.face.embedding for f in faces if f.face.embedding is not None])
    mean = vectors.mean(axis=0)
    unit: np.ndarray = (mean / np.linalg.norm(mean)).astype(np.float32)
    return unit
