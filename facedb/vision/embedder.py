"""ArcFace embedder (ONNX): aligned 112x112 crops -> L2-normalised float32 [N, 512]."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import onnxruntime as ort

from facedb.errors import InvalidInputError

EMBEDDING_DIM = 512
INPUT_MEAN = 127.5
INPUT_STD = 127.5
# Faces per session run: bounds memory while keeping the convolutions batched. A
# dynamically quantised model needs 1 (its manifest entry says max_batch = 1): its
# activation scales are computed over the whole batch, so a face's embedding would
# depend on the other faces run with it.
CHUNK = 32


class ArcFaceEmbedder:
    """Runs one ArcFace session. Input crops are uint8 BGR [112, 112, 3] aligned to
    the ArcFace template (see align.py); the model is fed RGB, (x - 127.5) / 127.5."""

    def __init__(self, session: ort.InferenceSession, chunk: int = CHUNK) -> None:
        self.session = session
        model_input = session.get_inputs()[0]
        self.input_name: str = model_input.name
        height, width = model_input.shape[2], model_input.shape[3]
        self.input_size = (
            int(width) if isinstance(width, int) else 112,
            int(height) if isinstance(height, int) else 112,
        )
        self.chunk = max(1, chunk)

    def embed(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """float32 [N, 512], each row L2-normalised; [0, 512] for no crops."""
        if len(crops_bgr) == 0:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        for crop in crops_bgr:
            if crop.shape[:2] != self.input_size[::-1] or crop.ndim != 3:
                raise InvalidInputError(
                    f"aligned face must be {self.input_size[0]}x{self.input_size[1]}x3, "
                    f"not {'x'.join(map(str, crop.shape))}"
                )
        parts = [
            self._run(crops_bgr[start : start + self.chunk])
            for start in range(0, len(crops_bgr), self.chunk)
        ]
        vectors = parts[0] if len(parts) == 1 else np.concatenate(parts)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors /= np.maximum(norms, 1e-12)
        return vectors

    def _run(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        blob = cv2.dnn.blobFromImages(
            list(crops_bgr),
            1.0 / INPUT_STD,
            self.input_size,
            (INPUT_MEAN, INPUT_MEAN, INPUT_MEAN),
            swapRB=True,
        )
        output = self.session.run(None, {self.input_name: blob})[0]
        return np.asarray(output, dtype=np.float32).reshape(len(crops_bgr), -1)
