"""SCRFD face detector (ONNX): letterbox, decode strides 8/16/32, NMS, 5 key points.

The maths follows insightface's ``model_zoo/scrfd.py`` (MIT): the image is resized,
keeping its aspect ratio, into the top-left corner of a zero canvas; each stride's
feature map has 2 anchors per location whose box outputs are distances
(left, top, right, bottom) and key point outputs are offsets, both in stride units.
Everything here is vectorised numpy; anchor centres are cached per (size, stride).

Coordinates returned are pixels of the original image; boxes are x1, y1, x2, y2.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import cv2
import numpy as np
import onnxruntime as ort

from facedb.errors import ConfigError, ModelError
from facedb.vision.types import DetectedFace

STRIDES = (8, 16, 32)
ANCHORS_PER_LOCATION = 2
NUM_KEYPOINTS = 5
INPUT_MEAN = 127.5
INPUT_STD = 128.0
# A model with a dynamic input is fed only the part of the letterbox canvas that holds
# the image (rounded up to 32) plus this much of the black padding, not the whole
# square: the same scale and pixels, less to compute (about 11% less on the shared
# photos, more for a 16:9 camera frame). The kept margin makes the network see the
# image edge as the full canvas shows it: with no margin, detections touching the
# right or bottom edge move by up to 2 px (docs/BENCHMARKS.md).
CANVAS_EDGE_MARGIN = 96


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


def to_blob(canvas_bgr: np.ndarray) -> np.ndarray:
    """uint8 BGR [H, W, 3] -> float32 [1, 3, H, W], RGB, (x - 127.5) / 128."""
    blob: np.ndarray = cv2.dnn.blobFromImage(
        canvas_bgr,
        1.0 / INPUT_STD,
        (canvas_bgr.shape[1], canvas_bgr.shape[0]),
        (INPUT_MEAN, INPUT_MEAN, INPUT_MEAN),
        swapRB=True,
    )
    return blob


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
    """Runs one SCRFD session. ``input_size`` is (width, height), multiples of 32;
    a model with a fixed input shape uses that shape whatever is asked."""

    def __init__(
        self,
        session: ort.InferenceSession,
        input_size: tuple[int, int] = (640, 640),
        score_threshold: float = 0.5,
        nms_threshold: float = 0.4,
    ) -> None:
        self.session = session
        model_input = session.get_inputs()[0]
        self.input_name: str = model_input.name
        shape = model_input.shape
        # A dynamic input takes a trimmed canvas (see CANVAS_EDGE_MARGIN).
        self.trim = not (isinstance(shape[2], int) and isinstance(shape[3], int))
        if not self.trim:
            input_size = (int(shape[3]), int(shape[2]))
        width, height = input_size
        if width <= 0 or height <= 0 or width % 32 or height % 32:
            raise ConfigError(
                f"detector input size (det_size, FACEDB_DET_SIZE) must be a positive "
                f"multiple of 32, not {width}x{height}"
            )
        self.input_size = (width, height)
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

    def detect(self, image_bgr: np.ndarray, max_faces: int = 0) -> list[DetectedFace]:
        """Faces in a uint8 BGR [H, W, 3] image, highest score first.

        ``max_faces`` > 0 keeps only that many (the highest scores). An image with no
        face gives an empty list.
        """
        width, height = self.input_size
        canvas, scale = letterbox(image_bgr, width, height, trim=self.trim)
        raw = self.session.run(None, {self.input_name: to_blob(canvas)})
        outputs = [raw[i] for i in self._output_order]
        boxes, scores, points = self._decode(outputs, canvas.shape[0], canvas.shape[1])
        if scores.size == 0:
            return []
        boxes /= scale
        points /= scale
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
