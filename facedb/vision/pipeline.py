"""FacePipeline: the one vision object the service layer uses.

Images in are numpy uint8 [H, W, 3] BGR; boxes and key points out are pixels of
the image they were found in; embeddings are L2-normalised float32 [512].
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

import numpy as np

from facedb.config import Settings
from facedb.errors import ModelError
from facedb.vision import quality, recipes, tiles
from facedb.vision.align import align_face
from facedb.vision.crops import aligned_face, find_in_padded
from facedb.vision.detector import AUTO_MAX_SIDE, ScrfdDetector
from facedb.vision.embedder import CHUNK, ArcFaceEmbedder
from facedb.vision.liveness import CHUNK as LIVENESS_CHUNK
from facedb.vision.liveness import LivenessModel
from facedb.vision.models import ModelRegistry, load_manifest, session_key
from facedb.vision.types import AnalysedFace, DetectedFace

log = logging.getLogger(__name__)


# What warm_up runs on: a camera's usual frame, and the batch sizes of a watch's first
# faces (one, then a few).
WARM_FRAME = (480, 640)
WARM_BATCHES = (1, 4)


class FacePipeline:
    """Detect, align, check quality and embed faces with the models of ``settings``.

    Creating one is cheap: models are checked and loaded on first use, once per
    pipeline (thread-safe). Share one pipeline per process.
    """

    def __init__(
        self,
        settings: Settings,
        registry: ModelRegistry | None = None,
        *,
        recipe: str | None = None,
    ) -> None:
        """``recipe``: the embedding recipe (vision/recipes.py), e.g. the one the
        database holds; None: the one FACEDB_EMBEDDER_FLIP gives a new gallery."""
        self.settings = settings
        self.registry = registry if registry is not None else ModelRegistry(settings)
        self._recipe = recipe
        self._detector: ScrfdDetector | None = None
        self._embedder: ArcFaceEmbedder | None = None
        self._liveness: LivenessModel | None = None
        self._liveness_warned = False
        self._lock = threading.Lock()

    # -- models ---------------------------------------------------------------

    @property
    def detector_name(self) -> str:
        return self.settings.detector

    @property
    def embedder_name(self) -> str:
        """The embedding recipe, stored with every embedding it makes: the embedder's
        manifest name, with ``+float+flip`` (or ``+flip``) when each face is embedded
        with its mirror image (FACEDB_EMBEDDER_FLIP, vision/recipes.py), or the
        recipe the pipeline was made with: a gallery never mixes two recipes."""
        if self._recipe is None:
            name, flip = self.settings.embedder, self.settings.embedder_flip
            # An unknown model is refused when it is loaded, not here (facedb health).
            spec = load_manifest().get(name) if flip == "on" else None
            one_crop_a_run = spec is not None and spec.max_batch == 1
            self._recipe = recipes.for_settings(name, flip, one_crop_a_run)
        return self._recipe

    def providers(self) -> dict[str, str]:
        """Model name (the embedder's: its recipe, embedder_name) -> onnxruntime
        execution provider, for the models loaded so far."""
        providers = self.registry.providers()
        if self._embedder is not None:
            recipe = recipes.parse(self.embedder_name)
            provider = providers.pop(session_key(recipe.model, recipe.float_activations), None)
            if provider is not None:
                providers[self.embedder_name] = provider
        return providers

    def load(self) -> None:
        """Load the detector and embedder now (otherwise they load on first use)."""
        _ = self.detector, self.embedder

    def warm_up(self, frame_shape: tuple[int, int] = WARM_FRAME, *, liveness: bool) -> None:
        """Runs each model (the liveness model too when ``liveness``) on blank inputs,
        twice: onnxruntime's first runs of a session allocate and plan, 100-150 ms in
        all on 2 cores, which a live source would pay as dropped frames on its first
        faces. ``frame_shape``: (height, width) of the frames to come."""
        frame = np.zeros((*frame_shape, 3), dtype=np.uint8)
        box = np.array([0.0, 0.0, frame_shape[1] / 2, frame_shape[0] / 2], dtype=np.float32)
        aligned = np.zeros((112, 112, 3), dtype=np.uint8)
        for batch in WARM_BATCHES:
            self.detect(frame)
            self.embed_aligned([aligned] * batch)
            if liveness:
                self.liveness.scores([self.liveness.crop(frame, box)] * batch)

    @property
    def detector(self) -> ScrfdDetector:
        if self._detector is None:
            self._check_role(self.detector_name, "detector")
            session = self.registry.session(self.detector_name)
            with self._lock:
                if self._detector is None:
                    # det_size 0: auto scale from the quality gate's minimum face
                    # size, on at most an AUTO_MAX_SIDE canvas (vision/detector.py).
                    size = self.settings.det_size
                    auto = size == 0
                    self._detector = ScrfdDetector(
                        session,
                        self.registry.spec(self.detector_name).preprocessing,
                        input_size=(AUTO_MAX_SIDE, AUTO_MAX_SIDE) if auto else (size, size),
                        score_threshold=self.settings.det_threshold,
                        nms_threshold=self.settings.nms_threshold,
                        min_face_px=self.settings.min_face_px if auto else None,
                    )
        return self._detector

    @property
    def embedder(self) -> ArcFaceEmbedder:
        if self._embedder is None:
            recipe = recipes.parse(self.embedder_name)
            name = recipe.model
            self._check_role(name, "embedder")
            session = self.registry.session(name, float_activations=recipe.float_activations)
            with self._lock:
                if self._embedder is None:
                    spec = self.registry.spec(name)
                    self._embedder = ArcFaceEmbedder(
                        session,
                        spec.preprocessing,
                        # The float form's outputs do not depend on the batch.
                        chunk=CHUNK if recipe.float_activations else spec.max_batch or CHUNK,
                        flip=recipe.flip,
                    )
        return self._embedder

    @property
    def liveness_name(self) -> str | None:
        """The manifest's default liveness model; None when the manifest has none."""
        names = [s.name for s in load_manifest().values() if s.role == "liveness" and s.default]
        return names[0] if names else None

    def liveness_available(self) -> bool:
        """Whether the liveness model's file is there (its sha256 is checked on load)."""
        name = self.liveness_name
        return name is not None and self.registry.find(name) is not None

    def liveness_enabled(self, is_live: bool) -> bool:
        """Whether to check liveness on the frames of a source, from settings.liveness:
        ``on``; ``off``; ``auto`` = on for a camera or a stream (``is_live``), off for
        image files, folders and video files. When the model file is missing, ``on``
        raises ModelError and ``auto`` logs a warning and answers False."""
        mode = self.settings.liveness
        if mode == "off" or (mode == "auto" and not is_live):
            return False
        if self.liveness_available():
            return True
        name = self.liveness_name or "liveness"
        if mode == "on":
            try:
                self.registry.verified_path(name)
            except ModelError as exc:
                raise ModelError(f"liveness is on, but {exc.message}") from None
            raise ModelError(f"liveness is on, but the manifest has no {name} model")
        if not self._liveness_warned:
            self._liveness_warned = True
            log.warning(
                "liveness is off: model %s not found (set FACEDB_WEIGHTS, see weights/README.md)",
                name,
            )
        return False

    @property
    def liveness(self) -> LivenessModel:
        """The liveness model, loaded on first use; ModelError when it cannot be."""
        if self._liveness is None:
            name = self.liveness_name
            if name is None:
                raise ModelError("the model manifest has no default liveness model")
            session = self.registry.session(name)
            with self._lock:
                if self._liveness is None:
                    spec = self.registry.spec(name)
                    self._liveness = LivenessModel(
                        session, spec.preprocessing, chunk=spec.max_batch or LIVENESS_CHUNK
                    )
        return self._liveness

    def _check_role(self, name: str, role: str) -> None:
        spec = self.registry.spec(name)
        if spec.role != role:
            raise ModelError(f"model {name} is a {spec.role}, not a {role}")

    # -- work -------------------------------------------------------------------

    def detect(self, image_bgr: np.ndarray, max_faces: int = 0) -> list[DetectedFace]:
        """Faces in one uint8 BGR [H, W, 3] image, highest score first; [] if none."""
        return self.detector.detect(image_bgr, max_faces=max_faces)

    def find_faces(self, image_bgr: np.ndarray) -> list[DetectedFace]:
        """``detect``, and when it finds nothing, look again the two ways a detector
        misses the face of a still photo: as a tight crop, centred on a padded canvas
        (vision/crops.py), then, for a very large photo, in tiles (vision/tiles.py)."""
        faces = self.detect(image_bgr)
        if faces:
            return faces
        det_size = max(self.detector.input_size)

        def detect(image: np.ndarray) -> list[DetectedFace]:
            # The retries were measured on the letterbox: a padded crop is looked at
            # as large as the canvas allows, whatever the detector's auto scale.
            return self.detector.detect(image, letterboxed=True)

        faces = find_in_padded(image_bgr, detect, det_size)
        if not faces and tiles.needs_tiles(image_bgr, det_size):
            faces = tiles.find_in_tiles(image_bgr, detect, det_size, self.settings.nms_threshold)
        return faces

    def embed_aligned(self, crops_bgr_112: Sequence[np.ndarray]) -> np.ndarray:
        """Embeddings of aligned uint8 BGR [112, 112, 3] crops: float32 [N, 512],
        L2-normalised; shape [0, 512] for no crops."""
        return self.embedder.embed(crops_bgr_112)

    def analyse(
        self,
        images: Sequence[np.ndarray],
        *,
        embed: bool = True,
        liveness: bool = False,
        retry: bool = True,
        aligned: bool = False,
        live: bool = False,
        detected: Sequence[list[DetectedFace]] | None = None,
    ) -> list[list[AnalysedFace]]:
        """For each image, its faces (highest detector score first) with their quality
        verdict, aligned crop and, when ``embed``, embedding; when ``liveness``, the
        probability that each face is live (vision/liveness.py), else None.

        All faces of all images go to the embedder in one call (which runs them in
        chunks of the model's ``max_batch``), and likewise to the liveness model. Faces
        that fail the quality gate are embedded and scored too: the caller decides what
        to do with them.

        ``retry``: an image with no face is looked at again as a tight crop and, when
        very large, in tiles (``find_faces``); live sources turn it off, an empty scene
        would pay for it on every frame. ``aligned``: each image is one face already
        aligned to the ArcFace template (vision/crops.py): nothing is detected.
        ``live``: the images are camera or stream frames, judged by the strict quality
        gate; else photos (vision/quality.py PHOTO_GATE). ``detected``: each image's
        faces, already found by the caller (watch's regions of interest, vision/roi.py),
        highest score first: nothing is detected.
        """
        if aligned:
            found = [aligned_face(image) for image in images]
            detected = [[face] for face, _ in found]
            crops = [[crop] for _, crop in found]
        else:
            if detected is None:
                detected = [self.find_faces(i) if retry else self.detect(i) for i in images]
            crops = [
                [align_face(image, face.landmarks) for face in faces]
                for image, faces in zip(images, detected, strict=True)
            ]
        flat_crops = [crop for image_crops in crops for crop in image_crops]
        vectors = self.embed_aligned(flat_crops) if embed and flat_crops else None
        live_scores = (
            self.liveness.scores(
                [
                    self.liveness.crop(image, face.box)
                    for image, faces in zip(images, detected, strict=True)
                    for face in faces
                ]
            )
            if liveness and flat_crops
            else None
        )
        results: list[list[AnalysedFace]] = []
        k = 0
        for faces, image_crops in zip(detected, crops, strict=True):
            analysed: list[AnalysedFace] = []
            for face, crop in zip(faces, image_crops, strict=True):
                analysed.append(
                    AnalysedFace(
                        face=face,
                        quality=quality.assess(face, crop, self.settings, live=live),
                        embedding=vectors[k] if vectors is not None else None,
                        liveness=float(live_scores[k]) if live_scores is not None else None,
                        aligned=crop,
                    )
                )
                k += 1
            results.append(analysed)
        return results
