"""Values that cross the vision boundary. Images are numpy uint8 HxWx3 in BGR order
(OpenCV's), coordinates are pixels of the image they were found in, x right, y down."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Frame:
    """One image to analyse, from a camera, a video, a stream, a file or a folder."""

    image: np.ndarray  # uint8 [H, W, 3], BGR
    origin: str  # where it came from: a path, "video.mp4#12", "camera 0#57"
    index: int  # position in its source, from 0
    timestamp: float  # seconds since the source was opened (position in a video file)


@dataclass(frozen=True, eq=False)
class DetectedFace:
    """One face found by the detector."""

    box: np.ndarray  # float32 [4]: x1, y1, x2, y2
    score: float  # detector confidence in [0, 1]
    landmarks: np.ndarray  # float32 [5, 2] (x, y): left eye, right eye, nose, mouth left, right

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    @property
    def size_px(self) -> int:
        """The shorter side of the box, the size the quality gate checks."""
        return int(min(self.width, self.height))

    @property
    def area(self) -> float:
        return self.width * self.height


@dataclass(frozen=True)
class QualityVerdict:
    """Whether a face is good enough to enrol or decide on, and why not."""

    accepted: bool
    reasons: tuple[str, ...]  # for a person: "face too small: 38 px, need 64"; empty if accepted
    size_px: int
    det_score: float
    sharpness: float  # variance of the Laplacian of the aligned grey crop
    yaw: float  # from landmarks: 0 frontal, about +-1 in full profile
    pitch: float
    score: float  # overall quality in [0, 1], to rank the faces of several frames


@dataclass(frozen=True, eq=False)
class AnalysedFace:
    """A detected face with its quality verdict and, when computed, its embedding."""

    face: DetectedFace
    quality: QualityVerdict
    embedding: np.ndarray | None  # float32 [512], L2-normalised; None when not embedded
    liveness: float | None = None  # probability of a live face; None when liveness is off
    aligned: np.ndarray | None = None  # uint8 [112, 112, 3] BGR ArcFace crop, when kept
