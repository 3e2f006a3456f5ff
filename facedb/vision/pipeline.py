"""FacePipeline: the one vision object the service layer uses.

Images in are numpy uint8 [H, W, 3] BGR; boxes and key points out are pixels of
the image they were found in; embeddings are L2-normalised float32 [512].
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from facedb.config import Settings
from facedb.errors import ModelError
from facedb.vision import quality
from facedb.vision.align import align_face
from facedb.vision.detector import ScrfdDetector
from facedb.vision.embedder import CHUNK, ArcFaceEmbedder
from facedb.vision.models import ModelRegistry
from facedb.vision.types import AnalysedFace, DetectedFace


class FacePipeline:
    """Detect, align, check quality and embed faces with the models of ``settings``.

    Creating one is cheap: models are checked and loaded on first use, once per
    pipeline (thread-safe). Share one pipeline per process.
    """

    def __init__(self, settings: Settings, registry: ModelRegistry | None = None) -> None:
        self.settings = settings
        self.registry = registry if registry is not None else ModelRegistry(settings)
        self._detector: ScrfdDetector | None = None
        self._embedder: ArcFaceEmbedder | None = None
        self._lock = threading.Lock()

    # -- models ---------------------------------------------------------------

    @property
    def detector_name(self) -> str:
        return self.settings.detector

    @property
    def embedder_name(self) -> str:
        """The embedder's manifest name, stored with every embedding it makes."""
        return self.settings.embedder

    def providers(self) -> dict[str, str]:
        """Model name -> onnxruntime execution provider, for the models loaded so far."""
        return self.registry.providers()

    def load(self) -> None:
        """Load the detector and embedder now (otherwise they load on first use)."""
        _ = self.detector, self.embedder

    @property
    def detector(self) -> ScrfdDetector:
        if self._detector is None:
            self._check_role(self.detector_name, "detector")
            session = self.registry.session(self.detector_name)
            with self._lock:
                if self._detector is None:
                    size = self.settings.det_size
                    self._detector = ScrfdDetector(
                        session,
                        input_size=(size, size),
                        score_threshold=self.settings.det_threshold,
                        nms_threshold=self.settings.nms_threshold,
                    )
        return self._detector

    @property
    def embedder(self) -> ArcFaceEmbedder:
        if self._embedder is None:
            self._check_role(self.embedder_name, "embedder")
            session = self.registry.session(self.embedder_name)
            with self._lock:
                if self._embedder is None:
                    max_batch = self.registry.spec(self.embedder_name).max_batch
                    self._embedder = ArcFaceEmbedder(session, chunk=max_batch or CHUNK)
        return self._embedder

    def _check_role(self, name: str, role: str) -> None:
        spec = self.registry.spec(name)
        if spec.role != role:
            raise ModelError(f"model {name} is a {spec.role}, not a {role}")

    # -- work -------------------------------------------------------------------

    def detect(self, image_bgr: np.ndarray, max_faces: int = 0) -> list[DetectedFace]:
        """Faces in one uint8 BGR [H, W, 3] image, highest score first; [] if none."""
        return self.detector.detect(image_bgr, max_faces=max_faces)

    def embed_aligned(self, crops_bgr_112: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings of aligned uint8 BGR [112, 112, 3] crops: float32 [N, 512],
        L2-normalised; shape [0, 512] for no crops."""
        return self.embedder.embed(crops_bgr_112)

    def analyse(
        self, images: Sequence[np.ndarray], *, embed: bool = True
    ) -> list[list[AnalysedFace]]:
        """For each image, its faces (highest detector score first) with their quality
        verdict, aligned crop and, when ``embed``, embedding.

        All faces of all images go to the embedder in one call (which runs them in
        chunks of the model's ``max_batch``). Faces that fail
        the quality gate are embedded too: the caller decides what to do with them.
        """
        detected = [self.detect(image) for image in images]
        crops = [
            [align_face(image, face.landmarks) for face in faces]
            for image, faces in zip(images, detected, strict=True)
        ]
        flat_crops = [crop for image_crops in crops for crop in image_crops]
        vectors = self.embed_aligned(flat_crops) if embed and flat_crops else None
        results: list[list[AnalysedFace]] = []
        k = 0
        for faces, image_crops in zip(detected, crops, strict=True):
            analysed: list[AnalysedFace] = []
            for face, crop in zip(faces, image_crops, strict=True):
                analysed.append(
                    AnalysedFace(
                        face=face,
                        quality=quality.assess(face, crop, self.settings),
                        embedding=vectors[k] if vectors is not None else None,
                        aligned=crop,
                    )
                )
                k += 1
            results.append(analysed)
        return results
