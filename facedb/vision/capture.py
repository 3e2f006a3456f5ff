"""Collecting faces from a source for one decision: up to N good frames or T seconds.

Each frame contributes at most one face: of those that pass the quality gate, the
main face (``main_face``: the largest face nearest the centre, the person in front
of the camera), the rule every command uses. Frames are analysed in batches (one for a live camera, where latency
matters; several for files, where throughput does).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facedb.media.frames import FrameSource
from facedb.numeric import l2_normalize
from facedb.vision.pipeline import FacePipeline
from facedb.vision.types import AnalysedFace, DetectedFace, Frame

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
    # The largest face of each frame with no good face (same order as ``rejected``).
    rejected_faces: list[CapturedFace] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # unreadable files of a folder

    @property
    def faces_seen(self) -> int:
        return len(self.good) + len(self.rejected)

    def best(self, count: int) -> list[CapturedFace]:
        """The best-quality good faces, best first."""
        return sorted(self.good, key=lambda c: c.face.quality.score, reverse=True)[:count]

    def add(self, origin: str, faces: list[AnalysedFace], width: int, height: int) -> None:
        """Records one frame (``width`` x ``height`` pixels) and its faces: at most one
        face of it is used."""
        self.frames += 1
        if not faces:
            self.no_face.append(origin)
            return
        # Faces that fail the quality gate (a blurred passer-by, a poster, a
        # false detection) neither count as a second person nor get used.
        good = [face for face in faces if face.quality.accepted]
        if len(good) > 1:
            self.several_faces.append(origin)
        if good:
            self.good.append(CapturedFace(main_face(good, width, height), origin))
        else:
            main = main_face(faces, width, height)
            self.rejected.append((origin, main.quality.reasons))
            self.rejected_faces.append(CapturedFace(main, origin))


# A head turned this far (estimated yaw, quality.estimate_pose) is a pose of its own.
TURNED_YAW = 0.2


def pose_hint(capture: Capture) -> str:
    """What a person enrolling at a camera should do next for a varied set of faces:
    face the camera, then turn a little to each side. A positive yaw is the nose
    towards the image's right: the person turned to their own left."""
    if not capture.good:
        if capture.rejected:
            return f"{capture.rejected[-1][1][0]}: come closer and face the camera"
        return "look at the camera"
    yaws = [c.face.quality.yaw for c in capture.good]
    if not any(y > TURNED_YAW for y in yaws):
        return "turn your head a little to the left"
    if not any(y < -TURNED_YAW for y in yaws):
        return "turn your head a little to the right"
    if not any(abs(y) < TURNED_YAW / 2 for y in yaws):
        return "look straight at the camera"
    return "move your head a little, slowly"


def centrality(face: DetectedFace, width: int, height: int) -> float:
    """``area - 2 * d**2``, pixels: large faces near the image centre score highest."""
    cx = (float(face.box[0]) + float(face.box[2])) / 2.0 - width / 2.0
    cy = (float(face.box[1]) + float(face.box[3])) / 2.0 - height / 2.0
    return face.area - 2.0 * (cx * cx + cy * cy)


def main_face(faces: Sequence[AnalysedFace], width: int, height: int) -> AnalysedFace:
    """The face a frame of several is about: the largest face nearest the centre (the
    highest :func:`centrality`, insightface's rule), for verify, enrol, import and eval
    alike. On the 500 shared CelebA photos it picks the labelled person more often than
    the largest face alone (20 genuine pairs below 0.1 instead of 26; docs/ACCURACY.md)."""
    return max(faces, key=lambda f: centrality(f.face, width, height))


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
    liveness: bool = False,
    aligned: bool = False,
    varied: bool = False,
) -> Capture:
    """Reads frames until ``wanted`` good faces, the source ends, or ``timeout`` seconds.
    With ``liveness``, every face gets its liveness score (AnalysedFace.liveness); the
    caller decides on it: a face judged an attack still counts as a good face here.
    ``aligned``: the frames are face crops aligned to the ArcFace template (no detection).
    Frames of files that show no face are looked at again as tight crops and, when very
    large, in tiles (FacePipeline.find_faces); frames of a live source are not.
    ``varied`` (enrolment): from a live source, only faces that are not near-copies of
    each other count towards ``wanted``, so that a person who holds still is asked to
    turn (pose_hint) until the set is varied or the time is up."""
    capture = Capture()
    started = time.monotonic()
    for frames in _batches(source, 1 if source.is_live else FILE_BATCH):
        analysed = pipeline.analyse(
            [frame.image for frame in frames],
            liveness=liveness,
            retry=not source.is_live,
            aligned=aligned,
            live=source.is_live,
        )
        for frame, faces in zip(frames, analysed, strict=True):
            capture.add(frame.origin, faces, frame.image.shape[1], frame.image.shape[0])
        if on_frame is not None:
            on_frame(capture)
        counted = (
            len(diverse_selection(capture.good, wanted))
            if varied and source.is_live
            else len(capture.good)
        )
        if counted >= wanted:
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


def most_different(
    vectors: np.ndarray, qualities: Sequence[float], count: int
) -> tuple[list[int], list[int]]:
    """Which of these unit vectors to keep, at most ``count``: the best-quality one,
    then again and again the one least like those kept (farthest first), never a
    near-copy of one kept. Returns (kept, near_copies), indices into ``vectors``."""
    order = sorted(range(len(vectors)), key=lambda i: -qualities[i])
    if not order or count <= 0:
        return [], []
    kept = [order[0]]
    nearest = vectors @ vectors[order[0]]  # each face's similarity to its closest kept
    while len(kept) < count:
        free = [i for i in order if i not in kept and nearest[i] < NEAR_COPY_SIMILARITY]
        if not free:
            break
        pick = min(free, key=lambda i: (float(nearest[i]), -qualities[i]))
        kept.append(pick)
        nearest = np.maximum(nearest, vectors @ vectors[pick])
    near_copies = [i for i in order if i not in kept and nearest[i] >= NEAR_COPY_SIMILARITY]
    return kept, near_copies


def mean_embedding(faces: list[CapturedFace]) -> np.ndarray:
    """The template of several faces: the mean of their unit embeddings, re-normalised."""
    vectors = np.stack([f.face.embedding for f in faces if f.face.embedding is not None])
    return l2_normalize(vectors.mean(axis=0))
