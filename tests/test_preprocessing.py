"""The weights manifest says how each model is fed (vision/preprocessing.py): input
size, colour order, mean and std. The models are fed what it says, a field left out
is the shipped model's value, and an entry the ONNX file contradicts is refused."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from facedb.config import Settings
from facedb.errors import ModelError
from facedb.media.images import read_image
from facedb.vision import models
from facedb.vision.models import ModelRegistry, load_manifest
from facedb.vision.pipeline import FacePipeline
from facedb.vision.preprocessing import DEFAULTS, Preprocessing, from_entry

# One pixel value per channel of a uint8 BGR image.
BLUE, GREEN, RED = 10, 120, 250


def _image(height: int = 4, width: int = 6) -> np.ndarray:
    image = np.empty((height, width, 3), np.uint8)
    image[...] = (BLUE, GREEN, RED)
    return image


def _channels(pre: Preprocessing) -> list[float]:
    blob = pre.blob([_image(), _image()])
    assert blob.dtype == np.float32 and blob.shape == (2, 3, 4, 6)
    return [float(blob[1, c, 3, 5]) for c in range(3)]


# -- the preprocessing function ---------------------------------------------------------


def test_blob_follows_colour_mean_and_std() -> None:
    detector = DEFAULTS["detector"]
    assert _channels(detector) == pytest.approx(
        [(v - 127.5) / 128.0 for v in (RED, GREEN, BLUE)], abs=1e-6
    )
    bgr = Preprocessing(detector.input_size, "BGR", detector.mean, detector.std)
    assert _channels(bgr) == pytest.approx(
        [(v - 127.5) / 128.0 for v in (BLUE, GREEN, RED)], abs=1e-6
    )
    # Per channel, in the model's colour order (R, G, B here).
    pre = Preprocessing((0, 0), "RGB", (123.675, 116.28, 103.53), (58.395, 57.12, 57.375))
    expected = [(RED - 123.675) / 58.395, (GREEN - 116.28) / 57.12, (BLUE - 103.53) / 57.375]
    assert _channels(pre) == pytest.approx(expected, abs=1e-6)
    raw = DEFAULTS["liveness"]  # minifasnet_v2: BGR, raw 0..255
    assert _channels(raw) == [BLUE, GREEN, RED]


def test_an_entry_without_the_fields_gets_the_shipped_values() -> None:
    for role, default in DEFAULTS.items():
        assert from_entry(role, {}) == default
    specs = load_manifest()
    assert specs["scrfd_2.5g_bnkps"].preprocessing == DEFAULTS["detector"]
    assert specs["w600k_mbf_int8"].preprocessing == DEFAULTS["embedder"]
    assert specs["minifasnet_v2"].preprocessing == DEFAULTS["liveness"]
    fixed = specs["scrfd_500m_bnkps"].preprocessing
    assert fixed.input_size == (640, 640) and fixed.mean == DEFAULTS["detector"].mean


def test_entry_values_are_read() -> None:
    entry = {"input_size": [96, 64], "colour": "BGR", "mean": [1, 2.5, 3], "std": 2}
    assert from_entry("liveness", entry) == Preprocessing(
        (96, 64), "BGR", (1.0, 2.5, 3.0), (2.0, 2.0, 2.0)
    )


# -- a manifest of one's own ------------------------------------------------------------

Manifest = Callable[[str, str, str], None]


@pytest.fixture
def manifest(monkeypatch: pytest.MonkeyPatch) -> Iterator[Manifest]:
    """Replaces, in the shipped manifest, ``old`` with ``new`` in the entry of a model."""
    text = models._read_manifest_text()

    def change(model: str, old: str, new: str) -> None:
        nonlocal text
        start = text.index(f'name = "{model}"')
        end = text.find("[[model]]", start)
        end = len(text) if end < 0 else end
        block = text[start:end]
        assert block.count(old) == 1, old
        text = text[:start] + block.replace(old, new) + text[end:]
        monkeypatch.setattr(models, "_read_manifest_text", lambda: text)
        load_manifest.cache_clear()

    yield change
    load_manifest.cache_clear()


def test_the_embedder_is_fed_what_its_manifest_entry_says(
    manifest: Manifest, faces_dir: Path
) -> None:
    image = read_image(faces_dir / "compreface" / "sample_images" / "011_3.jpg")
    face = FacePipeline(Settings.load({"device": "cpu"})).analyse([image])[0][0]
    crop = face.aligned
    assert crop is not None and face.embedding is not None
    manifest("w600k_mbf_int8", 'colour = "RGB"', 'colour = "BGR"')
    manifest("w600k_mbf_int8", "mean = 127.5", "mean = [100.0, 110.0, 120.0]")
    manifest("w600k_mbf_int8", "std = 127.5", "std = 50.0")
    embedder = FacePipeline(Settings.load({"device": "cpu"})).embedder
    assert embedder.preprocessing == Preprocessing(
        (112, 112), "BGR", (100.0, 110.0, 120.0), (50.0, 50.0, 50.0)
    )
    # BGR as the crop is, channel by channel, times 1 / std in float32 as OpenCV does:
    # the model quantises its activations (int8), and an input one float32 rounding
    # apart (dividing by std) moved this embedding by cosine 0.012.
    mean = np.array([100.0, 110.0, 120.0], np.float32)
    blob = ((crop - mean) * np.float32(1 / 50.0)).transpose(2, 0, 1)[None]
    raw = embedder.session.run(None, {embedder.input_name: np.ascontiguousarray(blob)})[0][0]
    expected = raw / np.linalg.norm(raw)
    np.testing.assert_allclose(embedder.embed([crop])[0], expected, atol=1e-6)
    assert float(np.dot(face.embedding, expected)) < 0.99  # the entry made a difference


@pytest.mark.parametrize(
    ("model", "old", "new", "message"),
    [
        (
            "minifasnet_v2",
            "input_size = [80, 80]",
            "input_size = [96, 96]",
            "input_size 96x96, but the model takes 80x80",
        ),
        (
            "scrfd_500m_bnkps",
            "input_size = [640, 640]",
            "input_size = [320, 320]",
            "input_size 320x320, but the model takes 640x640",
        ),
        (
            "w600k_mbf_int8",
            "input_size = [112, 112]",
            "input_size = [128, 128]",
            "faces are aligned to the 112x112 ArcFace template",
        ),
        (
            "scrfd_2.5g_bnkps",
            "input_size = [0, 0]",
            "input_size = [100, 100]",
            "a detector's sides are multiples of 32",
        ),
    ],
)
def test_an_input_size_the_model_contradicts_is_refused_at_load(
    manifest: Manifest, weights_dir: Path, model: str, old: str, new: str, message: str
) -> None:
    manifest(model, old, new)
    registry = ModelRegistry(Settings.load({"device": "cpu", "weights": weights_dir}))
    with pytest.raises(ModelError, match=message) as refused:
        registry.session(model)
    assert "\n" not in refused.value.message
    assert f"model {model} cannot be fed as its manifest entry says" in refused.value.message
    assert registry.load_status(model).error == refused.value.message


def test_a_fixed_detector_size_in_the_manifest_is_the_canvas(
    manifest: Manifest, faces_dir: Path
) -> None:
    # SCRFD-2.5G takes any size; its entry fixes one, whatever det_size asks.
    manifest("scrfd_2.5g_bnkps", "input_size = [0, 0]", "input_size = [320, 320]")
    detector = FacePipeline(Settings.load({"device": "cpu", "det_size": 640})).detector
    assert detector.input_size == (320, 320)
    image = read_image(faces_dir / "compreface" / "sample_images" / "011_3.jpg")
    canvas, _, _ = detector.canvas(image)
    assert canvas.shape[:2] == (320, 320)  # the whole canvas: no trimming
    assert len(detector.detect(image)) == 3


def test_a_colour_order_facedb_does_not_know_is_refused(manifest: Manifest) -> None:
    manifest("minifasnet_v2", 'colour = "BGR"', 'colour = "YUV"')
    with pytest.raises(ModelError, match="bad model manifest entry minifasnet_v2: colour must be"):
        load_manifest()
