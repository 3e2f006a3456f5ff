"""The input budget (media/budget.py): crafted images of every decoder path are refused
before decoding when above the budget, decoded within a bounded peak RSS when under it,
and no entry point reads a device without a cap or blocks on a FIFO."""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from crafted_images import jpeg_declaring, png
from PIL import Image

from facedb.cli.main import main
from facedb.errors import ImageError, SourceError
from facedb.media.budget import (
    DEFAULT_MAX_DECODED_BYTES,
    DEFAULT_MAX_REQUEST_BYTES,
    MB,
    DecodeLedger,
    Layout,
    decode_cost,
)
from facedb.media.frames import open_source
from facedb.media.images import read_image

# Peak RSS of a fresh process that imports facedb's vision modules and decodes the
# largest crafted images the budget allows (PNG 8/16-bit grey and RGBA, JPEG, 16-bit
# TIFF, WebP with alpha, GIF), then a 10-image request. Measured on the 2-core dev
# machine: 388 MB (imports 57 MB).
PEAK_RSS_BOUND_MB = 512


def zero_png(width: int, height: int, depth: int, colour: int, row: bytes | None = None) -> bytes:
    """A PNG of ``height`` identical rows (zeros by default): a few hundred kB that
    decode to width x height x channels x depth/8 bytes."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    stride = width * channels * depth // 8
    line = b"\x00" + (row if row is not None else bytes(stride))
    packer = zlib.compressobj(1)  # fast; the files stay small (zero rows)
    body = b"".join(packer.compress(line) for _ in range(height)) + packer.flush()
    return png(width, height, body, depth, colour)


def _pillow(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


# --------------------------------------------------------------------------- the images


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (zero_png(6000, 6000, 16, 6), "6000x6000 16-bit RGBA PNG (280 kB in the report)"),
        (zero_png(9000, 9000, 8, 0), "9000x9000 grey PNG (79 kB)"),
        (zero_png(9000, 9000, 16, 0), "9000x9000 16-bit grey PNG"),
        (zero_png(8000, 8000, 8, 4), "8000x8000 grey + alpha PNG"),
    ],
    ids=["png16-rgba-6000", "png8-grey-9000", "png16-grey-9000", "la"],
)
def test_amplifying_images_are_refused_before_decoding(data: bytes, what: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ImageError, match=r"would need \d+ MB to decode, above the limit"):
            read_image(data, name="crafted")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 * MB, what  # no pixel buffer was made


def test_truncated_jpeg_declaring_a_large_size_is_refused_without_decoding(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # Issue 17, item 11: decoded by libjpeg with only a warning on stderr before.
    with pytest.raises(ImageError, match=r"corrupt or truncated data \(\d+ bytes cannot hold"):
        read_image(jpeg_declaring(6000, 6000), name="cut.jpg")
    assert "JPEG" not in capfd.readouterr().err
    with pytest.raises(ImageError, match="corrupt or truncated"):  # PNG: deflate <= 1032:1
        read_image(zero_png(4000, 4000, 8, 2)[:2000], name="cut.png")


def test_other_formats_are_refused_from_their_header() -> None:
    big_tiff = _pillow(Image.new("I;16", (64, 64)), "TIFF")
    webp = _pillow(Image.new("RGBA", (16, 16)), "WEBP", lossless=True)
    gif = _pillow(Image.new("P", (16, 16)), "GIF")
    tiff16 = _tiff_declaring(big_tiff, 9500, 9500)  # 16-bit grey: 2 + 3 bytes per pixel
    with pytest.raises(ImageError, match="9500x9500 \\(16-bit, 1 channel\\(s\\)\\) would need"):
        read_image(tiff16, name="tiff")
    webp_big = _webp_lossless_declaring(webp, 9000, 9000)
    with pytest.raises(ImageError, match="would need 618 MB to decode"):
        read_image(webp_big, name="webp")
    gif_big = bytearray(gif)
    gif_big[6:10] = struct.pack("<HH", 9000, 9000)
    with pytest.raises(ImageError, match="would need 618 MB to decode"):
        read_image(bytes(gif_big), name="gif")


def _tiff_declaring(data: bytes, width: int, height: int) -> bytes:
    out = bytearray(data)
    (offset,) = struct.unpack_from("<I", out, 4)
    (count,) = struct.unpack_from("<H", out, offset)
    for index in range(count):
        at = offset + 2 + 12 * index
        tag, kind = struct.unpack_from("<HH", out, at)
        if tag in (256, 257):
            value = width if tag == 256 else height
            if kind == 3:
                struct.pack_into("<HHIHH", out, at, tag, 3, 1, value, 0)
            else:
                struct.pack_into("<HHII", out, at, tag, 4, 1, value)
    return bytes(out)


def _webp_lossless_declaring(data: bytes, width: int, height: int) -> bytes:
    out = bytearray(data)
    at = out.find(b"VP8L") + 8  # signature byte 0x2f, then 14-bit width-1, height-1
    bits = (width - 1) | ((height - 1) << 14) | (out[at + 4] >> 4 << 28)
    struct.pack_into("<I", out, at + 1, bits)
    return bytes(out)


def test_decode_cost_counts_depth_alpha_and_orientation() -> None:
    # 8-bit BGR (JPEG): OpenCV holds its result twice; orientation copies it once.
    assert decode_cost(Layout(1000, 1000, 3, 1, False)) == 6_000_000
    assert decode_cost(Layout(1000, 1000, 3, 1, True)) == 6_000_000
    # 16-bit RGBA: 8 decoded + 4 narrowed + 3 converted bytes per pixel, or 2 x 8.
    assert decode_cost(Layout(1000, 1000, 4, 2, False)) == 16_000_000
    # 8-bit grey: 1 decoded + 3 converted.
    assert decode_cost(Layout(1000, 1000, 1, 1, False)) == 4_000_000
    # 16-bit grey: 2 + 1 + 3.
    assert decode_cost(Layout(1000, 1000, 1, 2, False)) == 6_000_000


def test_a_request_shares_one_budget() -> None:
    ledger = DecodeLedger()
    layout = Layout(6000, 5000, 3, 1, False)  # 90 MB kept each, 180 MB to decode
    charged = 0
    with pytest.raises(ImageError, match="images of this request"):
        for _ in range(10):
            ledger.charge(layout, "#n")
            charged += 1
    kept = 6000 * 5000 * 3
    assert charged == (DEFAULT_MAX_REQUEST_BYTES - 2 * kept) // kept + 1 == 2


# --------------------------------------------------------------------------- peak RSS

_CHILD = r"""
import json, sys, time
from pathlib import Path
def hwm():  # peak RSS of this process image, MB (ru_maxrss would include the fork's parent)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from facedb.media.budget import DecodeLedger
from facedb.media.images import read_image
from facedb.errors import ImageError
before = hwm()
results = {}
for path in sorted(Path(sys.argv[1]).glob("single-*")):
    started = time.perf_counter()
    image = read_image(path)
    results[path.name] = [image.shape[1], image.shape[0], round(time.perf_counter() - started, 2)]
    del image
ledger, kept, refused = DecodeLedger(), [], 0
for path in sorted(Path(sys.argv[1]).glob("request-*")):
    try:
        kept.append(read_image(path, ledger=ledger))
    except ImageError:
        refused += 1
peak = hwm()
print(json.dumps({"imports_mb": before, "peak_mb": peak, "decoded": results,
                  "request_kept": len(kept), "request_refused": refused}))
"""


def _largest(bytes_per_pixel: int) -> int:
    """The side of the largest square image of that cost within the budget (95 %)."""
    return int((0.95 * DEFAULT_MAX_DECODED_BYTES / bytes_per_pixel) ** 0.5)


def test_peak_rss_decoding_the_largest_images_allowed(tmp_path: Path) -> None:
    side16 = _largest(16)  # 16-bit RGBA: 2 x 8 bytes decoded per pixel
    unit = np.linspace(0, 65535, 32).astype(">u2").tobytes()  # 8 pixels, repeated
    gradient16 = (unit * (side16 // 8 + 1))[: side16 * 8]
    (tmp_path / "single-png16-rgba.png").write_bytes(zero_png(side16, side16, 16, 6, gradient16))
    side_grey16 = _largest(6)  # 16-bit grey: 2 + 1 + 3
    (tmp_path / "single-png16-grey.png").write_bytes(zero_png(side_grey16, side_grey16, 16, 0))
    side_grey = _largest(4)
    (tmp_path / "single-png8-grey.png").write_bytes(zero_png(side_grey, side_grey, 8, 0))
    side_rgb = _largest(6)
    cv2.imwrite(str(tmp_path / "single-jpeg.jpg"), np.full((side_rgb, side_rgb, 3), 90, np.uint8))
    side_tiff = _largest(12)  # 16-bit BGR TIFF: 2 x 6
    cv2.imwrite(
        str(tmp_path / "single-tiff16.tif"), np.full((side_tiff, side_tiff, 3), 999, np.uint16)
    )
    side_alpha = _largest(8)  # 8-bit with alpha, and palettes: 2 x 4 bytes per pixel
    webp = Image.new("RGBA", (side_alpha, side_alpha), (10, 20, 30, 128))
    webp.save(tmp_path / "single-webp.webp", lossless=True, quality=0)
    Image.new("P", (side_alpha, side_alpha)).save(tmp_path / "single-gif.gif")
    for index in range(10):  # a request of 10 images of 24 MP each: 3 fit the budget
        cv2.imwrite(
            str(tmp_path / f"request-{index}.jpg"), np.full((4000, 6000, 3), index, np.uint8)
        )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    print(report)  # the measurement, kept in the test log
    assert len(report["decoded"]) == 7
    each = 4000 * 6000 * 3
    kept = (DEFAULT_MAX_REQUEST_BYTES - 2 * each) // each + 1
    assert report["request_kept"] == kept == 3 and report["request_refused"] == 10 - kept
    assert report["peak_mb"] < PEAK_RSS_BOUND_MB
    # Bounded by the budget above what the imports cost.
    # Above the imports: the budget of one request, plus the encoded file (64 MB at most).
    assert report["peak_mb"] - report["imports_mb"] < (DEFAULT_MAX_REQUEST_BYTES + 64 * MB) / MB


# --------------------------------------------------------------------------- reading


def test_devices_are_read_with_a_cap() -> None:
    started = time.perf_counter()
    with pytest.raises(ImageError, match="more than 64 MB"):
        read_image(Path("/dev/zero"))
    with pytest.raises(ImageError, match="more than 64 MB"):
        open_source("/dev/zero")
    with open("/dev/zero", "rb") as zero, pytest.raises(ImageError, match="more than 64 MB"):
        open_source("-", stdin=zero)
    assert time.perf_counter() - started < 10.0


def test_a_fifo_never_blocks(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    video = tmp_path / "pipe.mp4"
    os.mkfifo(video)
    started = time.perf_counter()
    with pytest.raises(ImageError, match=r"named pipe \(FIFO\), not a file"):
        read_image(fifo)
    with pytest.raises(ImageError, match="named pipe"):
        open_source(str(fifo))
    with pytest.raises(SourceError, match="named pipe"):
        open_source(str(video))
    assert time.perf_counter() - started < 2.0


def test_large_files_are_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.jpg"
    with big.open("wb") as handle:
        handle.truncate(65 * MB)  # sparse: costs no disk
    with pytest.raises(ImageError, match=r"65\.0 MB is above the limit of 64 MB"):
        read_image(big)
    with pytest.raises(ImageError, match="above the limit of 64 MB"):
        read_image(b"\xff" * (64 * MB + 1), name="upload")


def test_cli_detect_on_dev_zero_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["detect", "/dev/zero"], env={"FACEDB_HOME": str(tmp_path)})
    assert result.exit_code == 3, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert "more than 64 MB" in result.stderr
