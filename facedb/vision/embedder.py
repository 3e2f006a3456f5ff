"""ArcFace embedder (ONNX): aligned 112x112 crops -> L2-normalised float32 [N, 512]."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnxruntime as ort

from facedb.errors import InvalidInputError
from facedb.events import metrics
from facedb.numeric import l2_normalize
from facedb.vision.preprocessing import CropModel, Preprocessing

EMBEDDING_DIM = 512
# Faces per session run: bounds memory while keeping the convolutions batched. A
# dynamically quantised model needs 1 (its manifest entry says max_batch = 1): its
# activation scales are computed over the whole batch, so a face's embedding would
# depend on the other faces run with it.
CHUNK = 32


class ArcFaceEmbedder(CropModel):
    """Runs one ArcFace session. Input crops are uint8 BGR [112, 112, 3] aligned to
    the ArcFace template (see align.py); the model is fed as ``preprocessing`` (its
    manifest entry) says: for w600k_mbf_int8, RGB, (x - 127.5) / 127.5."""

    default_chunk = CHUNK

    def __init__(
        self,
        session: ort.InferenceSession,
        preprocessing: Preprocessing,
        chunk: int | None = None,
        *,
        flip: bool = False,
    ) -> None:
        super().__init__(session, preprocessing, chunk)
        # Each face is embedded with its mirror image and the two averaged (a
        # different recipe: pipeline.embedder_name says which).
        self.flip = flip

    @property
    def input_size(self) -> tuple[int, int]:
        return self.preprocessing.input_size

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
        with metrics.timed("embed"):
            if not self.flip:
                return l2_normalize(self._in_chunks(crops_bgr))
            # Faces and mirror images in the same runs (one run for up to chunk / 2
            # faces), unless the model takes one crop a run.
            mirrored = [np.ascontiguousarray(crop[:, ::-1]) for crop in crops_bgr]
            both = l2_normalize(self._in_chunks([*crops_bgr, *mirrored]))
            n = len(crops_bgr)
            return l2_normalize(both[:n] + both[n:])

    def _run(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        blob = self.preprocessing.blob(crops_bgr)
        output = self.session.run(None, {self.input_name: blob})[0]
        return np.asarray(output, dtype=np.float32).reshape(len(crops_bgr), -1)
