"""Detection around the previous frame's faces (regions of interest) for live sources.

Between two frames of a camera a face moves a few pixels: instead of searching the
whole frame again, the detector can look only at each tracked face's box grown by
``ROI_GROW`` of its size on every side (overlapping regions merged into one), at the
scale the whole frame would get, so that a face looks to the network exactly as in a
full search. A face that enters the scene is outside every region: the caller still
searches the whole frame every few detections, and whenever the regions cover more
than ``ROI_MAX_SHARE`` of the frame (``facedb watch --roi``: facedb/watch/search.py
decides which; benchmarks/roi.py and benchmarks/watch.py measure what it saves).

Images are uint8 BGR [H, W, 3]; boxes are x1, y1, x2, y2 pixels of the frame.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from facedb.vision.crops import moved
from facedb.vision.tiles import merge
from facedb.vision.types import DetectedFace

# Each side of a face box grows by this share of the box's longer side: a face that
# moves up to half its size between two searches stays inside its region.
ROI_GROW = 0.75

# Regions are worth searching instead of the whole frame only while they cover less
# than this share of it: each detector call has a fixed cost, and on a 640x480 frame
# the regions of 1 face took 0.21-0.25 of a full search's time, of 2 faces 0.43-0.50,
# of 5 faces 1.0-1.2 (benchmarks/roi.py, 1 thread).
ROI_MAX_SHARE = 0.4

# A detector at a given scale: faces of a crop (pixels of the crop) for (crop, scale).
DetectAt = Callable[[np.ndarray, float], list[DetectedFace]]

Region = tuple[int, int, int, int]  # x1, y1, x2, y2, whole pixels, x2/y2 exclusive


def regions(boxes: Sequence[np.ndarray], height: int, width: int) -> list[Region]:
    """The grown boxes, clipped to the frame, in no particular order; [] for no boxes.
    Two overlapping regions become their bounding rectangle when that is no larger
    than the two apart (one detector call instead of two, no more pixels)."""
    rects: list[Region] = []
    for box in boxes:
        x1, y1, x2, y2 = (float(v) for v in box[:4])
        grow = ROI_GROW * max(x2 - x1, y2 - y1, 1.0)
        rect = (
            max(0, int(np.floor(x1 - grow))),
            max(0, int(np.floor(y1 - grow))),
            min(width, int(np.ceil(x2 + grow))),
            min(height, int(np.ceil(y2 + grow))),
        )
        if rect[2] > rect[0] and rect[3] > rect[1]:
            rects.append(rect)
    merged = True
    while merged:
        merged = False
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                a, b = rects[i], rects[j]
                union = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
                if overlap and _area(union) <= _area(a) + _area(b):
                    rects[i] = union
                    del rects[j]
                    merged = True
                    break
            if merged:
                break
    return rects


def share(rects: Sequence[Region], height: int, width: int) -> float:
    """The share of a ``height x width`` frame the regions cover (overlaps counted
    twice, as the detector pays for them twice)."""
    return sum(_area(r) for r in rects) / max(1, height * width)


def _area(rect: Region) -> int:
    return (rect[2] - rect[0]) * (rect[3] - rect[1])


def detect_near(
    detect_at: DetectAt,
    image: np.ndarray,
    boxes: Sequence[np.ndarray],
    scale: float,
    nms_threshold: float,
) -> list[DetectedFace]:
    """Faces found in the regions around ``boxes`` (the previous faces), in pixels of
    ``image``, highest score first; each region is searched at ``scale`` (the scale
    of a full search of the frame)."""
    rects = regions(boxes, *image.shape[:2])
    return detect_in(detect_at, image, rects, scale, nms_threshold)


def detect_in(
    detect_at: DetectAt,
    image: np.ndarray,
    rects: Sequence[Region],
    scale: float,
    nms_threshold: float,
) -> list[DetectedFace]:
    """Faces found in ``rects`` (from ``regions``), as ``detect_near``."""
    found: list[DetectedFace] = []
    for x1, y1, x2, y2 in rects:
        crop = np.ascontiguousarray(image[y1:y2, x1:x2])
        found.extend(moved(detect_at(crop, scale), 1.0, x1, y1))
    return merge(found, nms_threshold)
