"""Detection around the previous frame's faces (vision/roi.py) finds the faces a full
search finds there, at the same scale, and nothing outside the regions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.scenes import background, face_crop
from facedb.config import Settings
from facedb.errors import ModelError
from facedb.vision.pipeline import FacePipeline
from facedb.vision.roi import ROI_MAX_SHARE, detect_near, regions, share


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline(Settings.load({"device": "cpu", "det_size": 640}))


def test_regions_grow_clip_and_merge() -> None:
    boxes = [np.array([100, 100, 140, 150]), np.array([150, 110, 190, 160])]
    # 50 px boxes grow by 37.5 px a side: the two overlap and become one region.
    assert regions(boxes, 480, 640) == [(62, 62, 228, 198)]
    assert regions([np.array([600, 440, 650, 490])], 480, 640) == [(562, 402, 640, 480)]
    assert regions([], 480, 640) == []
    assert share([(0, 0, 320, 240)], 480, 640) == pytest.approx(0.25)
    assert share([(0, 0, 320, 240)], 480, 640) < ROI_MAX_SHARE


def _frame(pipeline: FacePipeline, faces_dir: Path) -> np.ndarray:
    frame = background().copy()
    for x, identity in ((60, "7203"), (420, "7210")):
        path = sorted((faces_dir / "celeba" / identity).glob("*.jpg"))[1]
        crop = face_crop(pipeline, path)
        frame[150 : 150 + crop.shape[0], x : x + crop.shape[1]] = crop
    return frame


def test_faces_near_the_previous_ones_are_found_as_a_full_search_finds_them(
    pipeline: FacePipeline, faces_dir: Path
) -> None:
    frame = _frame(pipeline, faces_dir)
    full = [f for f in pipeline.detect(frame) if f.score >= 0.6]
    assert len(full) == 2
    detector = pipeline.detector
    scale = detector.frame_scale(*frame.shape[:2])
    assert scale == pytest.approx(1.0)  # a 640x480 frame in the 640 letterbox
    # The previous frame's boxes, a few pixels away from where the faces are now.
    previous = [f.box + np.float32(6) for f in full]
    near = detect_near(detector.detect_at, frame, previous, scale, 0.4)
    near = [f for f in near if f.score >= 0.6]
    assert len(near) == 2
    for face in full:
        same = min(near, key=lambda f: float(np.abs(f.box - face.box).max()))
        assert float(np.abs(same.box - face.box).max()) < 3.0
        assert float(np.abs(same.landmarks - face.landmarks).max()) < 2.0
        assert abs(same.score - face.score) < 0.05
    # Only the region of the left face: the right one is not searched.
    left = min(full, key=lambda f: float(f.box[0]))
    only = [f for f in detect_near(detector.detect_at, frame, [left.box], scale, 0.4)]
    assert len([f for f in only if f.score >= 0.6]) == 1
    assert all(f.box[0] < 320 for f in only)


def test_a_fixed_input_detector_cannot_search_a_region(faces_dir: Path) -> None:
    settings = Settings.load({"device": "cpu", "detector": "scrfd_500m_bnkps"})
    detector = FacePipeline(settings).detector
    with pytest.raises(ModelError, match="fixed input"):
        detector.detect_at(np.zeros((64, 64, 3), np.uint8), 1.0)
