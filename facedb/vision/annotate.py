"""Drawing detections onto an image, for people checking what the detector saw."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from facedb.errors import InvalidInputError
from facedb.vision.types import DetectedFace

ACCEPTED_BGR = (0, 200, 0)
REJECTED_BGR = (0, 0, 230)
# One colour per key point: left eye, right eye, nose, mouth left, mouth right (BGR).
LANDMARK_BGR = ((255, 0, 0), (0, 255, 255), (255, 0, 255), (0, 128, 255), (255, 255, 0))


def draw_faces(
    image_bgr: np.ndarray,
    faces: Sequence[DetectedFace],
    accepted: Sequence[bool] | None = None,
) -> np.ndarray:
    """A copy of the uint8 BGR image with boxes (green accepted, red rejected),
    scores and the five key points drawn on it."""
    out = image_bgr.copy()
    thickness = max(1, round(max(out.shape[:2]) / 500))
    for i, face in enumerate(faces):
        colour = ACCEPTED_BGR if accepted is None or accepted[i] else REJECTED_BGR
        x1, y1, x2, y2 = (round(float(v)) for v in face.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness)
        cv2.putText(
            out,
            f"{face.score:.2f}",
            (x1, max(0, y1 - 4 * thickness)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5 * thickness,
            colour,
            thickness,
        )
        for (x, y), point_colour in zip(face.landmarks, LANDMARK_BGR, strict=True):
            cv2.circle(out, (round(float(x)), round(float(y))), 2 * thickness, point_colour, -1)
    return out


_WRITABLE = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})


def save_annotated(
    target: Path,
    image_bgr: np.ndarray,
    faces: Sequence[DetectedFace],
    accepted: Sequence[bool] | None = None,
) -> Path:
    """Write ``draw_faces(...)`` to ``target`` (PNG when its suffix is not an image
    format OpenCV writes); returns the path written. Raises InvalidInputError."""
    if target.suffix.lower() not in _WRITABLE:
        target = target.with_suffix(".png")
    drawn = draw_faces(image_bgr, faces, accepted)
    try:
        ok = cv2.imwrite(str(target), drawn)
    except cv2.error as exc:
        raise InvalidInputError(f"cannot write {target}: {exc}") from None
    if not ok:
        raise InvalidInputError(f"cannot write {target}")
    return target
