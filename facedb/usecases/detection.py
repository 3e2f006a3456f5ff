"""Detection on image files (`facedb detect`): every face with its box, key points,
quality verdict and liveness, and optionally annotated copies of the images."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facedb.config import Settings
from facedb.errors import InvalidInputError
from facedb.media.images import read_image
from facedb.vision.annotate import save_annotated
from facedb.vision.pipeline import FacePipeline
from facedb.vision.types import AnalysedFace, QualityVerdict


@dataclass(frozen=True)
class FaceFinding:
    """One face of an image; coordinates are pixels of that image."""

    box: tuple[float, float, float, float]  # x1, y1, x2, y2
    score: float  # detector confidence in [0, 1]
    # (x, y) of the left eye, right eye, nose, mouth left and mouth right
    landmarks: tuple[tuple[float, float], ...]
    quality: QualityVerdict
    liveness: float | None  # probability of a live face; None when not scored
    embedding: np.ndarray | None  # float32 [512], L2-normalised; None when not computed


@dataclass(frozen=True)
class ImageFindings:
    path: Path
    width: int
    height: int
    faces: tuple[FaceFinding, ...]


@dataclass(frozen=True)
class DetectionRun:
    detector: str
    embedder: str
    liveness_model: str | None  # None when liveness was not scored
    providers: dict[str, str]  # model -> onnxruntime execution provider
    images: tuple[ImageFindings, ...]


def detect_faces(
    paths: Sequence[Path],
    *,
    embeddings: bool,
    annotate_dir: Path | None,
    liveness: bool | None,
    aligned: bool,
    det_size: int | None,
    device: str | None,
) -> DetectionRun:
    """Analyses each image in turn. ``liveness`` None: scored when the model file is
    there. With ``annotate_dir``, a copy of each image with the boxes drawn is written
    there (numbered when there are several images)."""
    pipeline = FacePipeline(Settings.load({"device": device, "det_size": det_size}))
    if liveness is None:
        liveness = pipeline.liveness_available()
    if annotate_dir is not None:
        try:
            annotate_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidInputError(f"cannot create folder {annotate_dir}: {exc}") from None
    images: list[ImageFindings] = []
    for index, path in enumerate(paths):
        image = read_image(path)
        faces = pipeline.analyse([image], embed=embeddings, liveness=liveness, aligned=aligned)[0]
        if annotate_dir is not None:
            save_annotated(
                annotate_dir / (path.name if len(paths) == 1 else f"{index:03d}_{path.name}"),
                image,
                [f.face for f in faces],
                [f.quality.accepted for f in faces],
            )
        images.append(
            ImageFindings(
                path, int(image.shape[1]), int(image.shape[0]), tuple(_finding(f) for f in faces)
            )
        )
    return DetectionRun(
        detector=pipeline.detector_name,
        embedder=pipeline.embedder_name,
        liveness_model=pipeline.liveness_name if liveness else None,
        providers=pipeline.providers(),
        images=tuple(images),
    )


def _finding(face: AnalysedFace) -> FaceFinding:
    x1, y1, x2, y2 = (float(v) for v in face.face.box)
    return FaceFinding(
        box=(x1, y1, x2, y2),
        score=face.face.score,
        landmarks=tuple((float(x), float(y)) for x, y in face.face.landmarks),
        quality=face.quality,
        liveness=face.liveness,
        embedding=face.embedding,
    )
