"""The input budget: how much any image may cost before a byte of pixels is decoded.

Every image facedb reads (a file, standard input, an HTTP upload, base64 in JSON, a
folder's files) goes through the same three checks:

1. **Reading**: only regular files are read as images, and character or block devices
   with a cap (``/dev/zero`` is refused after ``max_file_bytes``, it is not read until
   memory runs out). Named pipes, sockets and other special files are refused without
   being opened for a blocking read, so a FIFO with no writer never hangs a command.
   Standard input and uploads are read with the same cap. A device that gives no data
   for ``DEVICE_READ_TIMEOUT_S`` (``/dev/ptmx``, a terminal) is given up, not waited on.
2. **Declared size**: the header (width, height, bit depth, channels) is read without
   decoding pixels, and the image is refused above ``max_pixels``.
3. **Decoded bytes**: the memory that decoding and the conversion to 8-bit BGR will
   allocate at their peak is computed from the header (``decode_cost``): the decoder's
   own buffer (width x height x channels x bytes per sample, 16-bit and alpha
   included) plus the 8-bit BGR result, plus a copy when EXIF orientation turns the
   image. An image above ``max_decoded_bytes`` is refused before decoding. A
   ``DecodeLedger`` adds up what several images of one request keep in memory, so a
   request of 10 images cannot cost 10 times the budget of one.

Decoding time is linear in the decoded bytes, so the byte budget also bounds the work
(about 1 s for the largest image allowed, on one core).

Video files, cameras and streams: the frame size that FFmpeg parses from the stream
when it is opened is checked (``check_frames``) before a frame is decoded, at
``FRAME_BYTES_PER_PIXEL`` (the decoder's frame and its reference, the BGR conversion
and the returned array); a 30-megapixel video is refused with the default budget.
"""

from __future__ import annotations

import os
import select
import stat
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from facedb.errors import ImageError, SourceError

MB = 1024 * 1024

# Encoded size of one image (file, stdin, upload).
DEFAULT_MAX_FILE_BYTES = 64 * MB
# Declared width x height.
DEFAULT_MAX_PIXELS = 100_000_000
# Peak bytes that decoding one image may allocate (see decode_cost). A 36-megapixel
# 8-bit colour photo turned by EXIF costs 207 MiB; a 9000x9000 grey PNG 309 MiB and
# a 6000x6000 16-bit RGBA PNG 549 MiB: refused.
DEFAULT_MAX_DECODED_BYTES = 256 * MB
# Bytes that the decoded images of one request may hold together (10 images at most).
DEFAULT_MAX_REQUEST_BYTES = 320 * MB

# Seconds a device (not a regular file) may stay silent before it is given up.
DEVICE_READ_TIMEOUT_S = 5.0
# Peak bytes per pixel of one decoded video frame: the decoder's YUV 4:2:0 frame and
# one reference frame (2 x 1.5), its conversion to BGR (3) and the array returned (3).
# Measured: a 6000x5000 MJPEG frame raised the peak RSS by 224 MiB (7.8 bytes/pixel).
FRAME_BYTES_PER_PIXEL = 9

_DEFLATE_MAX_RATIO = 1032
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour type -> channels as OpenCV decodes them (palette: BGR, or BGRA with tRNS).
_PNG_STORED_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_PNG_CHANNELS = {0: 1, 2: 3, 3: 4, 4: 4, 6: 4}
_TIFF_BITS_PER_SAMPLE = 258
_TIFF_SAMPLES_PER_PIXEL = 277
# Pillow modes -> (channels as decoded, bytes per sample), conservatively.
_MODE_LAYOUT: dict[str, tuple[int, int]] = {
    "1": (1, 1),
    "L": (1, 1),
    "P": (4, 1),
    "LA": (4, 1),
    "PA": (4, 1),
    "La": (4, 1),
    "RGB": (3, 1),
    "RGBA": (4, 1),
    "RGBa": (4, 1),
    "RGBX": (4, 1),
    "CMYK": (4, 1),
    "YCbCr": (3, 1),
    "LAB": (3, 1),
    "HSV": (3, 1),
    "I": (1, 4),
    "F": (1, 4),
    "I;16": (1, 2),
    "I;16L": (1, 2),
    "I;16B": (1, 2),
    "I;16N": (1, 2),
}


@dataclass(frozen=True)
class ImageBudget:
    """Limits for one image; every limit is in bytes except ``max_pixels``."""

    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES


DEFAULT_BUDGET = ImageBudget()


@dataclass(frozen=True)
class Layout:
    """What a header declares: enough to know what decoding will allocate."""

    width: int
    height: int
    channels: int  # as the decoder returns them (1, 3 or 4)
    bytes_per_sample: int  # 1, 2 (16-bit), 4 (32-bit int or float), 8 (double)
    oriented: bool  # EXIF orientation other than 1: one more copy to turn it


def decode_cost(layout: Layout) -> int:
    """Peak bytes of decoding plus the conversion to uint8 BGR (images.read_image).

    Measured with OpenCV 5.0: ``imdecode`` holds its result twice at its peak (a
    decoder buffer and the returned array). Converting keeps the decoder's array,
    its 8-bit copy (when it is 16-bit or float) and the BGR result together, unless
    the decoder already gives 8-bit BGR; turning by EXIF orientation copies the result.
    """
    pixels = layout.width * layout.height
    raw = pixels * layout.channels * layout.bytes_per_sample
    out = pixels * 3
    peak = 2 * raw
    if not (layout.channels == 3 and layout.bytes_per_sample == 1):
        narrowed = pixels * layout.channels if layout.bytes_per_sample > 1 else 0
        peak = max(peak, raw + narrowed + out)
    return max(peak, 2 * out if layout.oriented else out)


def kept_bytes(layout: Layout) -> int:
    """Bytes the decoded image keeps once converted: uint8 BGR."""
    return layout.width * layout.height * 3


def check_layout(layout: Layout, label: str, budget: ImageBudget) -> None:
    """Raises ImageError when the declared image is above the budget."""
    if layout.width * layout.height > budget.max_pixels:
        raise ImageError(
            f"cannot read image {label}: {layout.width}x{layout.height} pixels is above the "
            f"limit of {budget.max_pixels / 1e6:g} megapixels"
        )
    cost = decode_cost(layout)
    if cost > budget.max_decoded_bytes:
        depth = f"{layout.bytes_per_sample * 8}-bit, {layout.channels} channel(s)"
        raise ImageError(
            f"cannot read image {label}: {layout.width}x{layout.height} ({depth}) would need "
            f"{cost / MB:.0f} MB to decode, above the limit of "
            f"{budget.max_decoded_bytes / MB:.0f} MB"
        )


def check_frames(width: int, height: int, label: str, budget: ImageBudget) -> None:
    """Raises SourceError unless frames of width x height (as the opened video or
    stream declares them) fit the budget; an unknown size is refused, since then
    the first frame would be decoded before its size is known."""
    if width <= 0 or height <= 0:
        raise SourceError(f"{label}: the frame size cannot be read before decoding")
    if width * height > budget.max_pixels:
        raise SourceError(
            f"{label}: frames of {width}x{height} pixels is above the limit of "
            f"{budget.max_pixels / 1e6:g} megapixels"
        )
    cost = width * height * FRAME_BYTES_PER_PIXEL
    if cost > budget.max_decoded_bytes:
        raise SourceError(
            f"{label}: frames of {width}x{height} would need {cost / MB:.0f} MB to decode, "
            f"above the limit of {budget.max_decoded_bytes / MB:.0f} MB"
        )


def layout_of(data: bytes, mode: str, width: int, height: int, oriented: bool) -> Layout:
    """The layout of an encoded image from Pillow's header (``mode``, size), corrected
    by the format's own header where Pillow hides the stored depth (16-bit PNG colour
    images open as 8-bit "RGB"/"RGBA" in Pillow but decode as 16-bit in OpenCV; TIFF
    may store up to 64 bits per sample)."""
    channels, sample = _MODE_LAYOUT.get(mode, (4, 4))
    if data.startswith(_PNG_SIGNATURE) and len(data) >= 26:
        depth, colour = data[24], data[25]
        channels = max(channels, _PNG_CHANNELS.get(colour, 4))
        sample = max(sample, 2 if depth == 16 else 1)
    elif data[:4] in (b"II*\x00", b"MM\x00*"):
        bits, samples = _tiff_depth(data)
        sample = max(sample, (bits + 7) // 8)
        channels = max(channels, min(samples, 4))
    return Layout(width, height, channels, sample, oriented)


def _tiff_depth(data: bytes) -> tuple[int, int]:
    """(largest bits per sample, samples per pixel) of a TIFF's first directory."""
    endian = "<" if data[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack_from(endian + "I", data, 4)
        (count,) = struct.unpack_from(endian + "H", data, offset)
        bits, samples = 8, 1
        for index in range(min(count, 512)):
            tag, kind, n, value = struct.unpack_from(endian + "HHII", data, offset + 2 + 12 * index)
            if tag == _TIFF_SAMPLES_PER_PIXEL:
                samples = value & 0xFFFF if endian == "<" or kind != 3 else value >> 16
            elif tag == _TIFF_BITS_PER_SAMPLE:
                bits = _tiff_bits(data, endian, kind, n, value)
        return bits, samples
    except struct.error:
        return 8, 1  # an unreadable directory: the decoder will refuse the file


def _tiff_bits(data: bytes, endian: str, kind: int, count: int, value: int) -> int:
    if kind != 3:  # not SHORT: take the value's low bits, then bound it below
        return min(max(value & 0xFF, 1), 64)
    if count <= 2:
        first = value & 0xFFFF if endian == "<" else value >> 16
        return min(max(first, 1), 64)
    values = struct.unpack_from(f"{endian}{min(count, 8)}H", data, value)
    return min(int(max(values)), 64)


def min_encoded_bytes(data: bytes, fmt: str, layout: Layout) -> int:
    """Fewer encoded bytes than this cannot hold the declared pixels: the data is
    truncated (libjpeg would fill the rest with grey and only warn on stderr).

    PNG: deflate compresses at most 1032:1. JPEG: at least one bit per 16x16
    macroblock (an all-zero Huffman-coded block costs more; arithmetic coding of a
    flat image could go lower, so the bound is loose). Other formats: no bound.
    """
    pixels = layout.width * layout.height
    if fmt == "PNG" and data.startswith(_PNG_SIGNATURE) and len(data) >= 26:
        stored_bits = data[24] * _PNG_STORED_SAMPLES.get(data[25], 1)
        return pixels * stored_bits // 8 // _DEFLATE_MAX_RATIO
    if fmt in ("JPEG", "MPO"):
        return pixels // (16 * 16 * 8)
    return 0


class DecodeLedger:
    """The bytes that the decoded images of one request hold together.

    ``charge`` is called before each image is decoded with its layout: the images
    already decoded plus this one's peak must stay within ``max_total_bytes``.
    """

    def __init__(self, max_total_bytes: int = DEFAULT_MAX_REQUEST_BYTES) -> None:
        self.max_total_bytes = max_total_bytes
        self.held = 0

    def charge(self, layout: Layout, label: str) -> None:
        if self.held + decode_cost(layout) > self.max_total_bytes:
            raise ImageError(
                f"cannot read image {label}: the images of this request would need more "
                f"than {self.max_total_bytes / MB:.0f} MB decoded; send fewer or smaller images"
            )
        self.held += kept_bytes(layout)


# --------------------------------------------------------------------------- reading


def read_file(path: Path, label: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The bytes of an image file, refusing what is not a regular file or a device.

    The file is opened non-blocking (a FIFO with no writer does not hang) and checked
    with fstat on the open descriptor (no race with a swapped path). Regular files are
    refused above ``max_bytes`` before reading; devices are read up to ``max_bytes``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ImageError(f"cannot read image {label}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"cannot read image {label}: it is a folder, not a file") from None
    except PermissionError:
        raise ImageError(f"cannot read image {label}: permission denied") from None
    except OSError as exc:
        raise ImageError(f"cannot read image {label}: {exc.strerror or exc}") from None
    info = os.fstat(fd)
    kind = special_kind(info.st_mode)
    if kind is not None:
        os.close(fd)
        if kind == "folder":
            raise ImageError(f"cannot read image {label}: it is a folder, not a file")
        raise ImageError(f"cannot read image {label}: it is {kind}, not a file")
    with os.fdopen(fd, "rb", buffering=0) as handle:
        if stat.S_ISREG(info.st_mode) and info.st_size > max_bytes:
            raise ImageError(
                f"cannot read image {label}: {info.st_size / MB:.1f} MB is above the limit "
                f"of {max_bytes / MB:.0f} MB"
            )
        try:
            if not stat.S_ISREG(info.st_mode):
                return _read_device(fd, label, max_bytes)
            return read_capped(handle, label, max_bytes)
        except OSError as exc:
            raise ImageError(f"cannot read image {label}: {exc.strerror or exc}") from None


def read_capped(stream: BinaryIO, label: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """Everything a stream holds, refused as soon as it passes ``max_bytes``."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = stream.read(min(1 * MB, max_bytes + 1 - total))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise ImageError(
                f"cannot read image {label}: more than {max_bytes / MB:.0f} MB (the limit)"
            )


def _read_device(fd: int, label: str, max_bytes: int) -> bytes:
    """A device read without blocking, until its end or ``max_bytes``; refused when it
    is silent for DEVICE_READ_TIMEOUT_S (it may never answer: /dev/ptmx, a tty)."""
    chunks: list[bytes] = []
    total = 0
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        deadline = time.monotonic() + DEVICE_READ_TIMEOUT_S
        while not poller.poll(max(0, int((deadline - time.monotonic()) * 1000))):
            if time.monotonic() >= deadline:
                raise ImageError(
                    f"cannot read image {label}: no data within {DEVICE_READ_TIMEOUT_S:g} s "
                    "(a device that does not answer)"
                )
        try:
            chunk = os.read(fd, min(1 * MB, max_bytes + 1 - total))
        except BlockingIOError:
            continue
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        total += len(chunk)
        if total > max_bytes:
            raise ImageError(
                f"cannot read image {label}: more than {max_bytes / MB:.0f} MB (the limit)"
            )


def special_kind(mode: int) -> str | None:
    """How to name a file that must not be read as data, or None for a regular file
    or a device (character or block)."""
    if stat.S_ISREG(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return None
    if stat.S_ISDIR(mode):
        return "folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def check_openable(path: Path, what: str) -> None:
    """Raises SourceError unless ``path`` is a regular file or a device (what OpenCV may
    open as a video without blocking forever on a FIFO)."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise SourceError(f"cannot open {what} {path}: {exc.strerror or exc}") from None
    kind = special_kind(info.st_mode)
    if kind is not None:
        raise SourceError(f"cannot open {what} {path}: it is {kind}, not a file")
