"""Hostile and broken input: every case gets a clear FacedbError or a correct result,
and the database is unchanged where the input was refused.

Hypothesis runs a bounded, derandomised number of examples (the same ones on every
run, so that CI is repeatable); the module runs in well under a minute."""

from __future__ import annotations

import io
import os
import tomllib
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import cv2
import numpy as np
import pytest
from crafted_images import jpeg_declaring as _jpeg_declaring
from crafted_images import png as _png
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from facedb.config import Settings
from facedb.domain.names import NAME_MAX_LENGTH, clean_name
from facedb.errors import (
    ConfigError,
    DuplicateNameError,
    ImageError,
    InvalidInputError,
)
from facedb.evaluation.pairs import read_pairs
from facedb.media.images import read_image
from facedb.service import FaceService
from facedb.store import gallery
from facedb.store.engine import make_engine
from facedb.store.tables.core import User
from facedb.vision.pipeline import FacePipeline

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _check_image(image: np.ndarray) -> None:
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
    assert image.shape[0] >= 1 and image.shape[1] >= 1
    assert image.flags["C_CONTIGUOUS"]


def _decode(data: bytes) -> np.ndarray | None:
    """read_image's answer: a BGR image, or None for an ImageError (anything else fails)."""
    try:
        image = read_image(data, name="fuzz")
    except ImageError as exc:
        assert exc.message.startswith("cannot read image fuzz: ")
        assert "\n" not in exc.message
        return None
    _check_image(image)
    return image


# --------------------------------------------------------------------------- images


@pytest.fixture(scope="module")
def small_jpeg(faces_dir: Path) -> bytes:
    return (faces_dir / "face_recognition" / "examples" / "obama_small.jpg").read_bytes()


@pytest.fixture(scope="module")
def small_png(faces_dir: Path) -> bytes:
    image = read_image(faces_dir / "face_recognition" / "examples" / "obama_small.jpg")
    ok, encoded = cv2.imencode(".png", image[:64, :64])
    assert ok
    return encoded.tobytes()


MAGIC = [
    b"",
    b"\xff\xd8\xff\xe0",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF89a",
    b"BM",
    b"II*\x00",  # TIFF
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"\x00\x00\x01\x00",  # ICO
    b"P6\n",  # PPM
]


@FUZZ
@given(magic=st.sampled_from(MAGIC), tail=st.binary(max_size=600))
def test_random_bytes_are_an_image_error_or_an_image(magic: bytes, tail: bytes) -> None:
    _decode(magic + tail)


@FUZZ
@given(data=st.data())
def test_truncated_real_images(small_jpeg: bytes, small_png: bytes, data: st.DataObject) -> None:
    for original in (small_jpeg, small_png):
        cut = data.draw(st.integers(0, len(original) - 1))
        image = _decode(original[:cut])
        if image is not None:  # a cut after the image data (trailing metadata) is harmless
            whole = _decode(original)
            assert whole is not None and image.shape[:2] == whole.shape[:2]


@FUZZ
@given(data=st.data())
def test_corrupted_bytes_of_real_images(
    small_jpeg: bytes, small_png: bytes, data: st.DataObject
) -> None:
    for original in (small_jpeg, small_png):
        corrupt = bytearray(original)
        for _ in range(data.draw(st.integers(1, 8))):
            corrupt[data.draw(st.integers(0, len(corrupt) - 1))] = data.draw(st.integers(0, 255))
        _decode(bytes(corrupt))


@pytest.mark.parametrize(
    "data",
    [
        _png(20000, 20000, zlib.compress(b"\x00" * 64)),
        _png(65535, 65535, b""),
        _png(200_000, 1000, zlib.compress(b"\x00")),
        _jpeg_declaring(20000, 20000),
        _jpeg_declaring(65535, 65535),
    ],
    ids=["png-20000x20000", "png-65535x65535", "png-200000x1000", "jpeg-20000", "jpeg-65535"],
)
def test_absurd_declared_sizes_are_refused_before_decoding(data: bytes) -> None:
    with pytest.raises(ImageError, match="megapixels"):
        read_image(data)


def test_declared_size_that_the_data_cannot_fill_is_refused() -> None:
    # 4000 x 4000 declared (under the pixel and decoded-bytes limits; 9000 x 9000 is
    # now refused by the decode budget first), a few bytes of pixel data.
    with pytest.raises(ImageError, match="corrupt or truncated"):
        read_image(_png(4000, 4000, zlib.compress(b"\x00" * 100)))


def test_one_pixel_images() -> None:
    one = _png(1, 1, zlib.compress(b"\x00\x10\x20\x30"))
    assert read_image(one).tolist() == [[[0x30, 0x20, 0x10]]]  # RGB stored, BGR out
    _, jpeg = cv2.imencode(".jpg", np.full((1, 1, 3), 200, np.uint8))
    assert read_image(jpeg.tobytes()).shape == (1, 1, 3)


def _encode_pillow(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("mode", "fmt"),
    [
        ("L", "PNG"),
        ("LA", "PNG"),
        ("RGBA", "PNG"),
        ("P", "PNG"),
        ("1", "PNG"),
        ("I;16", "PNG"),
        ("I", "TIFF"),
        ("F", "TIFF"),
        ("CMYK", "JPEG"),
        ("L", "JPEG"),
        ("RGBA", "WEBP"),
        ("P", "GIF"),
    ],
)
def test_every_pixel_format_becomes_three_channel_uint8(mode: str, fmt: str) -> None:
    grey = np.linspace(0, 255, 48 * 32).reshape(32, 48).astype(np.uint8)
    source = Image.fromarray(grey, "L")
    if mode == "I;16":
        image = Image.fromarray(grey.astype(np.uint16) * 257)
    elif mode == "F":
        image = Image.fromarray(grey.astype(np.float32) / 255.0, "F")
    else:
        image = source.convert(mode)
    decoded = read_image(_encode_pillow(image, fmt))
    _check_image(decoded)
    assert decoded.shape[:2] == (32, 48)
    if mode in ("L", "LA", "RGBA", "P", "I;16", "F") and fmt in ("PNG", "TIFF"):
        # Lossless formats: the grey levels come back (16-bit and float scaled to 8 bits).
        assert np.abs(decoded[:, :, 1].astype(int) - grey.astype(int)).max() <= 1


# --------------------------------------------------------------------------- detector


@pytest.fixture(scope="module")
def pipeline() -> Iterator[FacePipeline]:
    pipe = FacePipeline(Settings.load())
    pipe.load()
    yield pipe


def _check_faces(image: np.ndarray, faces: list[Any]) -> None:
    height, width = image.shape[:2]
    for face in faces:
        box = face.face.box
        assert np.isfinite(box).all() and np.isfinite(face.face.landmarks).all()
        assert -width <= box[0] <= box[2] <= 2 * width and -height <= box[1] <= box[3] <= 2 * height
        if face.embedding is not None:
            assert face.embedding.shape == (512,) and np.isfinite(face.embedding).all()


@settings(max_examples=20, deadline=None, derandomize=True)
@given(
    height=st.integers(1, 400),
    width=st.integers(1, 400),
    kind=st.sampled_from(["noise", "black", "white", "stripes"]),
    seed=st.integers(0, 2**16),
)
@example(height=1, width=1, kind="black", seed=0)
@example(height=1, width=400, kind="noise", seed=1)
@example(height=400, width=1, kind="white", seed=2)
def test_detector_on_tiny_odd_and_meaningless_images(
    pipeline: FacePipeline, height: int, width: int, kind: str, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    if kind == "noise":
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    elif kind == "stripes":
        image = np.zeros((height, width, 3), np.uint8)
        image[::2] = 255
    else:
        image = np.full((height, width, 3), 0 if kind == "black" else 255, np.uint8)
    faces = pipeline.analyse([image])[0]
    _check_faces(image, faces)


def test_detector_on_extreme_aspect_and_large_images(
    pipeline: FacePipeline, faces_dir: Path
) -> None:
    rng = np.random.default_rng(0)
    for shape in [(1, 5000, 3), (5000, 1, 3), (2, 3, 3), (3000, 4000, 3)]:
        image = rng.integers(0, 256, shape, dtype=np.uint8)
        _check_faces(image, pipeline.analyse([image])[0])
    photo = read_image(faces_dir / "compreface" / "sample_images" / "001_A.jpg")
    faces = pipeline.analyse([photo])[0]
    _check_faces(photo, faces)
    assert any(f.quality.accepted for f in faces)  # a 36 MP photo of one person


# --------------------------------------------------------------------------- names


HOSTILE = [
    "Robert'); DROP TABLE users;--",
    "O'Brien",
    '"quoted" name',
    "\\x00 backslash \\\\",
    "%_ like wildcards %",
    "$1 $$ dollar quoting $$",
    "ali\u0301ce",  # combining accent: NFC makes it one character
    "עברית ועוד",  # right-to-left script
    "مرحبا",
    "\U0001f600 emoji",
    "İstanbul",  # dotted capital I: lower() changes its length
    "ǅemal",  # title-case digraph
    "ß" * NAME_MAX_LENGTH,
    "x" * NAME_MAX_LENGTH,
]
REFUSED = ["", "   ", "a\x00b", "tab\there", "line\nfeed", "x" * (NAME_MAX_LENGTH + 1), "\x7f"]
REFUSED += ["\u202eecilA", "Ba\u200bse"]  # right-to-left override, zero-width space

name_text = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8"),
        st.sampled_from(list("'\";\\%_$-\x00\t\n\u202e\u200f\u0301İß")),
    ),
    max_size=NAME_MAX_LENGTH + 20,
)


@pytest.fixture(scope="module")
def names_engine(module_database_url: str) -> Iterator[Any]:
    engine = make_engine(module_database_url)
    yield engine
    engine.dispose()


def _users(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM users")).scalar_one())


@FUZZ
@given(name=name_text)
@example(name=HOSTILE[0])
def test_any_name_is_stored_exactly_or_refused(names_engine: Any, name: str) -> None:
    before = _users(names_engine)
    try:
        cleaned = clean_name(name)
    except InvalidInputError as exc:
        assert "\n" not in exc.message
        assert _users(names_engine) == before
        return
    with Session(names_engine) as session, session.begin():
        user = gallery.create_user(session, name)
        assert user.name == cleaned
        stored = session.execute(select(User.name).where(User.id == user.id)).scalar_one()
        assert stored == cleaned
        # Found again under its own name and in another letter case.
        for spelling in (name, cleaned, cleaned.upper(), cleaned.lower()):
            try:
                again = gallery.find_user(session, spelling)
            except InvalidInputError:  # the other spelling is too long or empty
                continue
            assert again is not None and again.id == user.id, spelling
        session.rollback()
    assert _users(names_engine) == before


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_through_the_service(settings: Settings, name: str) -> None:
    service = FaceService(settings)
    with service.transaction() as session:
        gallery.create_user(session, "placeholder")
    renamed = service.rename_user("placeholder", name)
    assert renamed.name == clean_name(name)
    assert service.user(name).id == renamed.id
    assert [u.name for u in service.users()] == [renamed.name]
    with pytest.raises(DuplicateNameError), service.transaction() as session:
        gallery.create_user(session, name.upper() if len(name.upper()) <= 200 else name)
    assert service.remove_user(name) == 0
    assert service.users() == []
    service.close()


@pytest.mark.parametrize("name", REFUSED)
def test_refused_names_change_nothing(settings: Settings, name: str) -> None:
    service = FaceService(settings)
    with service.transaction() as session:
        gallery.create_user(session, "Alice")
    for action in (
        lambda: service.rename_user("Alice", name),
        lambda: service.user(name),
        lambda: service.remove_user(name),
    ):
        with pytest.raises(InvalidInputError):
            action()
    with service.transaction() as session:
        assert session.scalars(select(User.name)).all() == ["Alice"]
    service.close()


@pytest.mark.parametrize("external_id", ["", "  ", "a\x00b", "tab\tid"])
def test_bad_external_ids_are_refused(settings: Settings, external_id: str) -> None:
    service = FaceService(settings)
    with pytest.raises(InvalidInputError), service.transaction() as session:
        gallery.create_user(session, "Alice", external_id=external_id)
    with service.transaction() as session:
        assert session.execute(select(func.count()).select_from(User)).scalar_one() == 0
    service.close()


# --------------------------------------------------------------------------- pairs files


@FUZZ
@given(
    content=st.one_of(
        st.binary(max_size=300),
        st.text(
            alphabet=st.sampled_from(list("path12same,fold\"' \t\n0123456789²-_./abc\x00")),
            max_size=300,
        ).map(lambda t: t.encode("utf-8")),
    )
)
@example(content=b"\xef\xbb\xbfpath1,path2,same\n")
@example(content=b"10 300\n")
@example(content=b"\xc2\xb2\n")
def test_malformed_pairs_files(tmp_path_factory: pytest.TempPathFactory, content: bytes) -> None:
    folder = tmp_path_factory.mktemp("pairs")
    (folder / "a.jpg").write_bytes(b"x")
    pairs_file = folder / "pairs.csv"
    pairs_file.write_bytes(content)
    try:
        pairs = read_pairs(pairs_file)
    except InvalidInputError as exc:
        assert str(pairs_file) in exc.message and "\n" not in exc.message
        return
    assert pairs and all(p.path1.is_file() and p.path2.is_file() for p in pairs)


# --------------------------------------------------------------------------- configuration


NUMERIC = ["threshold", "cooldown", "det_size", "ef_search", "cache_max_age", "min_face_px"]


def _load_with(env: dict[str, str], config: str | None, tmp: Path) -> Settings:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FACEDB_")}
    environment.update({"FACEDB_HOME": str(tmp), "FACEDB_CONFIG": str(tmp / "config.toml")})
    environment.update(env)
    (tmp / "config.toml").unlink(missing_ok=True)
    if config is not None:
        (tmp / "config.toml").write_text(config, encoding="utf-8")
    # A plain dict in place of os.environ: the process environment itself (which
    # native threads of OpenCV and onnxruntime may read) is never rewritten.
    with mock.patch.object(os, "environ", environment):
        return Settings.load()


def _check_settings(loaded: Settings) -> None:
    assert isinstance(loaded.cooldown, float) and np.isfinite(loaded.cooldown)
    assert isinstance(loaded.det_size, int) and 0 <= loaded.det_size <= 8192  # 0 = auto
    assert isinstance(loaded.ef_search, int) and 1 <= loaded.ef_search <= 1000
    assert loaded.threshold is None or -1.0 <= loaded.threshold <= 1.0
    assert loaded.device_name.isprintable() and loaded.device_name.strip()


env_value = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20),
    st.sampled_from(["nan", "inf", "-inf", "-1", "1e309", "0x10", "1_000", " 5 ", "1.5", "True"]),
)


@FUZZ
@given(field=st.sampled_from([*NUMERIC, "device", "liveness", "device_name"]), value=env_value)
def test_any_environment_value_is_a_config_error_or_valid(
    tmp_path_factory: pytest.TempPathFactory, field: str, value: str
) -> None:
    tmp = tmp_path_factory.mktemp("env")
    try:
        loaded = _load_with({f"FACEDB_{field.upper()}": value}, None, tmp)
    except ConfigError as exc:
        assert "\n" not in exc.message
        return
    _check_settings(loaded)


toml_value = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dates(),
)


@FUZZ
@given(key=st.sampled_from([*NUMERIC, "home", "device_name", "unknown_key"]), value=toml_value)
def test_any_config_file_value_is_a_config_error_or_valid(
    tmp_path_factory: pytest.TempPathFactory, key: str, value: Any
) -> None:
    tmp = tmp_path_factory.mktemp("toml")
    if isinstance(value, float) and not np.isfinite(value):
        rendered = {float("inf"): "inf", float("-inf"): "-inf"}.get(value, "nan")
    elif isinstance(value, str):
        rendered = '"' + value.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    elif isinstance(value, bool):
        rendered = str(value).lower()
    else:
        rendered = str(value).replace("'", "")
    config = f"{key} = {rendered}\n"
    try:
        tomllib.loads(config)
    except tomllib.TOMLDecodeError:
        return  # a rendering this test cannot write; malformed TOML has its own test
    try:
        loaded = _load_with({}, config, tmp)
    except ConfigError as exc:
        assert "\n" not in exc.message
        return
    _check_settings(loaded)


@FUZZ
@given(config=st.text(max_size=200))
@example(config="threshold = ")
@example(config="[facedb]\nthreshold = 0.3")
@example(config="threshold = 0.3\nthreshold = 0.4")
def test_malformed_config_files_are_one_config_error(
    tmp_path_factory: pytest.TempPathFactory, config: str
) -> None:
    tmp = tmp_path_factory.mktemp("bad")
    try:
        loaded = _load_with({}, config, tmp)
    except ConfigError as exc:
        assert "\n" not in exc.message
        return
    _check_settings(loaded)
