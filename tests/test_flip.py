"""Flip-averaged embeddings (FACEDB_EMBEDDER_FLIP): their own recipe, never compared
with vectors made without the flip; on the embedder's float form, a face and its
mirror image in one run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np

from facedb.config import Settings
from facedb.service import FaceService
from facedb.vision import recipes
from facedb.vision.pipeline import FacePipeline


def _crop(faces_dir: Path, pipeline: FacePipeline) -> np.ndarray:
    image = cv2.imread(str(sorted((faces_dir / "celeba" / "7206").glob("*.jpg"))[0]))
    face = pipeline.analyse([image], embed=False)[0][0]
    assert face.aligned is not None
    return face.aligned


class _CountingSession:
    """An onnxruntime session that counts its runs."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.runs: list[int] = []  # the batch of each run

    def get_inputs(self) -> Any:
        return self.session.get_inputs()

    def run(self, outputs: Any, feeds: dict[str, np.ndarray]) -> Any:
        self.runs.append(len(next(iter(feeds.values()))))
        return self.session.run(outputs, feeds)


def test_the_flip_is_a_recipe_of_its_own_and_mirror_blind(
    faces_dir: Path, weights_dir: Path
) -> None:
    plain = FacePipeline(Settings.load({"weights": str(weights_dir)}))
    flipped = FacePipeline(Settings.load({"weights": str(weights_dir), "embedder_flip": "on"}))
    assert plain.embedder_name == "w600k_mbf_int8"
    assert flipped.embedder_name == "w600k_mbf_int8+float+flip"
    # The recipe's manifest entry is the model's (threshold, impostor tail).
    assert flipped.registry.spec(flipped.embedder_name) == plain.registry.spec("w600k_mbf_int8")
    crop = _crop(faces_dir, plain)
    mirror = np.ascontiguousarray(crop[:, ::-1])
    a, b = plain.embed_aligned([crop, mirror])
    f, g = flipped.embed_aligned([crop, mirror])
    assert abs(float(np.linalg.norm(f)) - 1.0) < 1e-5
    # Exactly 1.0 on this machine; 0.98 leaves room for another CPU's rounding (and
    # for the 0.01-cosine audit of tests/conftest.py).
    assert float(f @ g) > 0.98  # a mirrored face embeds the same
    assert float(a @ b) < 0.975  # which the plain recipe does not (0.957 here)
    # The float form's mean of the face and its mirror image is close to the int8
    # model's (0.996 here).
    assert float(f @ ((a + b) / np.linalg.norm(a + b))) > 0.97


def test_the_float_flip_runs_a_face_and_its_mirror_image_at_once(
    faces_dir: Path, weights_dir: Path
) -> None:
    settings = Settings.load({"weights": str(weights_dir), "embedder_flip": "on"})
    flipped = FacePipeline(settings)
    older = FacePipeline(settings, recipe="w600k_mbf_int8+flip")
    crop = _crop(faces_dir, flipped)
    for pipeline in (flipped, older):
        pipeline.embedder.session = _CountingSession(pipeline.embedder.session)  # type: ignore[assignment]
    flipped.embed_aligned([crop])
    flipped.embed_aligned([crop] * 3)
    older.embed_aligned([crop])
    assert flipped.embedder.session.runs == [2, 6]  # type: ignore[attr-defined]
    # `facedb health` and the metrics name the embedder's provider by its recipe.
    assert set(flipped.providers()) == {"scrfd_2.5g_bnkps", "w600k_mbf_int8+float+flip"}
    # The older recipe runs the int8 model, one crop a run (its outputs depend on the
    # batch): still what it made, for the galleries enrolled with it.
    assert older.embedder.session.runs == [1, 1]  # type: ignore[attr-defined]
    old_vector = older.embed_aligned([crop])[0]
    assert 0.97 < float(old_vector @ flipped.embed_aligned([crop])[0]) < 0.9999


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
    assert result.decision == "unknown" and result.model == "w600k_mbf_int8+float+flip"
    assert result.gallery_faces in (0, None) and not result.candidates
    flipped.close()


def test_a_gallery_enrolled_with_the_older_flip_keeps_it(
    settings: Settings, faces_dir: Path
) -> None:
    """FACEDB_EMBEDDER_FLIP=on made "+flip" vectors (the int8 model, two runs a face)
    before the float form: a database holding them is searched with that recipe."""
    photos = sorted((faces_dir / "celeba" / "7206").glob("*.jpg"))
    on = settings.replace(cooldown=0.0, embedder_flip="on")
    older = FaceService(on, FacePipeline(on, recipe="w600k_mbf_int8+flip"))
    older.enrol("7206", str(photos[0]))
    older.close()
    flipped = FaceService(on)
    result = flipped.verify(str(photos[4]))
    assert result.name == "7206" and result.model == "w600k_mbf_int8+flip"
    flipped.close()


def test_which_flip_recipe_a_database_keeps() -> None:
    model = "w600k_mbf_int8"
    assert recipes.for_settings(model, "off", True) == model
    assert recipes.for_settings(model, "on", True) == f"{model}+float+flip"
    # A model whose outputs do not depend on the batch needs no float form.
    assert recipes.for_settings(model, "on", False) == f"{model}+flip"
    assert recipes.held_flip(model, {}) is None
    assert recipes.held_flip(model, {model: 40}) is None  # plain faces: not a flip gallery
    assert recipes.held_flip(model, {f"{model}+flip": 3}) == f"{model}+flip"
    held = {f"{model}+flip": 3, f"{model}+float+flip": 9}
    assert recipes.held_flip(model, held) == f"{model}+float+flip"
