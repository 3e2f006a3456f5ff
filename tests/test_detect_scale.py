"""The detector's auto scale (det_size 0, vision/detector.py): the input is as small as
the quality gate's minimum face size allows, never upscaled beyond it, and finds the
same faces as insightface's 640 letterbox (the default) on real photos (accuracy on
the shared pairs: docs/BENCHMARKS.md, benchmarks/detect_scale.py)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from facedb.config import Settings
from facedb.errors import ConfigError
from facedb.media.images import read_image
from facedb.vision.detector import AUTO_FACE_CANVAS_PX, auto_scale
from facedb.vision.pipeline import FacePipeline
from facedb.vision.types import AnalysedFace


@pytest.fixture(scope="module")
def auto() -> FacePipeline:
    return FacePipeline(Settings.load({"device": "cpu", "det_size": 0}))


@pytest.fixture(scope="module")
def letterbox() -> FacePipeline:
    return FacePipeline(Settings.load({"device": "cpu", "det_size": 640}))


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return float(w * h / union)


def _main(faces: list[AnalysedFace]) -> AnalysedFace:
    return max(faces, key=lambda f: f.face.area)


def test_scale_follows_the_smallest_face_that_matters() -> None:
    per_px = AUTO_FACE_CANVAS_PX / 64
    # A 640x480 kiosk frame and a 250x250 photo: the gate's scale, no upscaling to 640.
    assert auto_scale(480, 640, 64, 640) == pytest.approx(per_px)
    assert auto_scale(250, 250, 64, 640) == pytest.approx(per_px)
    # A stricter gate needs less; a laxer one more, up to the letterbox's scale.
    assert auto_scale(480, 640, 128, 640) == pytest.approx(per_px / 2)
    assert auto_scale(250, 250, 8, 640) == pytest.approx(640 / 250)
    # A large photo: never a larger canvas than the letterbox.
    assert auto_scale(3000, 4000, 64, 640) == pytest.approx(640 / 4000)
    # No size gate: the letterbox.
    assert auto_scale(480, 640, 0, 640) == pytest.approx(1.0)


def test_0_is_auto_and_640_is_the_letterbox(
    faces_dir: Path, auto: FacePipeline, letterbox: FacePipeline
) -> None:
    image = read_image(faces_dir / "celeba" / "7203" / "085836.jpg")  # 370x350
    auto_canvas = auto.detector.canvas(image)[0]
    box_canvas = letterbox
    # The letterbox upscales the photo to 640 (trimmed to the image plus 96 px);
    # the auto scale shrinks it, on a canvas of about a third of the pixels.
    assert box_canvas.detector.canvas(image)[0].shape[:2] == (640, 640)
    assert auto_canvas.shape[0] * auto_canvas.shape[1] < 0.4 * 640 * 640
    assert auto_canvas.shape[0] % 32 == 0 and auto_canvas.shape[1] % 32 == 0


def test_auto_finds_the_letterbox_faces_on_photos(
    faces_dir: Path, auto: FacePipeline, letterbox: FacePipeline
) -> None:
    paths = sorted((faces_dir / "celeba").glob("72*/*.jpg"))[:12]
    paths.append(faces_dir / "compreface" / "sample_images" / "015_6.jpg")  # faces of 33-44 px
    images = [read_image(p) for p in paths]
    found = zip(paths, auto.analyse(images), letterbox.analyse(images), strict=True)
    cosines = []
    for path, mine, theirs in found:
        big = [f for f in theirs if f.quality.size_px >= 64]
        for face in big or theirs:
            ious = [_iou(face.face.box, f.face.box) for f in mine]
            assert ious and max(ious) > 0.8, path
            same = mine[int(np.argmax(ious))]
            if face in big:
                assert face.embedding is not None and same.embedding is not None
                cosines.append(float(face.embedding @ same.embedding))
    # Other key points give another crop: the same face, but a hard one (a detector
    # score near 0.7) can move to 0.7 (7202/035829.jpg); most stay above 0.95.
    assert len(cosines) >= 12 and min(cosines) > 0.5
    assert float(np.median(cosines)) > 0.93


def test_a_face_below_the_gate_is_still_found_to_say_come_closer(
    faces_dir: Path, auto: FacePipeline
) -> None:
    """A face of about 36 px in a 640x480 frame (the live gate wants 64): still found,
    so that the person can be told to come closer (the gate's verdict is its own)."""
    photo = read_image(sorted((faces_dir / "celeba" / "7206").glob("*.jpg"))[0])
    face = _main(auto.analyse([photo])[0])
    scale = 36 / face.quality.size_px
    small = cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[200 : 200 + small.shape[0], 300 : 300 + small.shape[1]] = small
    found = [f for f in auto.detect(frame) if f.score >= 0.6]
    assert len(found) == 1
    assert 26 <= found[0].size_px <= 46
    x1, y1 = found[0].box[:2]
    assert 300 <= x1 <= 300 + small.shape[1] and 200 <= y1 <= 200 + small.shape[0]


def test_det_size_between_0_and_32_is_refused() -> None:
    with pytest.raises(ConfigError, match="multiple of 32"):
        _ = FacePipeline(Settings.load({"device": "cpu", "det_size": 16})).detector
