"""`facedb models fetch` from the models' pinned public sources, served by a loopback
mirror laid out like them (tests/mirror.py): a zip archive's member, a repository file
at a commit, a recipe; a file whose bytes differ is refused and not installed, for
every default model."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import onnx
import pytest
from click.testing import CliRunner, Result
from mirror import build_mirror, serve, source_path
from onnx import TensorProto, helper

from facedb.cli.main import main
from facedb.config import Settings
from facedb.errors import ModelError
from facedb.usecases.doctor import model_checks
from facedb.vision import models_fetch
from facedb.vision.model_sources import Source, manifest_sources
from facedb.vision.models import load_manifest

DEFAULTS = ("scrfd_2.5g_bnkps", "w600k_mbf_int8", "minifasnet_v2")
# insightface's fp32 w600k_mbf.onnx, the int8 embedder's recipe input.
FP32_SHA256 = "9cc6e4a75f0e2bf0b1aed94578f144d15175f357bdc05e815e5c4a02b319eb4f"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FACEDB_HOME", str(tmp_path / "home"))
    for name in ("FACEDB_WEIGHTS", "FACEDB_MODELS_URL", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return tmp_path / "home"


def _fetch(base: str, *names: str) -> Result:
    args = ["models", "fetch", *names, "--url", base, "--accept-licence", "--retries", "0"]
    return CliRunner().invoke(main, args)


def _installed(home: Path) -> list[str]:
    folder = home / "models"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_every_default_model_has_a_pinned_source_and_the_liveness_one_is_verified() -> None:
    sources = manifest_sources()
    for name in DEFAULTS:
        assert sources[name], f"{name} has no source"
    liveness = sources["minifasnet_v2"][0]
    assert "/5e1b402568f8dd0c0008bed960fe38c44a5eaca2/" in liveness.url
    assert liveness.verified
    detector = sources["scrfd_2.5g_bnkps"][0]
    assert detector.url.endswith("/releases/download/v0.7/buffalo_m.zip")
    assert detector.member == "det_2.5g.onnx"
    embedders = sources["w600k_mbf_int8"]
    assert "/68481243b71e423ec940d91cc96bbe31b85715eb/" in embedders[0].url
    assert embedders[1].url.endswith("/releases/download/v0.7/buffalo_s.zip")
    assert embedders[1].member == "w600k_mbf.onnx"
    for embedder in embedders:
        assert embedder.recipe == "quantize-dynamic-qint8"
        assert embedder.input_sha256 == FP32_SHA256 and embedder.input_bytes == 13_616_099
        assert not embedder.verified and embedder.note  # said, not silent


def test_models_come_from_a_zip_member_and_a_file_at_a_commit(
    home: Path, tmp_path: Path, weights_dir: Path
) -> None:
    root = build_mirror(tmp_path / "mirror", weights_dir, flat=("w600k_mbf_int8",))
    specs = load_manifest()
    with serve(root) as base:
        result = _fetch(base, "--json")
    assert result.exit_code == 0, result.output
    came_from = {m["name"]: m["source"] for m in json.loads(result.output)["models"]}
    for name in DEFAULTS:
        data = (home / "models" / specs[name].file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == specs[name].sha256
    assert came_from["scrfd_2.5g_bnkps"].endswith("/v0.7/buffalo_m.zip (det_2.5g.onnx)")
    assert "/raw.githubusercontent.com/fizray/" in came_from["minifasnet_v2"]
    assert came_from["w600k_mbf_int8"] == f"{base}/w600k_mbf_int8.onnx"
    assert not [n for n in _installed(home) if n.startswith(".partial-")]


def _tiny_fp32_model(path: Path) -> None:
    weight = helper.make_tensor(
        "w", TensorProto.FLOAT, [4, 3, 3, 3], [0.01 * i for i in range(108)]
    )
    node = helper.make_node("Conv", ["input.1", "w"], ["out"])
    graph = helper.make_graph(
        [node],
        "tiny",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 4, 110, 110])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)


def _damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, one byte changed
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", DEFAULTS)
def test_bytes_that_differ_are_refused_and_not_installed(
    name: str, home: Path, tmp_path: Path, weights_dir: Path
) -> None:
    root = build_mirror(tmp_path / "mirror", weights_dir)
    spec = load_manifest()[name]
    for source in manifest_sources()[name]:
        place = source_path(root, source.url)
        if source.recipe is not None:
            # Some other w600k_mbf.onnx, alone or in the pack: refused before the recipe.
            fp32 = tmp_path / "w600k_mbf.onnx"
            _tiny_fp32_model(fp32)
            place.parent.mkdir(parents=True, exist_ok=True)
            if source.member is None:
                place.write_bytes(fp32.read_bytes())
            else:
                with zipfile.ZipFile(place, "w") as archive:
                    archive.write(fp32, source.member)
        elif source.member is not None:
            damaged = tmp_path / "member.onnx"
            damaged.write_bytes((weights_dir / spec.file).read_bytes())
            _damage(damaged)
            with zipfile.ZipFile(place, "w") as archive:
                archive.write(damaged, source.member)
        elif place.is_file():
            _damage(place)
    with serve(root) as base:
        result = _fetch(base, name)
    assert result.exit_code == 11, result.output
    assert "not installed" in result.output
    said = result.output.replace("\n", "")
    wanted = [f"the manifest says {spec.sha256}", f"the manifest says {spec.bytes}"]
    if name == "w600k_mbf_int8":
        wanted = ["the recipe's input is 559 bytes, the manifest says 13616099"]
    assert any(w in said for w in wanted), said
    assert spec.file not in _installed(home)
    assert not [n for n in _installed(home) if n.startswith(".partial-")]


def test_doctor_says_when_a_missing_models_sources_are_unverified(
    home: Path, tmp_path: Path
) -> None:
    settings = Settings.load({"weights": tmp_path / "empty"})
    checks = {c.name: c for c in model_checks(settings)}
    embedder = checks["model w600k_mbf_int8"]
    assert embedder.status == "fail"
    assert "not verified" in embedder.detail and "recipe's output" in embedder.detail
    assert "--from FILE" in embedder.fix
    liveness = checks["model minifasnet_v2"]  # its source is verified: nothing said
    assert "not verified" not in liveness.detail


def test_a_recipe_whose_result_differs_is_refused(tmp_path: Path, home: Path) -> None:
    """The recipe runs on its input and its result is checked like a download: some
    other fp32 model gives some other int8 file, which is not installed."""
    fp32 = tmp_path / "mirror" / "w600k_mbf.onnx"
    fp32.parent.mkdir()
    _tiny_fp32_model(fp32)
    spec = load_manifest()["w600k_mbf_int8"]
    dest = tmp_path / "models"
    with serve(tmp_path / "mirror") as base:
        source = Source(f"{base}/w600k_mbf.onnx", recipe="quantize-dynamic-qint8")
        with pytest.raises(ModelError, match=f"the manifest says {spec.bytes} for w600k_mbf_int8"):
            models_fetch.download(spec, source, dest, retries=0)
    assert list(dest.iterdir()) == []  # no model, no partial file
