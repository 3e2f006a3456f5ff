"""The quality gate: is a detected face good enough to enrol or to decide on?

Four checks, each against a setting (see docs/QUALITY.md for the measurements behind
the defaults):

- size: the shorter side of the detector's box, in pixels of the source image;
- detector score: SCRFD's confidence that this is a face;
- sharpness: the variance of the Laplacian (3x3 kernel) of the inner face region
  (``SHARPNESS_REGION``: eyes, nose and mouth) of the aligned 112x112 grey crop. A
  blurred, out-of-focus or upscaled-from-tiny face has little fine detail there. The
  crop's edges (hair, background) are left out: they can be sharp when the face is
  not (a face moving in front of a still background, a shallow depth of field);
- pose: yaw and pitch estimated from the five key points, after turning the face so
  that the eyes are level (roll does not count against a face: alignment undoes it).

  yaw   = (nose.x - centre.x) / (eye distance / 2), where centre is midway between the
          eye midpoint and the mouth midpoint. 0 frontal; positive when the nose points
          to the right of the image; about +-1 when the nose reaches an eye (profile).
  pitch = (t - PITCH_T0) / PITCH_T0, with t the nose's height between the eye line
          (t = 0) and the mouth line (t = 1), and PITCH_T0 its frontal value. 0
          frontal; positive when the face looks down (nose towards the mouth),
          negative when it looks up; -1 when the nose is level with the eyes.

Also an overall ``score`` in [0, 1] to rank the faces of several frames: the geometric
mean of four sub-scores (size, detector score, sharpness, pose), each 1 when well
inside its limit and falling towards 0 beyond it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from facedb.config import Settings
from facedb.vision.types import DetectedFace, QualityVerdict

# Frontal nose height between eye line (0) and mouth line (1): the median over the
# best face of each of 594 shared images with SCRFD-2.5G key points (docs/QUALITY.md).
# The ArcFace template's own value (0.495) is higher up the face than SCRFD puts a nose.
PITCH_T0 = 0.60
# Yaw and pitch are clipped to this magnitude (a degenerate set of key points, where
# both eyes coincide, would otherwise give infinity).
MAX_POSE = 2.0
ALIGNED_SIZE = 112
# Rows and columns of the aligned crop whose detail counts as sharpness: from above
# the eyebrows to below the mouth, between the outer eye corners.
SHARPNESS_REGION = (slice(24, 104), slice(16, 96))


@dataclass(frozen=True)
class Gate:
    """The limits a face must meet (see the module docstring for each measure)."""

    min_face_px: int
    min_det_score: float
    min_sharpness: float
    max_yaw: float
    max_pitch: float


# Photos (image files, uploads, imports): one picture is all there is, so the gate
# refuses only faces on which verification measurably fails, and detections that
# are not faces (the dogs of dlib/dogs.jpg score 0.52-0.56). Chosen by error versus
# reject on the 500 shared CelebA web photos (docs/QUALITY.md, benchmarks/
# quality_gate.py): it refuses 2.8 % of them (the live gate: 23.6 %), and the pairs
# it keeps verify at 97.8 % accuracy against 97.5 % with no gate at all.
PHOTO_GATE = Gate(min_face_px=32, min_det_score=0.6, min_sharpness=15.0, max_yaw=1.3, max_pitch=1.0)


def live_gate(settings: Settings) -> Gate:
    """Cameras and streams: the person can look again, so the gate is strict
    (FACEDB_MIN_FACE_PX, FACEDB_MIN_SHARPNESS, FACEDB_MAX_YAW, ...)."""
    return Gate(
        settings.min_face_px,
        settings.min_det_score,
        settings.min_sharpness,
        settings.max_yaw,
        settings.max_pitch,
    )


def gate_for(settings: Settings, live: bool) -> Gate:
    """The gate for a source: FACEDB_QUALITY_PROFILE, or by the kind of source."""
    profile = settings.quality_profile
    if profile == "live" or (profile == "auto" and live):
        return live_gate(settings)
    return PHOTO_GATE


def assess(
    face: DetectedFace, aligned_bgr_112: np.ndarray, settings: Settings, *, live: bool = False
) -> QualityVerdict:
    """The verdict on one face: accepted, the reasons if not, and the measurements.

    ``aligned_bgr_112`` is the face's uint8 [112, 112, 3] BGR crop (or [112, 112] grey),
    aligned to the ArcFace template. ``live``: the face comes from a camera or stream
    (the strict gate), else from a photo (``PHOTO_GATE``).
    """
    gate = gate_for(settings, live)
    size_px = face.size_px
    det_score = float(face.score)
    sharp = sharpness(aligned_bgr_112)
    yaw, pitch = estimate_pose(face.landmarks)
    reasons = _reasons(size_px, det_score, sharp, yaw, pitch, gate)
    return QualityVerdict(
        accepted=not reasons,
        reasons=reasons,
        size_px=size_px,
        det_score=det_score,
        sharpness=sharp,
        yaw=yaw,
        pitch=pitch,
        score=overall_score(size_px, det_score, sharp, yaw, pitch, live_gate(settings)),
    )


def sharpness(aligned: np.ndarray) -> float:
    """Variance of the Laplacian over ``SHARPNESS_REGION`` of the grey aligned crop
    (higher is sharper)."""
    if aligned.dtype != np.uint8 or aligned.shape[:2] != (ALIGNED_SIZE, ALIGNED_SIZE):
        raise ValueError(
            f"expected an aligned uint8 [112, 112(, 3)] crop, got {aligned.dtype} {aligned.shape}"
        )
    grey = aligned if aligned.ndim == 2 else cv2.cvtColor(aligned, cv2.COLOR_BGR2GRAY)
    laplacian = cv2.Laplacian(np.ascontiguousarray(grey[SHARPNESS_REGION]), cv2.CV_64F)
    return float(laplacian.var())


def estimate_pose(landmarks: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) from the five key points [5, 2]: left eye, right eye, nose, mouth left,
    mouth right (x, y in image pixels). See the module docstring for the definitions."""
    points = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    level = _level_eyes(points)
    left_eye, right_eye, nose, mouth_left, mouth_right = level
    eye_mid = (left_eye + right_eye) / 2.0
    mouth_mid = (mouth_left + mouth_right) / 2.0
    half_eye_distance = abs(right_eye[0] - left_eye[0]) / 2.0
    centre_x = (eye_mid[0] + mouth_mid[0]) / 2.0
    yaw = _ratio(nose[0] - centre_x, half_eye_distance)
    eye_to_mouth = mouth_mid[1] - eye_mid[1]
    t = _ratio(nose[1] - eye_mid[1], eye_to_mouth)
    pitch = (t - PITCH_T0) / PITCH_T0
    return _clip_pose(yaw), _clip_pose(pitch)


def _level_eyes(points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The points rotated about the eye midpoint so that the eye line is horizontal."""
    left_eye, right_eye = points[0], points[1]
    dx, dy = right_eye - left_eye
    angle = math.atan2(dy, dx)
    cos, sin = math.cos(-angle), math.sin(-angle)
    rotation = np.array([[cos, -sin], [sin, cos]])
    centre = (left_eye + right_eye) / 2.0
    rotated: npt.NDArray[np.float64] = (points - centre) @ rotation.T
    return rotated


def _ratio(numerator: float, denominator: float) -> float:
    if abs(denominator) < 1e-6:
        return math.copysign(MAX_POSE, numerator) if numerator else 0.0
    return float(numerator / denominator)


def _clip_pose(value: float) -> float:
    return float(min(MAX_POSE, max(-MAX_POSE, value)))


def _reasons(
    size_px: int, det_score: float, sharp: float, yaw: float, pitch: float, settings: Gate
) -> tuple[str, ...]:
    reasons: list[str] = []
    if size_px < settings.min_face_px:
        reasons.append(f"face too small: {size_px} px, need {settings.min_face_px}")
    if det_score < settings.min_det_score:
        reasons.append(
            f"face not clearly visible: detector score {det_score:.3f}, "
            f"need {settings.min_det_score:g}"
        )
    if sharp < settings.min_sharpness:
        reasons.append(f"image too blurred: sharpness {sharp:.0f}, need {settings.min_sharpness:g}")
    if abs(yaw) > settings.max_yaw:
        reasons.append(f"face turned away: yaw {yaw:.2f}, limit {settings.max_yaw:g}")
    if abs(pitch) > settings.max_pitch:
        direction = "down" if pitch > 0 else "up"
        reasons.append(f"face tilted {direction}: pitch {pitch:.2f}, limit {settings.max_pitch:g}")
    return tuple(reasons)


def overall_score(
    size_px: int, det_score: float, sharp: float, yaw: float, pitch: float, settings: Gate
) -> float:
    """Quality in [0, 1] for ranking: the geometric mean of four sub-scores.

    size: 1 from twice the minimum size; detector score as is; sharpness: 1 from twice
    the minimum; pose: 1 when frontal, 0.5 at the limit, 0 at twice the limit (the worse
    of yaw and pitch).
    """
    size_q = _unit(size_px / (2.0 * max(settings.min_face_px, 1)))
    det_q = _unit(det_score)
    sharp_q = _unit(sharp / (2.0 * max(settings.min_sharpness, 1e-6)))
    yaw_q = 1.0 - abs(yaw) / (2.0 * max(settings.max_yaw, 1e-6))
    pitch_q = 1.0 - abs(pitch) / (2.0 * max(settings.max_pitch, 1e-6))
    pose_q = _unit(min(yaw_q, pitch_q))
    return float((size_q * det_q * sharp_q * pose_q) ** 0.25)


def _unit(value: float) -> float:
    return float(min(1.0, max(0.0, value)))
