"""How a model is fed, as its manifest entry states: input size, channel order, mean, std.

Images in facedb are uint8 BGR [H, W, 3] (OpenCV's order). A model is fed float32
[N, 3, H, W] whose channel c is (pixel_c - mean[c]) / std[c], pixels 0..255, channels
in the model's colour order. A manifest entry that leaves a field out gets the value
of the model facedb ships for the role (``DEFAULTS``). Whether the ONNX file can be
fed so is checked when it is loaded (:func:`input_problem`), not guessed from it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from facedb.vision.align import ALIGNED_SIZE

COLOURS = ("RGB", "BGR")
# Detectors: input sides are multiples of the largest SCRFD stride.
DETECTOR_SIDE_MULTIPLE = 32

Triple = tuple[float, float, float]


@dataclass(frozen=True)
class Preprocessing:
    """One model's input. ``input_size`` is (width, height); (0, 0), detectors only:
    any multiple of 32 (the model's own size when its ONNX input is fixed)."""

    input_size: tuple[int, int]
    colour: str  # channel order fed to the model: "RGB" or "BGR"
    mean: Triple  # per channel, in the model's colour order
    std: Triple

    def blob(self, images_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """uint8 BGR [H, W, 3] images, all of one size -> float32 [N, 3, H, W]."""
        height, width = images_bgr[0].shape[:2]
        params = cv2.dnn.Image2BlobParams(
            scalefactor=tuple(1.0 / s for s in self.std),
            size=(width, height),
            mean=self.mean,
            swapRB=self.colour == "RGB",
            ddepth=cv2.CV_32F,
        )
        blob: np.ndarray = cv2.dnn.blobFromImagesWithParams(list(images_bgr), params)
        return blob


# The values of the models in weights/manifest.toml, for a field an entry leaves out.
DEFAULTS = {
    "detector": Preprocessing((0, 0), "RGB", (127.5,) * 3, (128.0,) * 3),
    "embedder": Preprocessing((ALIGNED_SIZE, ALIGNED_SIZE), "RGB", (127.5,) * 3, (127.5,) * 3),
    "liveness": Preprocessing((80, 80), "BGR", (0.0,) * 3, (1.0,) * 3),
}


def _triple(value: Any, field: str) -> Triple:
    """A number (the same for every channel) or a list of three."""
    values = value if isinstance(value, list) else [value] * 3
    if len(values) != 3 or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        raise ValueError(f"{field} must be a number or a list of 3 numbers, not {value!r}")
    return (float(values[0]), float(values[1]), float(values[2]))


def from_entry(role: str, entry: Mapping[str, Any]) -> Preprocessing:
    """The preprocessing of a manifest entry of ``role``; ValueError for a bad field."""
    default = DEFAULTS[role]
    size = entry.get("input_size", list(default.input_size))
    if (
        not isinstance(size, list)
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in size)
    ):
        raise ValueError(f"input_size must be [width, height], whole numbers >= 0, not {size!r}")
    colour = entry.get("colour", default.colour)
    if colour not in COLOURS:
        raise ValueError(f"colour must be {' or '.join(COLOURS)}, not {colour!r}")
    std = _triple(entry.get("std", list(default.std)), "std")
    if not all(s > 0 for s in std):
        raise ValueError(f"std must be > 0, not {entry.get('std')!r}")
    mean = _triple(entry.get("mean", list(default.mean)), "mean")
    return Preprocessing((size[0], size[1]), str(colour), mean, std)


def input_problem(
    role: str, preprocessing: Preprocessing, shape: Sequence[int | str | None]
) -> str | None:
    """Why a model whose ONNX input has ``shape`` (as onnxruntime gives it: a
    dimension is a str or None when dynamic) cannot be fed as ``preprocessing``
    says; None when it can."""
    if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
        return f"its input is {list(shape)}, not [N, 3, height, width]"
    width, height = preprocessing.input_size
    if (width == 0) != (height == 0) or (width == 0 and role != "detector"):
        return f"input_size {width}x{height} names no size (0x0 is for detectors only)"
    if role == "detector" and (width % DETECTOR_SIDE_MULTIPLE or height % DETECTOR_SIDE_MULTIPLE):
        return f"input_size {width}x{height}: a detector's sides are multiples of 32"
    if role == "embedder" and (width, height) != (ALIGNED_SIZE, ALIGNED_SIZE):
        return (
            f"input_size {width}x{height}: faces are aligned to the "
            f"{ALIGNED_SIZE}x{ALIGNED_SIZE} ArcFace template"
        )
    fixed = isinstance(shape[2], int) and isinstance(shape[3], int)
    if width and fixed and (shape[3], shape[2]) != (width, height):
        return f"input_size {width}x{height}, but the model takes {shape[3]}x{shape[2]}"
    return None


class CropModel(ABC):
    """One onnxruntime session run on crops (uint8 BGR) fed as ``preprocessing`` (its
    manifest entry) says, at most ``chunk`` crops per run (``default_chunk`` when
    None). A subclass turns one run's crops into its result (``_run``)."""

    default_chunk = 32

    def __init__(
        self,
        session: ort.InferenceSession,
        preprocessing: Preprocessing,
        chunk: int | None = None,
    ) -> None:
        self.session = session
        self.preprocessing = preprocessing
        self.input_name: str = session.get_inputs()[0].name
        self.chunk = max(1, self.default_chunk if chunk is None else chunk)

    def _in_chunks(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
        """``_run`` on slices of at most ``chunk`` crops, the results in order."""
        parts = [
            self._run(crops_bgr[start : start + self.chunk])
            for start in range(0, len(crops_bgr), self.chunk)
        ]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    @abstractmethod
    def _run(self, crops_bgr: Sequence[np.ndarray]) -> np.ndarray: ...
