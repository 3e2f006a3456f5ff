"""SCRFD face detector (ONNX): letterbox, decode strides 8/16/32, NMS, 5 key points.

The maths follows insightface's ``model_zoo/scrfd.py`` (MIT): the image is resized,
keeping its aspect ratio, into the top-left corner of a zero canvas; each stride's
feature map has 2 anchors per location whose box outputs are distances
(left, top, right, bottom) and key point outputs are offsets, both in stride units.
Everything here is vectorised numpy; anchor centres are cached per (size, stride).

Two ways to choose the input scale (``ScrfdDetector``'s ``min_face_px``):

- *letterbox* (``--det-size N``, FACEDB_DET_SIZE=N, e.g. 640): the image fills an N x N canvas,
  upscaled when smaller, as insightface does (parity tests use N = 640).
- *auto* (``--det-size 0``, FACEDB_DET_SIZE=0, the default): the scale is the smallest that shows the
  smallest face that matters (the quality gate's ``min_face_px``) at
  ``AUTO_FACE_CANVAS_PX`` canvas pixels, so that faces down to half of it are still
  found (to tell a person to come closer), and never more than the letterbox's scale
  at ``input_size``: a 640x480 frame is searched at 0.75 of its size instead of 1,
  a 500x333 photo at 0.75 instead of 1.28 (docs/BENCHMARKS.md has the accuracy and
  the speed of both).

Coordinates returned are pixels of the original image; boxes are x1, y1, x2, y2.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import cv2
import numpy as np
import onnxruntime as ort

from facedb.errors import ConfigError, ModelError
from facedb.events import metrics
from facedb.vision.preprocessing import Preprocessing
from facedb.vision.types import DetectedFace

STRIDES = (8, 16, 32)
ANCHORS_PER_LOCATION = 2
NUM_KEYPOINTS = 5
# A model with a dynamic input is fed only the part of the letterbox canvas that holds
# the image (rounded up to 32) plus this much of the black padding, not the whole
# square: the same scale and pixels, less to compute (about 11% less on the shared
# photos, more for a 16:9 camera frame). The kept margin makes the network see the
# image edge as the full canvas shows it: with no margin, detections touching the
# right or bottom edge move by up to 2 px (docs/BENCHMARKS.md).
CANVAS_EDGE_MARGIN = 96
# Auto scale: a face of the quality gate's minimum size is shown at this many canvas
# pixels (SCRFD, trained on WIDER FACE, finds faces from about 10 px; its smallest
# anchors are 16 and 32 px). Chosen on the shared CelebA pairs (docs/BENCHMARKS.md).
AUTO_FACE_CANVAS_PX = 48
# Auto scale: the largest canvas side (the cost of the insightface letterbox).
AUTO_MAX_SIDE = 640
# Auto scale pads only up to a multiple of 32: no insightface parity mode, and on the
# shared pairs no margin was as accurate as 32 px of it, with 12 % less detector time
# on 640x480 frames of one to five faces (docs/ACCURACY.md, "Detector scale").
AUTO_EDGE_MARGIN = 0


def auto_scale(
    height: int,
    width: int,
    min_face_px: int,
    max_side: int,
    face_canvas_px: float = AUTO_FACE_CANVAS_PX,
) -> float:
    """Detector scale (canvas pixels per image pixel) for an image of ``height x width``.

    The scale that shows a ``min_face_px`` face at ``face_canvas_px`` pixels, capped by
    the letterbox scale at ``max_side`` (the whole image within max_side x max_side):
    never more work than the letterbox, never an upscale beyond what the gate needs.
    ``min_face_px`` <= 0 (no size gate) gives the letterbox scale.
    """
    letterbox_scale = max_side / max(height, width)
    if min_face_px <= 0:
        return letterbox_scale
    return min(face_canvas_px / min_face_px, letterbox_scale)


def scaled_canvas(
    image_bgr: np.ndarray, scale: float, max_side: int, margin: int = AUTO_EDGE_MARGIN
) -> tuple[np.ndarray, float, float]:
    """The image resized by ``scale`` into the top-left of a zero canvas whose sides are
    the resized sides rounded up to 32, plus ``margin`` within ``max_side`` (all
    multiples of 32).

    Returns the canvas (uint8, same colour order) and the x and y scales from original
    pixels to canvas pixels (the resized sides are whole pixels, so they differ a little).
    """
    h, w = image_bgr.shape[:2]
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    sides = [-(-side // 32) * 32 for side in (new_h, new_w)]
    height, width = (max(side, min(side + margin, max_side)) for side in sides)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    # Bilinear, as the letterbox: where both use the same scale (a photo larger than
    # the letterbox), the detector sees the same pixels. (An area filter, tried on the
    # shared pairs, gave about the same accuracy: docs/BENCHMARKS.md, "Detector scale".)
    canvas[:new_h, :new_w] = cv2.resize(image_bgr, (new_w, new_h))
    return canvas, new_w / w, new_h / h


def letterbox(
    image_bgr: np.ndarray, width: int, height: int, *, trim: bool = False
) -> tuple[np.ndarray, float]:
    """Resize keeping the aspect ratio into the top-left of a zero ``height x width`` canvas.

    Returns the canvas (uint8 [height, width, 3], same colour order as the input) and
    the scale from original pixels to canvas pixels. With ``trim`` the canvas is cut
    to the resized image rounded up to 32, plus CANVAS_EDGE_MARGIN, within the size.
    """
    h, w = image_bgr.shape[:2]
    image_ratio = h / w
    if image_ratio > height / width:
        new_h = height
        new_w = int(new_h / image_ratio)
    else:
        new_w = width
        new_h = int(new_w * image_ratio)
    new_w, new_h = max(new_w, 1), max(new_h, 1)
    scale = new_h / h
    if trim:
        height = min(height, -(-new_h // 32) * 32 + CANVAS_EDGE_MARGIN)
        width = min(width, -(-new_w // 32) * 32 + CANVAS_EDGE_MARGIN)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    canvas[:new_h, :new_w] = cv2.resize(image_bgr, (new_w, new_h))
    return canvas, scale


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy non-maximum suppression; indices kept, highest score first.

    ``boxes`` float [N, 4] x1, y1, x2, y2. Areas use the +1 pixel convention of
    insightface so that results match the reference implementation.
    """
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep: list[int] = []
    while order.size > 0:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        inter = w * h
        iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[iou <= threshold]
    return np.asarray(keep, dtype=np.int64)


class ScrfdDetector:
    """Runs one SCRFD session, fed as ``preprocessing`` (its manifest entry) says.
    ``input_size`` is (width, height), multiples of 32; a model with a fixed size (in
    its manifest entry, else in its ONNX input shape) uses that size whatever is asked.

    ``min_face_px`` not None (a model with a dynamic input only): auto scale
    (``auto_scale``), ``input_size`` being the largest canvas; None: the letterbox."""

    def __init__(
        self,
        session: ort.InferenceSession,
        preprocessing: Preprocessing,
        input_size: tuple[int, int] = (640, 640),
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
        min_face_px: int | None = None,
    ) -> None:
        self.session = session
        self.preprocessing = preprocessing
        model_input = session.get_inputs()[0]
        self.input_name: str = model_input.name
        shape = model_input.shape
        fixed: tuple[int, int] | None = None
        if preprocessing.input_size != (0, 0):
            fixed = preprocessing.input_size
        elif isinstance(shape[2], int) and isinstance(shape[3], int):
            fixed = (int(shape[3]), int(shape[2]))
        # A dynamic input takes a trimmed canvas (see CANVAS_EDGE_MARGIN).
        self.trim = fixed is None
        if fixed is not None:
            input_size = fixed
        width, height = input_size
        if width <= 0 or height <= 0 or width % 32 or height % 32:
            raise ConfigError(
                f"detector input size (det_size, FACEDB_DET_SIZE) must be a positive "
                f"multiple of 32, not {width}x{height}"
            )
        self.input_size = (width, height)
        self.min_face_px = min_face_px if self.trim else None
        self.face_canvas_px: float = AUTO_FACE_CANVAS_PX
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self._output_order = self._order_outputs(session)
        self._centres: dict[tuple[int, int, int], np.ndarray] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _order_outputs(session: ort.InferenceSession) -> list[int]:
        """Output indices as scores(8,16,32), boxes(8,16,32), key points(8,16,32).

        Outputs are told apart by their last dimension (1, 4, 10); within a kind,
        stride 8 has the most rows. Both the named (score_8 ...) and the numbered
        exports list them in this order already; this checks it instead of assuming.
        """
        outputs = session.get_outputs()
        if len(outputs) != 3 * len(STRIDES):
            raise ModelError(f"detector has {len(outputs)} outputs, SCRFD with key points has 9")
        order: list[int] = []
        for width in (1, 4, 2 * NUM_KEYPOINTS):
            same = [i for i, o in enumerate(outputs) if o.shape[-1] == width]
            if len(same) != len(STRIDES):
                raise ModelError("detector outputs are not SCRFD's scores, boxes and key points")
            order.extend(same)  # listed stride 8, 16, 32 in both exports
        return order

    def _anchor_centres(self, height: int, width: int, stride: int) -> np.ndarray:
        key = (height, width, stride)
        centres = self._centres.get(key)
        if centres is None:
            ys, xs = np.mgrid[:height, :width]
            grid = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
            centres = np.repeat(grid, ANCHORS_PER_LOCATION, axis=0)
            with self._lock:
                self._centres[key] = centres
        return centres

    def detect(
        self, image_bgr: np.ndarray, max_faces: int = 0, *, letterboxed: bool = False
    ) -> list[DetectedFace]:
        """Faces in a uint8 BGR [H, W, 3] image, highest score first.

        ``max_faces`` > 0 keeps only that many (the highest scores). An image with no
        face gives an empty list. ``letterboxed``: the letterbox at ``input_size`` even
        when the detector scales automatically (the retries of vision/crops.py and
        vision/tiles.py were measured with it).
        """
        with metrics.timed("detect"):
            canvas, scale_x, scale_y = self.canvas(image_bgr, letterboxed=letterboxed)
            return self._run(canvas, scale_x, scale_y, max_faces)

    def detect_at(self, image_bgr: np.ndarray, scale: float) -> list[DetectedFace]:
        """Faces of an image resized by ``scale`` (canvas pixels per image pixel), on a
        canvas just large enough: for a region of a frame searched at the frame's own
        scale (vision/roi.py). Needs a model with a dynamic input (ModelError if not)."""
        if not self.trim:
            raise ModelError("this detector has a fixed input size: it cannot search a region")
        with metrics.timed("detect"):
            canvas, scale_x, scale_y = scaled_canvas(image_bgr, scale, max_side=1 << 30)
            return self._run(canvas, scale_x, scale_y, 0)

    def frame_scale(self, height: int, width: int) -> float:
        """The scale at which ``detect`` searches an image of ``height x width``."""
        input_width, input_height = self.input_size
        if self.min_face_px is not None:
            side = min(input_width, input_height)
            return auto_scale(height, width, self.min_face_px, side, self.face_canvas_px)
        if height / width > input_height / input_width:  # as letterbox() computes it
            return input_height / height
        return max(int(input_width * height / width), 1) / height

    def _run(
        self, canvas: np.ndarray, scale_x: float, scale_y: float, max_faces: int
    ) -> list[DetectedFace]:
        raw = self.session.run(None, {self.input_name: self.preprocessing.blob([canvas])})
        outputs = [raw[i] for i in self._output_order]
        boxes, scores, points = self._decode(outputs, canvas.shape[0], canvas.shape[1])
        if scores.size == 0:
            return []
        if scale_x == scale_y:
            boxes /= scale_x
            points /= scale_x
        else:
            boxes /= np.array([scale_x, scale_y, scale_x, scale_y], dtype=boxes.dtype)
            points /= np.array([scale_x, scale_y], dtype=points.dtype)
        keep = nms(boxes, scores, self.nms_threshold)
        if max_faces > 0:
            keep = keep[:max_faces]
        return [
            DetectedFace(
                box=boxes[i].astype(np.float32),
                score=float(scores[i]),
                landmarks=points[i].astype(np.float32),
            )
            for i in keep
        ]

    def canvas(
        self, image_bgr: np.ndarray, *, letterboxed: bool = False
    ) -> tuple[np.ndarray, float, float]:
        """The detector's input for an image: canvas, x scale and y scale."""
        width, height = self.input_size
        if self.min_face_px is None or letterboxed:
            canvas, scale = letterbox(image_bgr, width, height, trim=self.trim)
            return canvas, scale, scale
        h, w = image_bgr.shape[:2]
        side = min(width, height)
        scale = auto_scale(h, w, self.min_face_px, side, self.face_canvas_px)
        return scaled_canvas(image_bgr, scale, side)

    def _decode(
        self, outputs: Sequence[np.ndarray], height: int, width: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Canvas-pixel boxes [N, 4], scores [N], key points [N, 5, 2] above threshold."""
        n = len(STRIDES)
        all_boxes, all_scores, all_points = [], [], []
        for k, stride in enumerate(STRIDES):
            scores = outputs[k].reshape(-1)
            selected = np.flatnonzero(scores >= self.score_threshold)
            if selected.size == 0:
                continue
            centres = self._anchor_centres(height // stride, width // stride, stride)[selected]
            distances = outputs[k + n].reshape(-1, 4)[selected] * stride
            offsets = outputs[k + 2 * n].reshape(-1, NUM_KEYPOINTS, 2)[selected] * stride
            all_boxes.append(
                np.concatenate([centres - distances[:, :2], centres + distances[:, 2:]], axis=1)
            )
            all_scores.append(scores[selected])
            all_points.append(centres[:, None, :] + offsets)
        if not all_scores:
            return (
                np.zeros((0, 4), np.float32),
                np.zeros((0,), np.float32),
                np.zeros((0, NUM_KEYPOINTS, 2), np.float32),
            )
        return (
            np.concatenate(all_boxes),
            np.concatenate(all_scores),
            np.concatenate(all_points),
        )
