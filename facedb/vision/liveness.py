"""Passive liveness (presentation-attack detection) with MiniFASNetV2 (ONNX).

The model is minivision-ai's Silent-Face-Anti-Spoofing ``2.7_80x80_MiniFASNetV2``
(Apache-2.0). It looks at one RGB frame, the face with its surroundings, and tells
a live face from a printed photo or a screen replayed at close range. It does not
see masks, deepfakes injected into a video stream, or a good screen held far away:
docs/LIVENESS.md has its measured scores and limits.

Preprocessing follows the reference ``CropImage`` (``src/generate_patches.py``):
the detector's box is scaled 2.7x around its centre; the scale is reduced when the
scaled box would be larger than the image, and a box that crosses an edge is
shifted back inside (not cut). That region is resized to the model's input size and
fed as its manifest entry says (minifasnet_v2: 80x80, BGR, raw 0..255 floats, NCHW).
The output is 3 logits; after a softmax, index 1 is the probability of a live face
(0 and 2 are attack classes).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from facedb.events import metrics
from facedb.vision.preprocessing import CropModel

# How much context around the face box the model was trained with.
CROP_SCALE = 2.7
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


def liveness_crop(image_bgr: np.ndarray, box: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The model's input for one face: uint8 BGR [height, width, 3], ``size`` being
    (width, height)."""
    height, width = image_bgr.shape[:2]
    left, top, right, bottom = expanded_box(box, width, height)
    region = image_bgr[top : bottom + 1, left : right + 1]
    return cv2.resize(region, size)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of float [N, K] logits, numerically stable."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    result: np.ndarray = exp / exp.sum(axis=1, keepdims=True)
    return result


class LivenessModel(CropModel):
    """Runs one MiniFASNet session, fed as ``preprocessing`` (its manifest entry)
    says, on crops made by :meth:`crop`."""

    default_chunk = CHUNK

    def crop(self, image_bgr: np.ndarray, box: np.ndarray) -> np.ndarray:
        """The model's input for the face of ``box`` (x1, y1, x2, y2 pixels of a uint8
        BGR image): :func:`liveness_crop` at the model's input size."""
        return liveness_crop(image_bgr, box, self.preprocessing.input_size)

    def scores(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """Probability that each face is live: float32 [N] in [0, 1]; [0] for no crops."""
        if len(crops_bgr) == 0:
            return np.zeros(0, dtype=np.float32)
        with metrics.timed("liveness"):
            return self._in_chunks(crops_bgr)

    def _run(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        blob = self.preprocessing.blob(crops_bgr)
        logits = self.session.run(None, {self.input_name: blob})[0]
        probabilities = softmax(np.asarray(logits, dtype=np.float64).reshape(len(crops_bgr), -1))
        return probabilities[:, REAL_CLASS].astype(np.float32)
