"""Embed the images of a pairs file and score every pair.

Each distinct image is read and embedded once, in batches. Of the faces found in
an image, the one used is the main face, by the rule every command uses
(vision/capture.py main_face: the largest face nearest the centre, the highest
``area - 2 * d**2``). The quality gate's verdict is ignored: evaluation measures
the detector and the recogniser, not the gate.

An image with no face, or one that cannot be read, is a *failure to enrol*: the
pairs it is in get no similarity (NaN in the metrics; see facedb.evaluation.metrics
for how failures count). The similarity of a pair is the dot product of the two
L2-normalised embeddings (their cosine similarity).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from facedb.domain.evaluation import (
    EvaluationResult,
    ImageFailure,
    ScoredPair,
    VerificationMetrics,
)
from facedb.errors import ImageError, InvalidInputError
from facedb.evaluation.metrics import compute_metrics, scored_only
from facedb.evaluation.pairs import Pair
from facedb.media.images import read_image
from facedb.numeric import l2_normalize
from facedb.vision.capture import main_face
from facedb.vision.types import AnalysedFace

BATCH_SIZE = 16
NO_FACE = "no face found"

ProgressCallback = Callable[[int, int], None]  # (images done, images in all)
ImageReader = Callable[[Path], np.ndarray]


class Analyser(Protocol):
    """What evaluation needs of a vision pipeline (facedb.vision.pipeline.FacePipeline)."""

    def analyse(
        self, images: Sequence[np.ndarray], *, embed: bool = True
    ) -> list[list[AnalysedFace]]: ...


def evaluate(
    pairs: Sequence[Pair],
    pipeline: Analyser,
    progress: ProgressCallback | None = None,
    batch_size: int = BATCH_SIZE,
    read: ImageReader = read_image,
) -> EvaluationResult:
    """Embed every distinct image of ``pairs`` once, score every pair, compute metrics.

    Raises InvalidInputError when the pairs lack genuine or impostor pairs, or when
    no pair of one kind could be scored.
    """
    if not any(p.same for p in pairs) or all(p.same for p in pairs):
        raise InvalidInputError("evaluation needs at least one genuine and one impostor pair")
    images = list(dict.fromkeys(path for p in pairs for path in (p.path1, p.path2)))
    embeddings, failures = embed_images(images, pipeline, progress, batch_size, read)
    scored = tuple(_score(p, embeddings) for p in pairs)
    return EvaluationResult(
        n_images=len(images),
        failures=tuple(failures[path] for path in images if path in failures),
        pairs=scored,
        scored=_scored_metrics(scored),
        with_failures=_metrics(scored),
    )


def embed_images(
    paths: Sequence[Path],
    pipeline: Analyser,
    progress: ProgressCallback | None = None,
    batch_size: int = BATCH_SIZE,
    read: ImageReader = read_image,
) -> tuple[dict[Path, np.ndarray], dict[Path, ImageFailure]]:
    """L2-normalised float32 [512] embedding of the main face of each image, and the
    failures. ``progress`` is called after each batch."""
    embeddings: dict[Path, np.ndarray] = {}
    failures: dict[Path, ImageFailure] = {}
    for start in range(0, len(paths), batch_size):
        batch = paths[start : start + batch_size]
        readable: list[tuple[Path, np.ndarray]] = []
        for path in batch:
            try:
                readable.append((path, read(path)))
            except ImageError as exc:
                failures[path] = ImageFailure(path, exc.message)
        analysed = pipeline.analyse([image for _, image in readable], embed=True)
        for (path, image), faces in zip(readable, analysed, strict=True):
            vector = _main_embedding(faces, image.shape[1], image.shape[0])
            if vector is None:
                failures[path] = ImageFailure(path, NO_FACE)
            else:
                embeddings[path] = vector
        if progress is not None:
            progress(min(start + batch_size, len(paths)), len(paths))
    return embeddings, failures


def _main_embedding(faces: Sequence[AnalysedFace], width: int, height: int) -> np.ndarray | None:
    face = main_face(faces, width, height) if faces else None
    if face is None or face.embedding is None:
        return None
    vector = np.asarray(face.embedding, dtype=np.float32).reshape(-1)
    return l2_normalize(vector) if vector.any() else None


def _score(pair: Pair, embeddings: dict[Path, np.ndarray]) -> ScoredPair:
    a, b = embeddings.get(pair.path1), embeddings.get(pair.path2)
    similarity = None if a is None or b is None else float(np.dot(a, b))
    return ScoredPair(pair.path1, pair.path2, pair.same, pair.fold, similarity)


def _arrays(pairs: Sequence[ScoredPair]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    scores = np.array([np.nan if p.similarity is None else p.similarity for p in pairs])
    labels = np.array([p.same for p in pairs], dtype=np.bool_)
    folds = [p.fold for p in pairs]
    fold_array = None if any(f is None for f in folds) else np.array(folds, dtype=np.int64)
    return scores, labels, fold_array


def _metrics(pairs: Sequence[ScoredPair]) -> VerificationMetrics:
    scores, labels, folds = _arrays(pairs)
    return compute_metrics(scores, labels, folds)


def _scored_metrics(pairs: Sequence[ScoredPair]) -> VerificationMetrics:
    scores, labels, folds = _arrays(pairs)
    kept_scores, kept_labels, keep = scored_only(scores, labels)
    for same, kind in ((True, "genuine"), (False, "impostor")):
        if not np.any(kept_labels == same):
            raise InvalidInputError(f"no {kind} pair could be scored: every one has a failed image")
    return compute_metrics(kept_scores, kept_labels, None if folds is None else folds[keep])
