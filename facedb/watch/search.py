"""Where the detector looks on a detection frame: the whole frame, or only the regions
around where the tracks are expected (vision/roi.py, ``facedb watch --roi``).

With regions on, the detector searches the whole frame

* every ``FULL_EVERY``-th detection (the first included), so that a newcomer outside
  every region is found within a few detections (8 frames at the live default of one
  detection every 2 frames: under half a second at 20 frames/s);
* whenever there is no track to look around;
* whenever the regions cover more than ``ROI_MAX_SHARE`` of the frame (several faces
  close to the camera: one full search is then cheaper than the regions).

In between, a face is found where it was (its track's box moved on by its velocity),
at the scale of a full search, so it looks to the network as in a full search. A
detector with a fixed input size cannot search a region: it always searches the
whole frame.

Images are uint8 BGR [H, W, 3]; boxes are x1, y1, x2, y2 pixels of the frame.
"""

from __future__ import annotations

import logging

import numpy as np

from facedb.vision.pipeline import FacePipeline
from facedb.vision.roi import ROI_MAX_SHARE, detect_in, regions, share
from facedb.vision.types import DetectedFace

log = logging.getLogger(__name__)

# One detection in this many searches the whole frame even when regions would do.
FULL_EVERY = 4


class FaceSearch:
    """Runs the detector for the watch loop, on the whole frame or on regions."""

    def __init__(self, pipeline: FacePipeline, roi: bool) -> None:
        self.pipeline = pipeline
        self.roi = roi
        if roi and not pipeline.detector.trim:
            log.warning(
                "detector %s has a fixed input size: it searches the whole frame (no --roi)",
                pipeline.detector_name,
            )
            self.roi = False
        self.searches = 0  # detections run
        self.in_regions = 0  # of which only in the regions around the tracks

    def detect(self, image: np.ndarray, expected: np.ndarray) -> tuple[list[DetectedFace], bool]:
        """The faces of ``image``, highest score first, and whether only the regions
        around ``expected`` (the tracks' boxes on this frame, [N, 4]) were searched."""
        turn = self.searches
        self.searches += 1
        if self.roi and len(expected) and turn % FULL_EVERY:
            height, width = image.shape[:2]
            rects = regions(list(expected), height, width)
            if share(rects, height, width) <= ROI_MAX_SHARE:
                self.in_regions += 1
                detector = self.pipeline.detector
                scale = detector.frame_scale(height, width)
                faces = detect_in(detector.detect_at, image, rects, scale, detector.nms_threshold)
                return faces, True
        # Not find_faces: a video's empty frames must not pay for the still-photo retries.
        return self.pipeline.detect(image), False
