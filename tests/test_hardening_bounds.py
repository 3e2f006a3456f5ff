"""Issue 29, bounded everywhere: an image refused by its header costs no decoding
(item 6), video frames are probed before they are decoded (7), a device that never
answers is given up (14)."""

from __future__ import annotations

import functools
import json
import os
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from crafted_images import png, png_chunk
from sqlalchemy import event, text

from facedb.cli.main import main
from facedb.config import Settings
from facedb.errors import ImageError, SourceError
from facedb.media import budget
from facedb.media.budget import ImageBudget
from facedb.media.frames import open_source
from facedb.media.images import read_image
from facedb.review.clustering import MAX_FACES
from facedb.review.service import Review
from facedb.service import FaceService

_CHILD = r"""
import json, sys, time
def hwm():  # peak RSS of this process, MB
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
from facedb.cli.main import main
from facedb.config import Settings
from facedb.errors import FacedbError
from facedb.media.frames import open_source
from facedb.media.images import read_image
from facedb.review.clustering import MAX_FACES
from facedb.review.service import Review
from facedb.service import FaceService
read_image(open(sys.argv[3], "rb").read(), name="warm-up")
before = hwm()
started = time.perf_counter()
try:
    if sys.argv[1] == "image":
        read_image(open(sys.argv[2], "rb").read(), name="crafted")
    else:
        with open_source(sys.argv[2]) as source:
            for frame in source:
                pass
    outcome = "read"
except FacedbError as exc:
    outcome = exc.message
print(json.dumps({"grew_mb": hwm() - before, "seconds": time.perf_counter() - started,
                  "outcome": outcome}))
"""


def _measure(tmp_path: Path, kind: str, path: Path) -> dict[str, object]:
    """Peak memory a fresh process gains reading ``path`` (after decoding a small
    image once, so that the decoders' own start-up is not counted)."""
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.full((64, 64, 3), 80, np.uint8))
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, kind, str(path), str(small)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    print(report)  # the measurement, kept in the test log
    return report


def _zero_rgb_png(width: int, height: int, extra: bytes = b"") -> bytes:
    """A few hundred kB of zero rows that decode to width x height x 3 bytes."""
    packer = zlib.compressobj(1)
    line = bytes(1 + width * 3)
    body = b"".join(packer.compress(line) for _ in range(height)) + packer.flush()
    data = png(width, height, body)
    return data[:-12] + extra + data[-12:] if extra else data


# --------------------------------------------------------------------------- item 6


def test_a_png_refused_by_its_header_is_not_decoded_to_read_its_exif(tmp_path: Path) -> None:
    # Issue 29 item 6: Pillow's PNG getexif() decoded the whole image (~360 MB, 2.8 s)
    # before the budget refused it.
    crafted = tmp_path / "big.png"
    crafted.write_bytes(_zero_rgb_png(10000, 9999))
    assert crafted.stat().st_size < 2 * 1024 * 1024
    report = _measure(tmp_path, "image", crafted)
    assert "would need" in str(report["outcome"]) or "megapixels" in str(report["outcome"])
    assert float(str(report["grew_mb"])) < 40  # the refused image's pixels: 286 MB


def test_an_exif_orientation_before_the_png_pixels_is_still_applied() -> None:
    image = np.zeros((20, 40, 3), np.uint8)
    image[:, :20] = 255  # left half white
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    data = encoded.tobytes()
    # EXIF with orientation 6 (turn 90 degrees clockwise to view), before IDAT.
    exif = b"MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00"
    exif += b"\x00\x00\x00\x00"
    at = data.find(b"IDAT") - 4
    turned = read_image(data[:at] + png_chunk(b"eXIf", exif) + data[at:], name="exif.png")
    assert turned.shape == (40, 20, 3)  # upright: taller than wide
    assert turned[:20].mean() > 200 and turned[20:].mean() < 50  # the white half on top


# --------------------------------------------------------------------------- item 14


def test_a_device_that_never_answers_is_given_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 29 item 14: `facedb verify --source /dev/ptmx` waited forever.
    monkeypatch.setattr(budget, "DEVICE_READ_TIMEOUT_S", 1.0)
    started = time.perf_counter()
    with pytest.raises(ImageError, match=r"/dev/ptmx: no data within 1 s"):
        open_source("/dev/ptmx")
    with pytest.raises(ImageError, match="no data within"):
        read_image(Path("/dev/ptmx"))
    assert time.perf_counter() - started < 10.0
    with pytest.raises(ImageError, match="more than 64 MB"):  # /dev/zero still capped
        read_image(Path("/dev/zero"))


def test_the_cli_gives_up_a_silent_device_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(budget, "DEVICE_READ_TIMEOUT_S", 1.0)
    result = CliRunner().invoke(main, ["detect", "/dev/ptmx"], env={"FACEDB_HOME": str(tmp_path)})
    assert result.exit_code == 3, result.output
    assert result.stderr.strip().splitlines() == [
        "error: cannot read image /dev/ptmx: no data within 1 s (a device that does not answer)"
    ]


# --------------------------------------------------------------------------- item 7


def _mjpeg_video(path: Path, width: int, height: int, frames: int = 3) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 5.0, (width, height))
    assert writer.isOpened()
    for index in range(frames):
        writer.write(np.full((height, width, 3), 40 * index, np.uint8))
    writer.release()
    return path


def test_video_frames_above_the_budget_are_refused_before_decoding(tmp_path: Path) -> None:
    # Issue 29 item 7: frames were decoded by OpenCV/FFmpeg, then refused (1.9 GB for a
    # 16000x16000 frame). The video's declared size is checked when it is opened.
    video = _mjpeg_video(tmp_path / "wide.avi", 6400, 5000)  # 32 MP: 275 MB a frame
    small = ImageBudget(max_pixels=20_000_000)
    with pytest.raises(SourceError, match=r"6400x5000 pixels is above the limit of 20 megapixels"):
        open_source(str(video), image_budget=small)
    report = _measure(tmp_path, "video", video)  # refused before its first frame
    assert "would need" in str(report["outcome"])  # 6400x5000 at 9 bytes a pixel
    assert float(str(report["grew_mb"])) < 60


def test_video_frames_cost_the_decode_budget(tmp_path: Path) -> None:
    video = _mjpeg_video(tmp_path / "clip.avi", 2000, 1500)
    tight = ImageBudget(max_decoded_bytes=10 * budget.MB)  # 2000x1500 BGR: 2 x 8.6 MB
    with pytest.raises(SourceError, match=r"would need \d+ MB to decode"):
        open_source(str(video), image_budget=tight)
    with open_source(str(video)) as source:  # the default budget: every frame read
        assert sum(1 for _ in source) == 3


def test_a_frame_larger_than_declared_at_opening_is_refused(tmp_path: Path) -> None:
    # A frame larger than its source declared when opened (a stream that changes size):
    # the first one is refused, not the whole stream decoded.
    video = _mjpeg_video(tmp_path / "clip.avi", 64, 48)
    with open_source(str(video)) as source:
        assert isinstance(source, budget_capture_type())
        source.declared = (32, 24)  # what a lying header would say
        with pytest.raises(SourceError, match=r"64x48 .* declared 32x24"):
            next(iter(source))


def budget_capture_type() -> type:
    from facedb.media.frames import CaptureSource

    return CaptureSource


def _declare(video: Path, width: int, height: int) -> None:
    """Rewrites the AVI container's frame size (avih, strh, strf), not the frames'."""
    data = bytearray(video.read_bytes())
    main_header = data.find(b"avih") + 8
    struct.pack_into("<II", data, main_header + 32, width, height)
    stream_header = data.find(b"strh") + 8
    struct.pack_into("<hhhh", data, stream_header + 48, 0, 0, width, height)
    stream_format = data.find(b"strf") + 8
    struct.pack_into("<ii", data, stream_format + 4, width, height)
    video.write_bytes(bytes(data))


def test_a_container_declaring_small_frames_does_not_hide_large_ones(tmp_path: Path) -> None:
    video = _mjpeg_video(tmp_path / "lie.avi", 6400, 5000)
    _declare(video, 640, 500)
    report = _measure(tmp_path, "video", video)
    assert "6400x5000 would need" in str(report["outcome"])
    assert float(str(report["grew_mb"])) < 60


def test_a_network_stream_is_probed_before_decoding(tmp_path: Path) -> None:
    _mjpeg_video(tmp_path / "wide.avi", 6400, 5000)
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/wide.avi"
        with pytest.raises(SourceError, match=r"stream .*: frames of 6400x5000 would need"):
            open_source(url)
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- item 9


def test_open_unknowns_are_paged_in_the_database(settings: Settings) -> None:
    # Issue 29 item 9: every open unknown was read with its thumbnail (30,006 of them:
    # 13.2 s and +1.3 GB) before the newest 2,000 were kept.
    service = FaceService(settings)
    model = service.pipeline.embedder_name
    rng = np.random.default_rng(29)
    strangers = np.eye(3, 512, dtype=np.float32)  # three people, far apart
    total, thumbnail = 2300, bytes(40_000)
    start = datetime(2026, 11, 2, 8, tzinfo=UTC)
    events = [uuid.uuid4() for _ in range(total)]
    moments = [start + timedelta(minutes=index) for index in range(total)]
    vectors = [
        str((strangers[i % 3] + 0.01 * rng.standard_normal(512).astype(np.float32)).tolist())
        for i in range(total)
    ]
    with service.transaction() as session:
        session.execute(
            text(
                "INSERT INTO attendance (event_id, occurred_at, kind, decision, device, model)"
                " VALUES (:e, :t, 'identify', 'unknown', 'door', :m)"
            ),
            [{"e": e, "t": t, "m": model} for e, t in zip(events, moments, strict=True)],
        )
        session.execute(
            text(
                "INSERT INTO evidence (event_id, occurred_at, model, embedding, thumbnail,"
                " quality_ok) VALUES (:e, :t, :m, :v, :b, true)"
            ),
            [
                {"e": e, "t": t, "m": model, "v": v, "b": thumbnail}
                for e, t, v in zip(events, moments, vectors, strict=True)
            ],
        )
    statements: list[tuple[str, int]] = []
    engine = service.database.engine

    def seen(_conn: object, cursor: Any, statement: str, *_: object) -> None:
        statements.append((statement, cursor.rowcount))

    event.listen(engine, "after_cursor_execute", seen)
    try:
        groups = Review(service).unknowns()
    finally:
        event.remove(engine, "after_cursor_execute", seen)
    [(query, rows)] = [(s, n) for s, n in statements if "FROM evidence" in s]
    assert "LIMIT" in query and "thumbnail" not in query
    assert rows == MAX_FACES  # of 2,300 open unknowns, with 92 MB of thumbnails
    assert sorted(g.count for g in groups) == [666, 667, 667]  # the newest 2,000
    kept = {e for g in groups for e in g.event_ids}
    assert kept == set(events[-MAX_FACES:])


# --------------------------------------------------------------------------- item 25


def _manifest(path: Path, rows: int) -> Path:
    lines = ["name,photo"] + [f"Person {i},photos/p{i}.jpg" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_manifest_has_a_row_cap(tmp_path: Path) -> None:
    # Issue 29 item 25: 200,000 rows with --dry-run took 59 s, 601 MB, 14.6 MB printed.
    runner = CliRunner()
    env = {"FACEDB_HOME": str(tmp_path / "home")}
    huge = _manifest(tmp_path / "huge.csv", 200_000)
    started = time.perf_counter()
    result = runner.invoke(main, ["import", str(huge), "--dry-run"], env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines() == [
        f"error: manifest {huge} lists more than 10,000 people (the limit, "
        "FACEDB_IMPORT_MAX_ROWS): split it into several files"
    ]
    assert result.stdout == ""
    assert time.perf_counter() - started < 15.0
    # The limit is a setting; at the limit the manifest is checked as before.
    env["FACEDB_IMPORT_MAX_ROWS"] = "50"
    assert (
        runner.invoke(
            main, ["import", str(_manifest(tmp_path / "a.csv", 51)), "--dry-run"], env=env
        ).exit_code
        == 2
    )
    at_limit = runner.invoke(
        main, ["import", str(_manifest(tmp_path / "b.csv", 50)), "--dry-run", "--json"], env=env
    )
    assert at_limit.exit_code == 2  # the photos do not exist: 50 problems, all listed
    assert json.loads(at_limit.stdout)["rows"] == 50
