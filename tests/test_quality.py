"""The quality gate on real faces: key points from the reference detector output
(reference/insightface.json), crops aligned here, blur made with a Gaussian, and the
real pipeline on the shared pose and blur images."""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from facedb.config import Settings
from facedb.media.images import read_image
from facedb.vision.pipeline import FacePipeline
from facedb.vision.quality import (
    PITCH_T0,
    assess,
    estimate_pose,
    live_gate,
    overall_score,
    sharpness,
)
from facedb.vision.types import DetectedFace

# insightface's arcface_dst: where alignment puts the five key points in the crop.
TEMPLATE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655],
     [70.7299, 92.2041]],
    dtype=np.float32,
)  # fmt: skip
SETTINGS = Settings(home=Path("/nonexistent"), device_name="test")


def _face(landmarks: np.ndarray, size: float = 200.0, score: float = 0.85) -> DetectedFace:
    x, y = landmarks.min(axis=0) - size / 4
    box = np.array([x, y, x + size, y + size], dtype=np.float32)
    return DetectedFace(box=box, score=score, landmarks=landmarks.astype(np.float32))


def _frontal(scale: float = 3.0) -> np.ndarray:
    """Key points of a frontal face, with the eye-to-mouth proportions SCRFD finds."""
    points = TEMPLATE.astype(np.float64) * scale
    eye_y, mouth_y = points[:2, 1].mean(), points[3:, 1].mean()
    points[2, 1] = eye_y + PITCH_T0 * (mouth_y - eye_y)
    return points.astype(np.float32)


def _rotate(points: np.ndarray, degrees: float) -> np.ndarray:
    angle = math.radians(degrees)
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return ((points - points.mean(axis=0)) @ rotation.T + 500.0).astype(np.float32)


@pytest.fixture(scope="module")
def obama(faces_dir: Path) -> tuple[DetectedFace, np.ndarray]:
    """A real frontal face: reference key points and a crop aligned to the template."""
    reference = json.loads((faces_dir / "reference/insightface.json").read_text())
    entry = next(e for e in reference["images"] if e["path"].endswith("examples/obama.jpg"))
    found = entry["faces"][0]
    face = DetectedFace(
        box=np.array(found["bbox"], dtype=np.float32),
        score=float(found["score"]),
        landmarks=np.array(found["kps"], dtype=np.float32),
    )
    image = read_image(faces_dir / entry["path"])
    matrix, _ = cv2.estimateAffinePartial2D(face.landmarks, TEMPLATE, method=cv2.LMEDS)
    return face, cv2.warpAffine(image, matrix, (112, 112), borderValue=0.0)


# --------------------------------------------------------------------------- pose


def test_frontal_face_has_zero_pose() -> None:
    yaw, pitch = estimate_pose(_frontal())
    assert yaw == pytest.approx(0.0, abs=0.02)
    assert pitch == pytest.approx(0.0, abs=1e-4)


@pytest.mark.parametrize("roll", [-40.0, -10.0, 25.0, 90.0])
def test_roll_scale_and_position_do_not_change_pose(roll: float) -> None:
    points = _frontal()
    points[2, 0] += 20.0  # turned a little
    expected = estimate_pose(points)
    assert estimate_pose(_rotate(points * 0.5, roll)) == pytest.approx(expected, abs=1e-4)


def test_pose_signs() -> None:
    right = _frontal()
    right[2, 0] += 30.0
    down = _frontal()
    down[2, 1] += 20.0
    up = _frontal()
    up[2, 1] -= 20.0
    assert estimate_pose(right)[0] > 0.3
    assert estimate_pose(down)[1] > 0.2
    assert estimate_pose(up)[1] < -0.2


def test_profile_is_about_one_or_more_and_degenerate_points_stay_finite() -> None:
    profile = _frontal()
    profile[2, 0] = profile[1, 0]  # nose reaches the far eye
    assert estimate_pose(profile)[0] >= 0.9
    collapsed = np.repeat(np.array([[50.0, 50.0]], dtype=np.float32), 5, axis=0)
    yaw, pitch = estimate_pose(collapsed)
    assert math.isfinite(yaw) and math.isfinite(pitch)
    assert abs(yaw) <= 2.0 and abs(pitch) <= 2.0


# --------------------------------------------------------------------------- sharpness


def test_sharpness_falls_with_blur(obama: tuple[DetectedFace, np.ndarray]) -> None:
    _, crop = obama
    values = [sharpness(crop)] + [sharpness(cv2.GaussianBlur(crop, (0, 0), s)) for s in (1, 2)]
    assert values[0] > values[1] > values[2]
    assert sharpness(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)) == pytest.approx(values[0])


def test_sharpness_wants_the_aligned_crop() -> None:
    with pytest.raises(ValueError, match="112"):
        sharpness(np.zeros((100, 100, 3), np.uint8))


# --------------------------------------------------------------------------- verdicts


def test_real_frontal_face_is_accepted(obama: tuple[DetectedFace, np.ndarray]) -> None:
    face, crop = obama
    verdict = assess(face, crop, SETTINGS, live=True)
    assert verdict.accepted, verdict.reasons
    assert verdict.reasons == ()
    assert verdict.size_px == face.size_px > 64
    assert abs(verdict.yaw) < 0.2 and abs(verdict.pitch) < 0.2
    assert 0.8 < verdict.score <= 1.0


def test_blurred_face_is_rejected_with_a_reason(obama: tuple[DetectedFace, np.ndarray]) -> None:
    face, crop = obama
    verdict = assess(face, cv2.GaussianBlur(crop, (0, 0), 2.0), SETTINGS, live=True)
    assert not verdict.accepted
    assert len(verdict.reasons) == 1
    assert verdict.reasons[0].startswith("image too blurred: sharpness ")
    assert verdict.reasons[0].endswith(", need 80")
    assert verdict.score < assess(face, crop, SETTINGS, live=True).score


def test_small_uncertain_turned_face_gets_every_reason(
    obama: tuple[DetectedFace, np.ndarray],
) -> None:
    _, crop = obama
    points = _frontal()
    points[2, 0] += 60.0
    points[2, 1] -= 40.0
    verdict = assess(_face(points, size=38.0, score=0.52), crop, SETTINGS, live=True)
    assert not verdict.accepted
    assert verdict.reasons[0] == "face too small: 38 px, need 64"
    assert verdict.reasons[1] == "face not clearly visible: detector score 0.520, need 0.6"
    assert verdict.reasons[2].startswith("face turned away: yaw 1.")
    assert verdict.reasons[2].endswith(", limit 0.6")
    assert verdict.reasons[3].startswith("face tilted up: pitch -")
    assert len(verdict.reasons) == 4


def test_limits_come_from_settings(obama: tuple[DetectedFace, np.ndarray]) -> None:
    face, crop = obama
    strict = SETTINGS.replace(min_face_px=1000, min_sharpness=1e9)
    verdict = assess(face, crop, strict, live=True)
    assert [r.split(":")[0] for r in verdict.reasons] == ["face too small", "image too blurred"]


def test_score_ranks_frames() -> None:
    gate = live_gate(SETTINGS)
    good = overall_score(200, 0.85, 900.0, 0.05, 0.0, gate)
    blurred = overall_score(200, 0.85, 50.0, 0.05, 0.0, gate)
    turned = overall_score(200, 0.85, 900.0, 0.55, 0.0, gate)
    small = overall_score(60, 0.85, 900.0, 0.05, 0.0, gate)
    assert 1.0 >= good > max(blurred, turned, small) > 0.0
    assert overall_score(200, 0.85, 900.0, 2.0, 0.0, gate) == 0.0


def test_photo_gate_is_lenient_where_verification_still_works(
    obama: tuple[DetectedFace, np.ndarray],
) -> None:
    """A photo cannot be retaken: the photo gate keeps a softly blurred, smallish or
    half-turned face that the live gate refuses, and still refuses a smeared one."""
    face, crop = obama
    soft = cv2.GaussianBlur(crop, (0, 0), 1.5)  # sharpness ~25-30: refused live
    assert not assess(face, soft, SETTINGS, live=True).accepted
    assert assess(face, soft, SETTINGS).accepted
    smeared = cv2.GaussianBlur(crop, (0, 0), 4.0)  # sharpness ~5
    assert assess(face, smeared, SETTINGS).reasons[0].startswith("image too blurred")
    points = _frontal()
    points[2, 0] += 18.0  # yaw ~0.9: beyond the live limit (0.6), within the photo one (1.3)
    half_turned = assess(_face(points, size=48.0, score=0.7), crop, SETTINGS)
    assert half_turned.accepted, half_turned.reasons
    assert not assess(_face(points, size=48.0, score=0.7), crop, SETTINGS, live=True).accepted


def test_quality_profile_setting_overrides_the_source(
    obama: tuple[DetectedFace, np.ndarray],
) -> None:
    face, crop = obama
    soft = cv2.GaussianBlur(crop, (0, 0), 1.5)
    assert not assess(face, soft, SETTINGS.replace(quality_profile="live")).accepted
    assert assess(face, soft, SETTINGS.replace(quality_profile="photo"), live=True).accepted


# --------------------------------------------------------------------------- real pipeline


@pytest.fixture(scope="module")
def pipeline(weights_dir: Path) -> FacePipeline:
    return FacePipeline(Settings.load({"weights": str(weights_dir)}))


@pytest.mark.parametrize(
    ("relative", "reason"),
    [
        ("insightface/inspireface_test_res/pose/left_face.jpeg", "face turned away"),
        ("insightface/inspireface_test_res/pose/rise_face.jpeg", "face tilted up"),
        ("insightface/inspireface_test_res/bulk/blur.jpg", "image too blurred"),
        ("face_recognition/examples/obama-240p.jpg", "face too small"),
        ("face_recognition/examples/obama.jpg", None),
        ("insightface/inspireface_test_res/bulk/r0.jpg", None),
        ("insightface/inspireface_test_res/bulk/image_T1.jpeg", None),
    ],
)
def test_live_defaults_on_shared_images(
    pipeline: FacePipeline, faces_dir: Path, relative: str, reason: str | None
) -> None:
    image = read_image(faces_dir / relative)
    (first, *_), *_ = pipeline.analyse([image], embed=False, live=True)
    verdict = first.quality
    if reason is None:
        assert verdict.accepted, verdict.reasons
    else:
        assert any(r.startswith(reason) for r in verdict.reasons), verdict.reasons


@pytest.mark.parametrize(
    ("relative", "accepted"),
    [
        ("insightface/inspireface_test_res/pose/left_face.jpeg", False),  # yaw ~2: profile
        ("insightface/inspireface_test_res/pose/rise_face.jpeg", True),
        ("face_recognition/examples/obama-240p.jpg", True),  # a 52 px face
        ("face_recognition/examples/obama.jpg", True),
    ],
)
def test_photo_defaults_on_shared_images(
    pipeline: FacePipeline, faces_dir: Path, relative: str, accepted: bool
) -> None:
    image = read_image(faces_dir / relative)
    (first, *_), *_ = pipeline.analyse([image], embed=False)
    assert first.quality.accepted is accepted, first.quality.reasons
