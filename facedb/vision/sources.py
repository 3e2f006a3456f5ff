"""Where frames come from: an image file, image bytes, a folder, a video file, a camera,
or a network stream.

``read_image`` turns one encoded image into a uint8 HxWx3 BGR array (C-contiguous).
``open_source`` turns a command-line spec into a ``FrameSource``: an iterator of
``Frame`` that is also a context manager.

Decisions (stated here so that callers and users can rely on them):

- Pillow reads the header first (format, declared size, bit depth, EXIF orientation)
  without decoding pixels, so that an image above the input budget (vision/budget.py:
  file size, megapixels, and the bytes decoding would allocate, 16-bit and alpha
  included) is refused before any memory is allocated. OpenCV then decodes the pixels;
  Pillow decodes what OpenCV cannot (ICO, GIF on OpenCV < 4.11). Only regular files
  and devices are read, with a cap; standard input too.
- Truncated images are rejected, not decoded with a grey bottom: a JPEG whose last scan
  has no end-of-image marker is refused even though some OpenCV versions decode it
  with only a warning. A half-grey face would give a wrong embedding without any sign.
- The EXIF orientation is applied for every format (a phone portrait arrives upright).
- 16-bit samples are scaled to 8 bits (x * 255 / 65535, rounded), floats are taken as
  0..1; grey images get three equal channels; an alpha channel is composited on white
  (a transparent background becomes white, as a viewer shows it).
"""

from __future__ import annotations

import io
import itertools
import logging
import re
import sys
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from facedb.errors import ImageError, SourceError
from facedb.secrets import mask_url
from facedb.vision import budget
from facedb.vision.budget import DEFAULT_BUDGET, DEFAULT_MAX_PIXELS, DecodeLedger, ImageBudget
from facedb.vision.types import Frame

log = logging.getLogger(__name__)

BGRImage = npt.NDArray[np.uint8]

__all__ = ["DEFAULT_MAX_PIXELS", "FrameSource", "ImageBudget", "open_source", "read_image"]

# Rows converted at a time (16-bit, float, alpha): bounds the temporaries of a conversion.
_CHUNK_PIXELS = 1 << 20

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".webp", ".tif", ".tiff",
     ".gif", ".pgm", ".ppm", ".pbm", ".pnm", ".jp2", ".avif", ".ico"}
)  # fmt: skip
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".avi", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".wmv", ".flv",
     ".ts", ".mts", ".m2ts", ".3gp", ".ogv", ".mjpeg", ".mjpg", ".h264", ".h265"}
)  # fmt: skip
STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "http", "https", "udp", "tcp", "srt"})

# Seconds OpenCV may wait to open, then to read from, a network stream.
STREAM_TIMEOUT_S = 10.0

_EXIF_ORIENTATION_TAG = 0x0112
_JPEG_SOS = b"\xff\xda"
_JPEG_EOI = b"\xff\xd9"
_CAMERA_RE = re.compile(r"^\d{1,3}$")
_URL_RE = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://")


# --------------------------------------------------------------------------- images


def read_image(
    source: Path | str | bytes,
    *,
    name: str | None = None,
    max_pixels: int | None = None,
    limits: ImageBudget = DEFAULT_BUDGET,
    ledger: DecodeLedger | None = None,
) -> BGRImage:
    """Decode one image (a path, or the encoded bytes of a file) into uint8 [H, W, 3] BGR.

    ``name`` is how bytes are named in error messages (default "<bytes>").
    ``limits``: the input budget (``max_pixels`` overrides its pixel limit); ``ledger``:
    what the other images of the same request already hold.
    Raises ImageError (exit code 3) naming the image and the reason: missing, empty,
    not an image, not a regular file, truncated or corrupt, or above the budget.
    """
    if max_pixels is not None:
        limits = ImageBudget(limits.max_file_bytes, max_pixels, limits.max_decoded_bytes)
    if isinstance(source, bytes):
        data, label = source, name or "<bytes>"
        if len(data) > limits.max_file_bytes:
            raise ImageError(
                f"cannot read image {label}: {len(data) / budget.MB:.1f} MB is above the "
                f"limit of {limits.max_file_bytes / budget.MB:.0f} MB"
            )
    else:
        label = name or str(source)
        data = budget.read_file(Path(source), label, limits.max_file_bytes)
    if not data:
        raise ImageError(f"cannot read image {label}: file is empty (0 bytes)")
    header = _probe(data, label, limits.max_pixels)
    budget.check_layout(header.layout, label, limits)
    if ledger is not None:
        ledger.charge(header.layout, label)
    if header.format == "JPEG" and _jpeg_is_truncated(data):
        raise ImageError(f"cannot read image {label}: truncated JPEG (no end-of-image marker)")
    if len(data) < budget.min_encoded_bytes(data, header.format, header.layout):
        raise ImageError(
            f"cannot read image {label}: corrupt or truncated data ({len(data)} bytes cannot "
            f"hold {header.width}x{header.height} pixels)"
        )
    pixels = _decode(data, label)
    if pixels.shape[0] * pixels.shape[1] > header.width * header.height:
        raise ImageError(f"cannot read image {label}: decoded size differs from its header")
    image = _to_bgr8(pixels, label)
    del pixels  # the decoder's buffer goes before the oriented copy is made
    return np.ascontiguousarray(_apply_orientation(image, header.orientation))


@dataclass(frozen=True)
class _Header:
    format: str  # Pillow's format name: "JPEG", "PNG", ...
    width: int
    height: int
    orientation: int  # EXIF orientation 1..8; 1 = as stored
    layout: budget.Layout  # what decoding will allocate


def _probe(data: bytes, label: str, max_pixels: int) -> _Header:
    """Read the header only (no pixel decoding): format, declared size, orientation."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # "Corrupt EXIF data": the orientation then defaults to 1, nothing to tell.
            warnings.filterwarnings("ignore", message="Corrupt EXIF data", category=UserWarning)
            with Image.open(io.BytesIO(data)) as im:
                fmt, (width, height), mode = im.format or "?", im.size, im.mode
                orientation = _exif_orientation(im)
    except UnidentifiedImageError:
        raise ImageError(f"cannot read image {label}: not an image file (unknown format)") from None
    except Image.DecompressionBombError:
        raise ImageError(
            f"cannot read image {label}: declared size is above {max_pixels / 1e6:g} megapixels"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(
            f"cannot read image {label}: corrupt or truncated header ({exc})"
        ) from None
    if width * height > max_pixels:
        raise ImageError(
            f"cannot read image {label}: {width}x{height} pixels is above the limit of "
            f"{max_pixels / 1e6:g} megapixels"
        )
    layout = budget.layout_of(data, mode, width, height, orientation != 1)
    return _Header(fmt, width, height, orientation, layout)


def _exif_orientation(im: Image.Image) -> int:
    try:
        value = im.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:  # a broken EXIF block must not make a good image unreadable
        log.debug("ignoring unreadable EXIF data", exc_info=True)
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _jpeg_is_truncated(data: bytes) -> bool:
    """True when the last scan of a JPEG is not followed by an end-of-image marker."""
    last_scan = data.rfind(_JPEG_SOS)
    return last_scan < 0 or data.find(_JPEG_EOI, last_scan) < 0


def _decode(data: bytes, label: str) -> npt.NDArray[np.generic]:
    """Pixels as stored: any depth, 1 to 4 channels, orientation not applied."""
    decoded = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if decoded is not None:
        return np.asarray(decoded)
    try:
        with Image.open(io.BytesIO(data)) as im:
            return _pillow_pixels(im)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"cannot read image {label}: corrupt or truncated data ({exc})") from None


def _pillow_pixels(im: Image.Image) -> npt.NDArray[np.generic]:
    """Pixels of a Pillow image in OpenCV's layout: grey, BGR or BGRA."""
    im.load()
    if im.mode in ("I;16", "I;16L", "I;16B", "I", "F", "L"):
        return np.asarray(im)
    rgba = np.asarray(im.convert("RGBA"))
    return np.asarray(cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))


def _to_bgr8(pixels: npt.NDArray[np.generic], label: str) -> BGRImage:
    image = _to_uint8(pixels, label)
    if image.ndim == 2:
        image = image[:, :, np.newaxis]
    channels = image.shape[2]
    if channels == 1:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if channels == 2:  # grey + alpha
        grey = _composite_on_white(image[:, :, :1], image[:, :, 1])
        return np.asarray(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if channels == 3:
        return image
    if channels == 4:
        return _composite_on_white(image[:, :, :3], image[:, :, 3])
    raise ImageError(f"cannot read image {label}: {channels} channels are not supported")


def _to_uint8(pixels: npt.NDArray[np.generic], label: str) -> BGRImage:
    if pixels.dtype == np.uint8:
        return pixels.astype(np.uint8, copy=False)
    if pixels.dtype == np.uint16:
        return _by_rows(pixels, _scale_uint16)
    if np.issubdtype(pixels.dtype, np.floating):
        return _by_rows(pixels, _scale_float)
    if pixels.dtype in (np.int32, np.uint32):  # Pillow's mode "I": 16-bit values in int32
        return _by_rows(pixels, _scale_int32)
    raise ImageError(f"cannot read image {label}: sample type {pixels.dtype} is not supported")


def _scale_uint16(block: npt.NDArray[np.generic]) -> BGRImage:
    wide = block.astype(np.uint32)
    return ((wide * 255 + 32767) // 65535).astype(np.uint8)


def _scale_float(block: npt.NDArray[np.generic]) -> BGRImage:
    scaled = np.clip(np.nan_to_num(block.astype(np.float32)), 0.0, 1.0) * 255.0
    return scaled.round().astype(np.uint8)


def _scale_int32(block: npt.NDArray[np.generic]) -> BGRImage:
    clipped = np.clip(block.astype(np.int64), 0, 65535)
    return ((clipped * 255 + 32767) // 65535).astype(np.uint8)


def _by_rows(
    pixels: npt.NDArray[np.generic], convert: Callable[[npt.NDArray[np.generic]], BGRImage]
) -> BGRImage:
    """``convert`` applied a band of rows at a time: its temporaries stay small."""
    out = np.empty(pixels.shape, np.uint8)
    rows = max(1, _CHUNK_PIXELS // max(1, int(np.prod(pixels.shape[1:]))))
    for top in range(0, pixels.shape[0], rows):
        out[top : top + rows] = convert(pixels[top : top + rows])
    return out


def _composite_on_white(colour: BGRImage, alpha: BGRImage) -> BGRImage:
    out = np.empty(colour.shape, np.uint8)
    rows = max(1, _CHUNK_PIXELS // max(1, colour.shape[1]))
    for top in range(0, colour.shape[0], rows):
        a = alpha[top : top + rows].astype(np.float32)[:, :, np.newaxis] / 255.0
        part = colour[top : top + rows].astype(np.float32)
        out[top : top + rows] = (part * a + 255.0 * (1.0 - a)).round().astype(np.uint8)
    return out


def _apply_orientation(image: BGRImage, orientation: int) -> BGRImage:
    """Turn pixels as stored into pixels as seen, following EXIF orientation 1..8."""
    if orientation == 2:
        return image[:, ::-1]
    if orientation == 3:
        return image[::-1, ::-1]
    if orientation == 4:
        return image[::-1, :]
    if orientation == 5:
        return image.transpose(1, 0, 2)
    if orientation == 6:
        return np.rot90(image, k=-1)
    if orientation == 7:
        return image[::-1, ::-1].transpose(1, 0, 2)
    if orientation == 8:
        return np.rot90(image, k=1)
    return image


# --------------------------------------------------------------------------- sources


class FrameSource(ABC):
    """Frames from one source. Iterate it once; close it (or use ``with``) when done.

    ``is_live``: a camera or a network stream (a person may be in front of it now), as
    opposed to files. ``description``: for people ("camera 0", "video clip.mp4").
    ``skipped``: (path, reason) of the files a folder source could not use.
    """

    is_live: bool = False

    def __init__(self, description: str, *, limit: int | None = None) -> None:
        self.description = description
        self.limit = limit
        self.skipped: list[tuple[Path, str]] = []
        self._closed = False

    def __iter__(self) -> Iterator[Frame]:
        frames = self._frames()
        if self.limit is not None:
            frames = itertools.islice(frames, self.limit)
        for frame in frames:
            if self._closed:
                return
            yield frame

    @abstractmethod
    def _frames(self) -> Iterator[Frame]:
        """Yield every frame of the source, in order."""

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


class ImageSource(FrameSource):
    """One image, decoded when the source is opened so that a bad file fails at once."""

    def __init__(self, image: BGRImage, origin: str, *, limit: int | None = None) -> None:
        super().__init__(f"image {origin}", limit=limit)
        self._image = image
        self._origin = origin

    def _frames(self) -> Iterator[Frame]:
        yield Frame(image=self._image, origin=self._origin, index=0, timestamp=0.0)


class ImagesSource(FrameSource):
    """Several decoded images held in memory (e.g. uploaded to the HTTP API), in order.

    ``images``: (uint8 BGR [H, W, 3] image, origin) pairs; origins name them in results
    and messages ("upload[0]", a file name).
    """

    def __init__(
        self, images: list[tuple[BGRImage, str]], description: str, *, limit: int | None = None
    ) -> None:
        if not images:
            raise SourceError(f"{description}: no images")
        super().__init__(description, limit=limit)
        self._images = list(images)

    def _frames(self) -> Iterator[Frame]:
        for index, (image, origin) in enumerate(self._images):
            yield Frame(image=image, origin=origin, index=index, timestamp=0.0)


class FolderSource(FrameSource):
    """The images of a folder, sorted by path. Files that are not images, or that
    cannot be decoded, are skipped with a warning and listed in ``skipped``; a folder
    none of whose images can be decoded is SourceError (exit 10), so that it is not
    taken for a scene with no face (and logged as one)."""

    def __init__(self, folder: Path, *, recursive: bool = False, limit: int | None = None) -> None:
        super().__init__(f"folder {folder}", limit=limit)
        self.folder = folder
        self.files = _list_images(folder, recursive, self.skipped)
        if not self.files:
            where = "or below it " if recursive else ""
            raise SourceError(f"no images in folder {folder} {where}(looked for {_ext_hint()})")

    def _frames(self) -> Iterator[Frame]:
        started = time.monotonic()
        index = 0
        for path in self.files:
            try:
                image = read_image(path)
            except ImageError as exc:
                reason = exc.message.split(": ", 1)[-1]
                log.warning("skipping %s: %s", path, reason)
                self.skipped.append((path, reason))
                continue
            yield Frame(image, str(path), index, time.monotonic() - started)
            index += 1
        if index == 0 and not self._closed:
            reasons = "; ".join(f"{p.name}: {why}" for p, why in self.skipped[:3])
            raise SourceError(f"no readable image in folder {self.folder} ({reasons})")


def _list_images(folder: Path, recursive: bool, skipped: list[tuple[Path, str]]) -> list[Path]:
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    images: list[Path] = []
    for path in sorted(candidates):
        if _is_hidden(path.relative_to(folder)) or not path.is_file():
            continue
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            images.append(path)
        else:
            reason = f"not an image file (extension {path.suffix or 'none'!r})"
            log.warning("skipping %s: %s", path, reason)
            skipped.append((path, reason))
    return images


def _is_hidden(relative: Path) -> bool:
    return any(part.startswith(".") for part in relative.parts)


def _ext_hint() -> str:
    return ", ".join(sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS if len(e) <= 5)[:8]) + ", ..."


class CaptureSource(FrameSource):
    """Frames from cv2.VideoCapture: a video file, a camera or a network stream.

    Timestamps: a file's frames carry their position in the video (index / fps when the
    frame rate is known); a live source's frames carry seconds since it was opened.
    """

    def __init__(
        self,
        capture: cv2.VideoCapture,
        description: str,
        origin: str,
        *,
        is_live: bool,
        limit: int | None = None,
    ) -> None:
        super().__init__(description, limit=limit)
        self.is_live = is_live
        self._capture = capture
        self._origin = origin
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.fps = fps if 0.0 < fps < 1000.0 else 0.0
        self._opened_at = time.monotonic()

    def _frames(self) -> Iterator[Frame]:
        index = 0
        while not self._closed:
            ok, image = self._capture.read()
            if not ok or image is None:
                if self.is_live:
                    log.warning("%s stopped delivering frames after %d", self.description, index)
                return
            frame = np.asarray(image)
            if frame.shape[0] * frame.shape[1] > DEFAULT_MAX_PIXELS:
                raise SourceError(
                    f"{self.description}: frames of {frame.shape[1]}x{frame.shape[0]} pixels "
                    f"are above the limit of {DEFAULT_MAX_PIXELS / 1e6:g} megapixels"
                )
            bgr = _to_bgr8(frame, self._origin)
            origin = f"{self._origin}#{index}"
            yield Frame(np.ascontiguousarray(bgr), origin, index, self._timestamp(index))
            index += 1

    def _timestamp(self, index: int) -> float:
        if self.is_live:
            return time.monotonic() - self._opened_at
        if self.fps > 0.0:
            return index / self.fps
        return float(self._capture.get(cv2.CAP_PROP_POS_MSEC) or 0.0) / 1000.0

    def close(self) -> None:
        super().close()
        self._capture.release()


def open_source(
    spec: str,
    *,
    recursive: bool = False,
    limit: int | None = None,
    stdin: BinaryIO | None = None,
) -> FrameSource:
    """Open what a user named on the command line.

    - "-": one image's bytes on standard input (``stdin`` overrides sys.stdin.buffer);
    - "0", "1", ...: a camera index (a file named "0" must be given as "./0");
    - "rtsp://...", "http(s)://...", ...: a network stream;
    - a folder: its images sorted by path (``recursive``: also those below it);
    - a file: a video by its extension, otherwise an image.

    ``limit``: stop after this many frames. Raises SourceError (exit code 10) when the
    source cannot be opened, ImageError (exit code 3) when a single image is unreadable.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    if spec == "-":
        stream = stdin or sys.stdin.buffer
        if stdin is None and sys.stdin.isatty():
            raise SourceError("cannot read an image from stdin: it is a terminal (pipe a file)")
        data = budget.read_capped(stream, "stdin")
        return ImageSource(read_image(data, name="stdin"), "stdin", limit=limit)
    if _CAMERA_RE.match(spec):
        return _open_camera(int(spec), limit)
    scheme = _URL_RE.match(spec)
    if scheme:
        return _open_stream(spec, scheme.group(1).lower(), limit)
    return _open_path(Path(spec), recursive, limit)


def _open_path(path: Path, recursive: bool, limit: int | None) -> FrameSource:
    if path.is_dir():
        return FolderSource(path, recursive=recursive, limit=limit)
    if not path.exists():
        raise SourceError(f"cannot open {path}: no such file or folder")
    if path.suffix.lower() in VIDEO_EXTENSIONS:
        budget.check_openable(path, "video")
        return _open_video(path, limit)
    return ImageSource(read_image(path), str(path), limit=limit)


def _open_video(path: Path, limit: int | None) -> FrameSource:
    capture = cv2.VideoCapture(str(path), cv2.CAP_ANY)
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"cannot open video {path}: not a video OpenCV can decode")
    return CaptureSource(capture, f"video {path}", str(path), is_live=False, limit=limit)


def _open_camera(index: int, limit: int | None) -> FrameSource:
    if sys.platform.startswith("linux") and not Path(f"/dev/video{index}").exists():
        # Asking OpenCV would try every backend and print a warning for each.
        raise SourceError(f"cannot open camera {index}: no such camera (/dev/video{index})")
    capture = cv2.VideoCapture(index, cv2.CAP_ANY)
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"cannot open camera {index}: no such camera, or it is in use")
    log.info("opened camera %d (backend %s)", index, capture.getBackendName())
    return CaptureSource(capture, f"camera {index}", f"camera {index}", is_live=True, limit=limit)


def _open_stream(url: str, scheme: str, limit: int | None) -> FrameSource:
    shown = redact_url(url)
    if scheme not in STREAM_SCHEMES:
        raise SourceError(f"cannot open {shown}: unsupported URL scheme {scheme!r}")
    timeout_ms = int(STREAM_TIMEOUT_S * 1000)
    params = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        timeout_ms,
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        timeout_ms,
    ]
    capture = cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"cannot open stream {shown}: no answer, or not a video stream")
    return CaptureSource(capture, f"stream {shown}", shown, is_live=True, limit=limit)


def redact_url(url: str) -> str:
    """The URL without a user name, password or secret query value, fit for logs and
    messages."""
    return mask_url(url, hide_user=True)
