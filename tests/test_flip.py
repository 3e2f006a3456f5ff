"""Flip-averaged embeddings (FACEDB_EMBEDDER_FLIP): their own recipe, never compared
with vectors made without the flip."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from facedb.config import Settings
from facedb.service import FaceService
from facedb.vision.pipeline import FacePipeline


def _crop(faces_dir: Path, pipeline: FacePipeline) -> np.ndarray:
    image = cv2.imread(str(sorted((faces_dir / "celeba" / "7206").glob("*.jpg"))[0]))
    face = pipeline.analyse([image], embed=False)[0][0]
    assert face.aligned is not None
    return face.aligned


def test_the_flip_is_a_recipe_of_its_own_and_mirror_blind(
    faces_dir: Path, weights_dir: Path
) -> None:
    plain = FacePipeline(Settings.load({"weights": str(weights_dir)}))
    flipped = FacePipeline(Settings.load({"weights": str(weights_dir), "embedder_flip": "on"}))
    assert plain.embedder_name == "w600k_mbf_int8"
    assert flipped.embedder_name == "w600k_mbf_int8+flip"
    # The recipe's manifest entry is the model's (threshold, impostor tail).
    assert flipped.registry.spec(flipped.embedder_name) == plain.registry.spec("w600k_mbf_int8")
    crop = _crop(faces_dir, plain)
    mirror = np.ascontiguousarray(crop[:, ::-1])
    a, b = plain.embed_aligned([crop, mirror])
    averaged = (a + b) / np.linalg.norm(a + b)
    f, g = flipped.embed_aligned([crop, mirror])
    assert abs(float(np.linalg.norm(f)) - 1.0) < 1e-5
    # Exactly 1.0 on this machine; 0.98 leaves room for another CPU's rounding (and
    # for the 0.01-cosine audit of tests/conftest.py).
    assert float(f @ averaged) > 0.98  # the mean of the face and its mirror image
    assert float(f @ g) > 0.98  # so a mirrored face embeds the same
    assert float(a @ b) < 0.975  # which the plain recipe does not (0.957 here)


def test_a_gallery_enrolled_without_the_flip_is_not_searched_with_it(
    settings: Settings, faces_dir: Path
) -> None:
    photos = sorted((faces_dir / "celeba" / "7206").glob("*.jpg"))
    plain = FaceService(settings.replace(cooldown=0.0))
    plain.enrol("7206", str(photos[0]))
    assert plain.verify(str(photos[4])).name == "7206"
    plain.close()
    flipped = FaceService(settings.replace(cooldown=0.0, embedder_flip="on"))
    result = flipped.verify(str(photos[4]))
    assert result.decision == "unknown" and result.model == "w600k_mbf_int8+flip"
    assert result.gallery_faces in (0, None) and not result.candidates
    flipped.close()
