"""Decoding one encoded image into a uint8 HxWx3 BGR array (C-contiguous), safely.

Decisions (stated here so that callers and users can rely on them):

- Pillow reads the header first (format, declared size, bit depth, EXIF orientation)
  without decoding pixels, so that an image above the input budget (media/budget.py:
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
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image, UnidentifiedImageError

from facedb.errors import ImageError
from facedb.media import budget
from facedb.media.budget import DEFAULT_BUDGET, DEFAULT_MAX_PIXELS, DecodeLedger, ImageBudget

log = logging.getLogger(__name__)

BGRImage = npt.NDArray[np.uint8]

__all__ = ["DEFAULT_MAX_PIXELS", "IMAGE_EXTENSIONS", "ImageBudget", "read_image"]

# Rows converted at a time (16-bit, float, alpha): bounds the temporaries of a conversion.
_CHUNK_PIXELS = 1 << 20

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".jfif", ".png", ".bmp", ".dib", ".webp", ".tif", ".tiff",
     ".gif", ".pgm", ".ppm", ".pbm", ".pnm", ".jp2", ".avif", ".ico"}
)  # fmt: skip
_EXIF_ORIENTATION_TAG = 0x0112
_JPEG_SOS = b"\xff\xda"
_JPEG_EOI = b"\xff\xd9"


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
    image = to_bgr8(pixels, label)
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
    """The EXIF orientation from the header only. Pillow's PNG ``getexif`` decodes the
    whole image to look for an eXIf chunk after the pixels (a refused 10000x9999 PNG
    cost 360 MB): only an eXIf chunk before the image data is read, where the PNG
    specification (third edition) places it."""
    try:
        exif = Image.Image.getexif(im) if im.format == "PNG" else im.getexif()
        value = exif.get(_EXIF_ORIENTATION_TAG, 1)
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


def to_bgr8(pixels: npt.NDArray[np.generic], label: str) -> BGRImage:
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
