"""Reading images and opening frame sources, on the shared real images and on files
made here from them (videos, 16-bit, grey, alpha, EXIF-rotated, truncated)."""

from __future__ import annotations

import io
import re
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from facedb.errors import ImageError, SourceError
from facedb.media.frames import (
    CaptureSource,
    FolderSource,
    ImageSource,
    is_live_spec,
    open_source,
)
from facedb.media.images import read_image
from facedb.secrets import redact_url

BAD_FILES = [
    ("bad/zero_bytes.jpg", "file is empty (0 bytes)"),
    ("bad/text_named.jpg", "not an image file"),
    ("bad/truncated_1000_bytes.jpg", "truncated"),
    ("compreface/imgtools_test_files/corrupted.png", "not an image file"),
    ("compreface/imgtools_test_files/empty.png", "not an image file"),
    ("compreface/imgtools_test_files/truncated.jpg", "truncated JPEG"),
]
EINSTEIN_FORMATS = ["bmp", "gif", "ico", "jpeg", "png", "tiff", "webp"]


@pytest.fixture(scope="module")
def einstein(faces_dir: Path) -> np.ndarray:
    return read_image(faces_dir / "compreface/imgtools_test_files/einstein.png")


def _png_bytes(image: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".png", image)
    assert ok
    return encoded.tobytes()


# --------------------------------------------------------------------------- read_image


@pytest.mark.parametrize(("relative", "reason"), BAD_FILES)
def test_bad_files_raise_image_error_naming_path_and_reason(
    faces_dir: Path, relative: str, reason: str
) -> None:
    path = faces_dir / relative
    with pytest.raises(ImageError) as caught:
        read_image(path)
    message = str(caught.value)
    assert message.startswith(f"cannot read image {path}: ")
    assert reason in message
    assert "\n" not in message
    assert caught.value.exit_code == 3


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"nothere\.jpg: no such file"):
        read_image(tmp_path / "nothere.jpg")
    with pytest.raises(ImageError, match="is a folder"):
        read_image(tmp_path)


def test_bytes_are_named_in_errors(faces_dir: Path) -> None:
    data = (faces_dir / "bad/text_named.jpg").read_bytes()
    with pytest.raises(ImageError, match=r"cannot read image upload\.jpg: not an image"):
        read_image(data, name="upload.jpg")
    with pytest.raises(ImageError, match="<bytes>: file is empty"):
        read_image(b"")


@pytest.mark.parametrize("ext", EINSTEIN_FORMATS)
def test_every_format_gives_the_same_bgr_picture(
    faces_dir: Path, einstein: np.ndarray, ext: str
) -> None:
    image = read_image(faces_dir / f"compreface/imgtools_test_files/einstein.{ext}")
    assert image.shape == (256, 256, 3)
    assert image.dtype == np.uint8
    assert image.flags.c_contiguous
    # Lossy formats and a GIF palette differ a little, not as a different picture.
    diff = np.abs(image.astype(int) - einstein.astype(int)).mean()
    assert diff < 12, ext


def test_bytes_decode_like_the_file(faces_dir: Path) -> None:
    path = faces_dir / "compreface/imgtools_test_files/einstein.jpeg"
    np.testing.assert_array_equal(read_image(path.read_bytes()), read_image(path))


def test_rgba_png_is_composited_to_three_channels(faces_dir: Path) -> None:
    image = read_image(faces_dir / "face_recognition/tests/test_images/32bit.png")
    assert image.shape == (1200, 626, 3)
    assert image.flags.c_contiguous


def test_transparent_pixels_become_white(tmp_path: Path) -> None:
    bgra = np.zeros((8, 8, 4), np.uint8)
    bgra[..., 2] = 200  # red
    bgra[:4, :, 3] = 255  # top half opaque, bottom half transparent
    path = tmp_path / "alpha.png"
    path.write_bytes(_png_bytes(bgra))
    image = read_image(path)
    np.testing.assert_array_equal(image[0, 0], [0, 0, 200])
    np.testing.assert_array_equal(image[7, 7], [255, 255, 255])


def test_sixteen_bit_png_is_scaled_not_clipped(tmp_path: Path, einstein: np.ndarray) -> None:
    path = tmp_path / "deep.png"
    path.write_bytes(_png_bytes(einstein.astype(np.uint16) * 257))
    np.testing.assert_array_equal(read_image(path), einstein)
    grey16 = cv2.cvtColor(einstein, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    path.write_bytes(_png_bytes(grey16))
    image = read_image(path)
    assert image.shape == (256, 256, 3)
    np.testing.assert_array_equal(image[..., 0], grey16 // 257)


def test_grey_image_gets_three_equal_channels(tmp_path: Path, einstein: np.ndarray) -> None:
    grey = cv2.cvtColor(einstein, cv2.COLOR_BGR2GRAY)
    path = tmp_path / "grey.jpg"
    assert cv2.imwrite(str(path), grey)
    image = read_image(path)
    assert image.shape == (256, 256, 3)
    np.testing.assert_array_equal(image[..., 0], image[..., 2])


def _oriented(image: np.ndarray, orientation: int, fmt: str) -> bytes:
    pil = Image.fromarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    pil.save(buffer, format=fmt, exif=exif.tobytes(), quality=95)
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_pillow(einstein: np.ndarray, orientation: int) -> None:
    picture = einstein[:, :200]  # not square, so that a rotation shows in the shape
    data = _oriented(picture, orientation, "PNG")
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    expected_bgr = cv2.cvtColor(np.asarray(expected), cv2.COLOR_RGB2BGR)
    np.testing.assert_array_equal(read_image(data), expected_bgr)


def test_exif_rotated_jpeg_comes_upright(einstein: np.ndarray) -> None:
    picture = einstein[:, :200]
    upright = np.rot90(picture, k=-1)  # what a viewer shows for orientation 6
    image = read_image(_oriented(picture, 6, "JPEG"))
    assert image.shape == (200, 256, 3)
    assert np.abs(image.astype(int) - upright.astype(int)).mean() < 3


def test_truncated_jpeg_made_from_a_real_photo_is_refused(faces_dir: Path) -> None:
    data = (faces_dir / "compreface/imgtools_test_files/einstein.jpeg").read_bytes()
    with pytest.raises(ImageError, match="truncated"):
        read_image(data[: len(data) * 2 // 3], name="cut.jpg")


def test_jpeg_with_bytes_after_the_end_marker_is_fine(faces_dir: Path) -> None:
    data = (faces_dir / "compreface/imgtools_test_files/einstein.jpeg").read_bytes()
    assert read_image(data + b"\0" * 64 + b"trailer").shape == (256, 256, 3)


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height but holds only a few bytes of pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )


def test_absurd_declared_size_is_refused_before_decoding() -> None:
    started = time.perf_counter()
    with pytest.raises(ImageError, match="megapixels"):
        read_image(_png_header_only(30000, 30000), name="bomb.png")
    with pytest.raises(
        ImageError, match=r"12000x10000 pixels is above the limit of 100 megapixels"
    ):
        read_image(_png_header_only(12000, 10000), name="big.png")
    assert time.perf_counter() - started < 1.0


def test_max_pixels_is_a_parameter(faces_dir: Path) -> None:
    path = faces_dir / "compreface/imgtools_test_files/einstein.jpeg"
    with pytest.raises(ImageError, match=r"256x256 pixels is above the limit of 0\.01 megapixels"):
        read_image(path, max_pixels=10_000)


# --------------------------------------------------------------------------- open_source


def test_image_file_is_one_frame(faces_dir: Path) -> None:
    path = faces_dir / "compreface/imgtools_test_files/einstein.webp"
    with open_source(str(path)) as source:
        assert isinstance(source, ImageSource)
        assert not source.is_live
        frames = list(source)
    assert [(f.origin, f.index, f.timestamp) for f in frames] == [(str(path), 0, 0.0)]
    assert frames[0].image.shape == (256, 256, 3)


def test_bad_single_image_raises_image_error(faces_dir: Path) -> None:
    with pytest.raises(ImageError, match=r"zero_bytes\.jpg"):
        open_source(str(faces_dir / "bad/zero_bytes.jpg"))


def test_stdin_bytes(faces_dir: Path) -> None:
    data = (faces_dir / "compreface/imgtools_test_files/einstein.png").read_bytes()
    with open_source("-", stdin=io.BytesIO(data)) as source:
        frames = list(source)
    assert len(frames) == 1
    assert frames[0].origin == "stdin"
    with pytest.raises(ImageError, match="cannot read image stdin: file is empty"):
        open_source("-", stdin=io.BytesIO(b""))


def _make_folder(root: Path, faces_dir: Path) -> None:
    src = faces_dir / "compreface/imgtools_test_files"
    (root / "sub").mkdir(parents=True)
    (root / ".hidden").mkdir()
    for name, target in [
        ("b.png", "einstein.png"),
        ("a.jpeg", "einstein.jpeg"),
        ("sub/c.webp", "einstein.webp"),
        (".hidden/d.png", "einstein.png"),
        (".e.png", "einstein.png"),
        ("broken.jpg", "truncated.jpg"),
    ]:
        (root / name).write_bytes((src / target).read_bytes())
    (root / "notes.txt").write_text("not a face\n")


def test_folder_is_sorted_and_reports_skipped_files(tmp_path: Path, faces_dir: Path) -> None:
    _make_folder(tmp_path, faces_dir)
    with open_source(str(tmp_path)) as source:
        assert isinstance(source, FolderSource)
        frames = list(source)
    assert [Path(f.origin).name for f in frames] == ["a.jpeg", "b.png"]
    assert [f.index for f in frames] == [0, 1]
    skipped = {path.name: reason for path, reason in source.skipped}
    assert set(skipped) == {"notes.txt", "broken.jpg"}
    assert "truncated JPEG" in skipped["broken.jpg"]
    assert "not an image file" in skipped["notes.txt"]


def test_folder_recursive(tmp_path: Path, faces_dir: Path) -> None:
    _make_folder(tmp_path, faces_dir)
    with open_source(str(tmp_path), recursive=True, limit=10) as source:
        names = [Path(f.origin).relative_to(tmp_path).as_posix() for f in source]
    assert names == ["a.jpeg", "b.png", "sub/c.webp"]


def test_folder_limit(tmp_path: Path, faces_dir: Path) -> None:
    _make_folder(tmp_path, faces_dir)
    with open_source(str(tmp_path), limit=1) as source:
        assert len(list(source)) == 1


def test_folder_without_images_is_a_source_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("hello\n")
    with pytest.raises(
        SourceError, match=f"no images in folder {re.escape(str(tmp_path))}"
    ) as caught:
        open_source(str(tmp_path))
    assert caught.value.exit_code == 10


def test_missing_path_is_a_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"cannot open .*nothere: no such file or folder"):
        open_source(str(tmp_path / "nothere"))


def _write_video(path: Path, fourcc: str, faces_dir: Path, count: int, fps: float) -> None:
    images = sorted((faces_dir / "face_recognition/examples/knn_examples/train").rglob("*.jp*g"))[
        :count
    ]
    assert len(images) == count
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (160, 120))
    assert writer.isOpened()
    for image in images:
        writer.write(cv2.resize(read_image(image), (160, 120)))
    writer.release()


@pytest.mark.parametrize(("name", "fourcc"), [("clip.mp4", "mp4v"), ("clip.avi", "MJPG")])
def test_video_file_frames_and_timestamps(
    tmp_path: Path, faces_dir: Path, name: str, fourcc: str
) -> None:
    path = tmp_path / name
    _write_video(path, fourcc, faces_dir, count=6, fps=5.0)
    with open_source(str(path)) as source:
        assert isinstance(source, CaptureSource)
        assert not source.is_live
        assert source.description == f"video {path}"
        frames = list(source)
    assert [f.index for f in frames] == list(range(6))
    assert [f.timestamp for f in frames] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert frames[3].origin == f"{path}#3"
    assert all(f.image.shape == (120, 160, 3) and f.image.dtype == np.uint8 for f in frames)


def test_video_limit_and_close(tmp_path: Path, faces_dir: Path) -> None:
    path = tmp_path / "clip.avi"
    _write_video(path, "MJPG", faces_dir, count=6, fps=5.0)
    with open_source(str(path), limit=2) as source:
        assert len(list(source)) == 2
    source = open_source(str(path))
    source.close()
    assert list(source) == []


def test_file_that_is_not_a_video_is_a_source_error(tmp_path: Path) -> None:
    path = tmp_path / "fake.mp4"
    path.write_text("not a video\n")
    with pytest.raises(SourceError, match=f"cannot open video {re.escape(str(path))}"):
        open_source(str(path))


def test_missing_camera_is_a_source_error_quickly() -> None:
    started = time.perf_counter()
    with pytest.raises(SourceError, match="cannot open camera 99") as caught:
        open_source("99")
    assert caught.value.exit_code == 10
    assert time.perf_counter() - started < 5.0


def test_stream_that_cannot_be_opened_is_a_source_error() -> None:
    started = time.perf_counter()
    with pytest.raises(SourceError, match=r"cannot open stream rtsp://127\.0\.0\.1:9/none"):
        open_source("rtsp://127.0.0.1:9/none")
    assert time.perf_counter() - started < 15.0


def test_unsupported_url_scheme() -> None:
    with pytest.raises(SourceError, match="unsupported URL scheme 'ftp'"):
        open_source("ftp://127.0.0.1/a.jpg")


def test_credentials_never_shown() -> None:
    assert redact_url("rtsp://admin:secret@127.0.0.1:554/live") == "rtsp://***@127.0.0.1:554/live"
    assert redact_url("rtsp://127.0.0.1/live") == "rtsp://127.0.0.1/live"
    with pytest.raises(SourceError) as caught:
        open_source("rtsp://admin:secret@127.0.0.1:9/none")
    assert "secret" not in str(caught.value)


def test_limit_must_be_positive(faces_dir: Path) -> None:
    with pytest.raises(ValueError, match="limit"):
        open_source(str(faces_dir / "bad"), limit=0)


@pytest.mark.parametrize(
    ("spec", "live"),
    [
        ("0", True),
        ("12", True),
        ("rtsp://127.0.0.1:8554/door", True),
        ("HTTP://127.0.0.1/stream.mjpg", True),
        ("./0", False),
        ("1234", False),  # not a camera index: a file of that name
        ("clip.mp4", False),
        ("/srv/photos", False),
        ("-", False),
    ],
)
def test_live_specs_are_told_before_opening(spec: str, live: bool) -> None:
    assert is_live_spec(spec) is live


def test_is_live_spec_agrees_with_the_opened_source(tmp_path: Path, faces_dir: Path) -> None:
    path = tmp_path / "clip.avi"
    _write_video(path, "MJPG", faces_dir, count=2, fps=5.0)
    for spec in (
        str(path),
        str(faces_dir / "compreface/imgtools_test_files"),
        str(faces_dir / "compreface/imgtools_test_files/einstein.webp"),
    ):
        with open_source(spec) as source:
            assert source.is_live is is_live_spec(spec)
