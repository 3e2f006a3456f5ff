"""The load-time graph rewrites of vision/models.py change speed, never outputs."""

from __future__ import annotations

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
