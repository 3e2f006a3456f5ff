"""Faces that a detector trained on scenes misses: tight crops and pre-aligned crops.

SCRFD learnt faces in scenes (WIDER FACE). A headshot cropped to the face box, or an
aligned crop, fills its whole letterboxed input: the face is larger than the largest
anchors and its outline (chin, forehead, ears) touches the border, so no anchor scores
above the threshold. Placed in the centre of a black canvas ``PAD_FACTOR`` times its
size, the same face is found again (docs/IMPORT.md has the measurements: 0 of 52 tight
CelebA crops found as they are, 52 of 52 on the padded canvas). Boxes and key points
found on the canvas are mapped back to the original image (``find_in_padded``).

An image already aligned to the ArcFace template needs no detector at all:
``aligned_face`` turns it into a "face" whose box is the whole image and whose key
points are the template, and its 112x112 crop. Square crops of any size are resized;
112x96 (height x width) crops, the older 96x112 template that ArcFace's is derived
from, get 8 black columns on each side. Other shapes are refused.

Images are uint8 BGR [H, W, 3]; coordinates are pixels, x right, y down.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from facedb.errors import InvalidInputError
from facedb.vision.align import ALIGNED_SIZE, ARCFACE_TEMPLATE
from facedb.vision.types import DetectedFace

# Canvas side / image side for the padded retry. 2x keeps the face large (about half
# the detector's input) while giving it the margin of an ordinary photo; black
# padding scored higher and gave embeddings closer to the full photo's than
# replicated borders (docs/IMPORT.md).
PAD_FACTOR = 2.0
PAD_VALUE = (0, 0, 0)
# The 96x112 (width x height) template sits 8 px to the left of ArcFace's 112x112 one.
NARROW_WIDTH = 96
NARROW_OFFSET = (ALIGNED_SIZE - NARROW_WIDTH) // 2
# Aspect ratios (height / width) accepted as "the same shape" as a template crop.
ASPECT_TOLERANCE = 0.05
# Detector score given to a face that no detector looked at (an aligned crop).
ALIGNED_SCORE = 1.0

# A detector: faces of a uint8 BGR image, highest score first.
Detect = Callable[[np.ndarray], list[DetectedFace]]


@dataclass(frozen=True, eq=False)
class Padded:
    """An image in the centre of a larger canvas."""

    image: np.ndarray  # uint8 [H', W', 3], same colour order as the original
    offset: tuple[int, int]  # (x, y) of the original's top-left corner in the canvas


def pad(image: np.ndarray, factor: float = PAD_FACTOR) -> Padded:
    """``image`` centred on a black canvas ``factor`` times its width and height."""
    if factor < 1.0:
        raise ValueError(f"pad factor must be at least 1, not {factor}")
    height, width = image.shape[:2]
    dx = round(width * (factor - 1.0) / 2.0)
    dy = round(height * (factor - 1.0) / 2.0)
    canvas = cv2.copyMakeBorder(image, dy, dy, dx, dx, cv2.BORDER_CONSTANT, value=PAD_VALUE)
    return Padded(np.ascontiguousarray(canvas), (dx, dy))


def crop_around(image: np.ndarray, box: np.ndarray, expand: float) -> np.ndarray:
    """The face box (x1, y1, x2, y2 pixels) grown ``expand`` times about its centre,
    cut from ``image`` and clipped to it: a tight crop such as a headshot."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    w, h = (box[2] - box[0]) * expand, (box[3] - box[1]) * expand
    x1, y1 = max(0, int(cx - w / 2)), max(0, int(cy - h / 2))
    x2, y2 = min(image.shape[1], int(cx + w / 2)), min(image.shape[0], int(cy + h / 2))
    return np.ascontiguousarray(image[y1:y2, x1:x2])


def find_in_padded(image: np.ndarray, detect: Detect, det_size: int) -> list[DetectedFace]:
    """Faces that ``detect`` finds on the padded image, in pixels of ``image``.

    An image larger than the detector's input is first shrunk to ``det_size`` on its
    long side (the detector would shrink it anyway): the canvas stays small.
    """
    height, width = image.shape[:2]
    scale = min(1.0, det_size / max(height, width))
    small = image
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    padded = pad(small)
    dx, dy = padded.offset
    return moved(detect(padded.image), 1.0 / scale, -dx / scale, -dy / scale)


def moved(faces: list[DetectedFace], scale: float, dx: float, dy: float) -> list[DetectedFace]:
    """The faces with boxes and key points mapped by p -> p * scale + (dx, dy), order kept."""
    box_shift = np.array([dx, dy, dx, dy], dtype=np.float32)
    point_shift = np.array([dx, dy], dtype=np.float32)
    return [
        DetectedFace(
            box=(face.box * np.float32(scale) + box_shift).astype(np.float32),
            score=face.score,
            landmarks=(face.landmarks * np.float32(scale) + point_shift).astype(np.float32),
        )
        for face in faces
    ]


def aligned_face(image: np.ndarray) -> tuple[DetectedFace, np.ndarray]:
    """An image already aligned to the ArcFace template, as a face and its crop.

    Returns the face (box = the whole image, score ``ALIGNED_SCORE``, key points = the
    template in the image's pixels) and the uint8 [112, 112, 3] crop (same colour
    order). Raises InvalidInputError for a shape that is no template crop.
    """
    check_aligned_shape(image)
    height, width = image.shape[:2]
    if _close(height / width, 1.0):
        scale = width / ALIGNED_SIZE
        crop = _resize(image, ALIGNED_SIZE, ALIGNED_SIZE)
        template = ARCFACE_TEMPLATE
    else:  # 112x96, height x width
        scale = width / NARROW_WIDTH
        narrow = _resize(image, NARROW_WIDTH, ALIGNED_SIZE)
        crop = cv2.copyMakeBorder(
            narrow, 0, 0, NARROW_OFFSET, NARROW_OFFSET, cv2.BORDER_CONSTANT, value=PAD_VALUE
        )
        template = ARCFACE_TEMPLATE - np.array([NARROW_OFFSET, 0.0])
    face = DetectedFace(
        box=np.array([0.0, 0.0, width, height], dtype=np.float32),
        score=ALIGNED_SCORE,
        landmarks=(template * scale).astype(np.float32),
    )
    return face, np.ascontiguousarray(crop)


def check_aligned_shape(image: np.ndarray) -> None:
    """InvalidInputError unless the image has the shape of an aligned crop: square, or
    112x96 (height x width), give or take ``ASPECT_TOLERANCE``."""
    height, width = image.shape[:2]
    if not (_close(height / width, 1.0) or _close(height / width, ALIGNED_SIZE / NARROW_WIDTH)):
        raise InvalidInputError(
            f"an aligned face is a square crop (112x112) or 112x96 (height x width), "
            f"not {height}x{width}: leave out --aligned to detect the face"
        )


def _close(ratio: float, target: float) -> bool:
    return abs(ratio / target - 1.0) <= ASPECT_TOLERANCE


def _resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    shrinking = image.shape[1] > width
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_CUBIC
    resized: np.ndarray = cv2.resize(image, (width, height), interpolation=interpolation)
    return resized
