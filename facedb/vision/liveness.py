"""Passive liveness (presentation-attack detection) with MiniFASNetV2 (ONNX).

The model is minivision-ai's Silent-Face-Anti-Spoofing ``2.7_80x80_MiniFASNetV2``
(Apache-2.0). It looks at one RGB frame, the face with its surroundings, and tells
a live face from a printed photo or a screen replayed at close range. It does not
see masks, deepfakes injected into a video stream, or a good screen held far away:
docs/LIVENESS.md has its measured scores and limits.

Preprocessing follows the reference ``CropImage`` (``src/generate_patches.py``):
the detector's box is scaled 2.7x around its centre; the scale is reduced when the
scaled box would be larger than the image, and a box that crosses an edge is
shifted back inside (not cut). That region is resized to 80x80 and fed as BGR,
raw 0..255 floats, NCHW. The output is 3 logits; after a softmax, index 1 is the
probability of a live face (0 and 2 are attack classes).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import onnxruntime as ort

# How much context around the face box the model was trained with.
CROP_SCALE = 2.7
INPUT_SIZE = 80
REAL_CLASS = 1
# Faces per session run: bounds memory; the model batches exactly (fp32, no
# dynamic quantisation: a face's score does not depend on its batch).
CHUNK = 32


def expanded_box(
    box: np.ndarray, image_width: int, image_height: int, scale: float = CROP_SCALE
) -> tuple[int, int, int, int]:
    """The region the model sees: ``box`` (x1, y1, x2, y2 pixels) scaled around its
    centre, as integer x1, y1, x2, y2 (inclusive) inside the image.

    Follows Silent-Face-Anti-Spoofing's ``CropImage._get_new_box``: the scale is
    reduced so that the region fits the image, then the region is shifted (not
    clipped) back inside the image where it crosses an edge.
    """
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    box_w = max(x2 - x1, 1.0)
    box_h = max(y2 - y1, 1.0)
    scale = min((image_height - 1) / box_h, (image_width - 1) / box_w, scale)
    new_w, new_h = box_w * scale, box_h * scale
    centre_x, centre_y = x1 + box_w / 2, y1 + box_h / 2
    left, top = centre_x - new_w / 2, centre_y - new_h / 2
    right, bottom = centre_x + new_w / 2, centre_y + new_h / 2
    if left < 0:
        right -= left
        left = 0
    if top < 0:
        bottom -= top
        top = 0
    if right > image_width - 1:
        left -= right - image_width + 1
        right = image_width - 1
    if bottom > image_height - 1:
        top -= bottom - image_height + 1
        bottom = image_height - 1
    return int(max(left, 0)), int(max(top, 0)), int(right), int(bottom)


def liveness_crop(image_bgr: np.ndarray, box: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """The model's input for one face: uint8 BGR [size, size, 3]."""
    height, width = image_bgr.shape[:2]
    left, top, right, bottom = expanded_box(box, width, height)
    region = image_bgr[top : bottom + 1, left : right + 1]
    return cv2.resize(region, (size, size))


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of float [N, K] logits, numerically stable."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return result


class LivenessModel:
    """Runs one MiniFASNet session on crops made by :func:`liveness_crop`."""

    def __init__(self, session: ort.InferenceSession, chunk: int = CHUNK) -> None:
        self.session = session
        self.input_name: str = session.get_inputs()[0].name
        self.chunk = max(1, chunk)

    def scores(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """Probability that each face is live: float32 [N] in [0, 1]; [0] for no crops."""
        if len(crops_bgr) == 0:
            return np.zeros(0, dtype=np.float32)
        parts = [
            self._run(crops_bgr[start : start + self.chunk])
            for start in range(0, len(crops_bgr), self.chunk)
        ]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _run(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        # uint8 HWC BGR -> float32 NCHW BGR, raw 0..255 (the model's own ToTensor
        # does not divide by 255).
        blob = np.stack(crops_bgr).astype(np.float32).transpose(0, 3, 1, 2)
        logits = self.session.run(None, {self.input_name: np.ascontiguousarray(blob)})[0]
        probabilities = softmax(np.asarray(logits, dtype=np.float64).reshape(len(crops_bgr), -1))
        return probabilities[:, REAL_CLASS].astype(np.float32)
