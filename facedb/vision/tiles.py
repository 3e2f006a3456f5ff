"""Small faces in very large photos: detection on overlapping tiles.

The detector letterboxes every image to its input size (det_size, 640): a 4912x7360
photo is shrunk 11.5 times, and a face under about 150-200 px becomes a 13-17 px blob
that the detector may miss (docs/IMPORT.md). When such a photo has no face at all,
the pipeline looks again on tiles of ``TILE_ZOOM`` x det_size pixels, which the
detector sees at 1/``TILE_ZOOM`` of their size instead of 1/11.5, overlapping by
``TILE_OVERLAP`` so that a face cut by one tile's edge is whole in the next, and merges
what the tiles found with non-maximum suppression.

Only photos with no face found pay for it (a 36 MP photo is 20 tiles): an ordinary
photo is analysed once.
"""

from __future__ import annotations

import math

import numpy as np

from facedb.vision.crops import Detect, moved
from facedb.vision.detector import nms
from facedb.vision.types import DetectedFace

# A tile is this many detector inputs wide: the detector shrinks it this many times.
TILE_ZOOM = 3
# Share of a tile's side that it has in common with the next tile.
TILE_OVERLAP = 0.25


def needs_tiles(image: np.ndarray, det_size: int) -> bool:
    """True when the image is too large for one pass to see small faces."""
    return int(max(image.shape[:2])) > TILE_ZOOM * det_size


def tile_boxes(height: int, width: int, det_size: int) -> list[tuple[int, int, int, int]]:
    """Tiles covering an image, as (x, y, width, height) pixels, row by row."""
    side = TILE_ZOOM * det_size
    return [
        (x, y, min(side, width - x), min(side, height - y))
        for y in _starts(height, side)
        for x in _starts(width, side)
    ]


def _starts(length: int, side: int) -> list[int]:
    """Evenly spread tile starts over ``length``, consecutive tiles overlapping by at
    least ``TILE_OVERLAP`` of ``side``, the last one ending at ``length``."""
    if length <= side:
        return [0]
    step = side * (1.0 - TILE_OVERLAP)
    count = math.ceil((length - side) / step) + 1
    spacing = (length - side) / (count - 1)
    return [round(i * spacing) for i in range(count)]


def find_in_tiles(
    image: np.ndarray, detect: Detect, det_size: int, nms_threshold: float
) -> list[DetectedFace]:
    """Faces that ``detect`` finds on the tiles of ``image``, in pixels of ``image``,
    duplicates of overlapping tiles removed, highest score first."""
    found: list[DetectedFace] = []
    for x, y, width, height in tile_boxes(image.shape[0], image.shape[1], det_size):
        tile = np.ascontiguousarray(image[y : y + height, x : x + width])
        found.extend(moved(detect(tile), 1.0, x, y))
    return merge(found, nms_threshold)


def merge(faces: list[DetectedFace], nms_threshold: float) -> list[DetectedFace]:
    """The faces of all tiles (in pixels of the whole image) without the duplicates
    of overlapping tiles, highest score first."""
    if not faces:
        return []
    boxes = np.stack([face.box for face in faces]).astype(np.float32)
    scores = np.array([face.score for face in faces], dtype=np.float32)
    return [faces[i] for i in nms(boxes, scores, nms_threshold)]
