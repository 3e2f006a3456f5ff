"""The load-time graph rewrites of vision/models.py change speed, never outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from facedb.vision.model_rewrites import integer_convs_as_float, prelu_as_relu_min


def _run(model: onnx.ModelProto, batch: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return np.asarray(session.run(None, {name: batch})[0])


@pytest.mark.parametrize(
    ("file", "shape", "scale"),
    [("w600k_mbf_int8.onnx", (1, 3, 112, 112), 1.0), ("minifasnet_v2.onnx", (1, 3, 80, 80), 255.0)],
)
def test_rewritten_graphs_give_the_same_outputs(
    weights_dir: Path, file: str, shape: tuple[int, ...], scale: float
) -> None:
    original = onnx.load(str(weights_dir / file))
    rewritten = onnx.load(str(weights_dir / file))
    changed = integer_convs_as_float(rewritten) + prelu_as_relu_min(rewritten)
    assert changed > 0
    rng = np.random.default_rng(0)
    for _ in range(3):
        batch = (rng.random(shape, dtype=np.float32) * 2 - 1) * scale
        expected, actual = _run(original, batch), _run(rewritten, batch)
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


def test_a_rewrite_is_made_once_and_later_processes_load_it_without_onnx(
    weights_dir: Path, tmp_path: Path
) -> None:
    """The first load writes the rewrite under FACEDB_HOME/cache/models; a new process
    loads that copy and never imports onnx (about a second of every start)."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from facedb.config import Settings\n"
        "from facedb.vision.models import ModelRegistry\n"
        f"registry = ModelRegistry(Settings(home=Path({str(tmp_path)!r}), "
        f"weights=Path({str(weights_dir)!r})))\n"
        "registry.session('w600k_mbf_int8')\n"
        "print('onnx' in sys.modules)\n"
    )
    first = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == ["True"]
    kept = list((tmp_path / "cache" / "models").glob("*.onnx"))
    assert len(kept) == 1 and "-ort" in kept[0].name
    again = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert again.stdout.split() == ["False"]
    original = onnx.load(str(weights_dir / "w600k_mbf_int8.onnx"))
    batch = np.random.default_rng(1).random((2, 3, 112, 112), dtype=np.float32) * 2 - 1
    np.testing.assert_allclose(
        _run(onnx.load(str(kept[0])), batch), _run(original, batch), rtol=1e-5, atol=1e-5
    )
