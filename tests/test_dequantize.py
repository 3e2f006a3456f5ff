"""The embedder's float form (vision/dequantize.py): the int8 weights with float
activations, so that a face's vector does not depend on the faces run with it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import onnx

from facedb.config import Settings
from facedb.numeric import l2_normalize
from facedb.vision.dequantize import dequantize_weights
from facedb.vision.pipeline import FacePipeline

MODEL = "w600k_mbf_int8"


def _crops(faces_dir: Path, pipeline: FacePipeline) -> list[np.ndarray]:
    """Aligned faces of three CelebA people, two photos each."""
    found: list[np.ndarray] = []
    for person in ("7206", "7210", "7217"):
        for photo in sorted((faces_dir / "celeba" / person).glob("*.jpg"))[:2]:
            face = pipeline.analyse([cv2.imread(str(photo))], embed=False)[0][0]
            assert face.aligned is not None
            found.append(face.aligned)
    return found


def test_the_float_form_is_batch_independent_and_close_to_the_int8_model(
    faces_dir: Path, weights_dir: Path, tmp_path: Path
) -> None:
    pipeline = FacePipeline(Settings(home=tmp_path, weights=weights_dir, threads=1))
    crops = _crops(faces_dir, pipeline)
    blob = pipeline.embedder.preprocessing.blob(crops)
    int8 = pipeline.registry.session(MODEL)
    floats = pipeline.registry.session(MODEL, float_activations=True)
    name = floats.get_inputs()[0].name

    def run(session: object, batch: np.ndarray) -> np.ndarray:
        output = session.run(None, {name: batch})[0]  # type: ignore[attr-defined]
        return l2_normalize(np.asarray(output, dtype=np.float32))

    alone = np.concatenate([run(floats, blob[i : i + 1]) for i in range(len(crops))])
    # A face and its mirror image in one run, and all six faces in one run: the same
    # vectors as each face alone (the int8 model's differ: cosine 0.97-0.99).
    np.testing.assert_allclose(run(floats, blob[:2]), alone[:2], atol=1e-5)
    np.testing.assert_allclose(run(floats, blob), alone, atol=1e-5)
    int8_alone = np.concatenate([run(int8, blob[i : i + 1]) for i in range(len(crops))])
    # 0.984-0.995 a face on 80 CelebA faces (docs/ACCURACY.md): the activations'
    # rounding to 8 bits is all that differs.
    assert np.sum(alone * int8_alone, axis=1).min() > 0.97
    # Still the same person's: the two photos of each person are closer to each
    # other than to anyone else's (as with the int8 model here).
    similarity = alone @ alone.T
    for i in range(0, len(crops), 2):
        others = np.delete(similarity[i], [i, i + 1])
        assert similarity[i, i + 1] > others.max() + 0.1


def test_every_activation_quantisation_is_removed(weights_dir: Path) -> None:
    model = onnx.load(str(weights_dir / f"{MODEL}.onnx"))
    assert dequantize_weights(model) == 50  # 49 convolutions and the final MatMul
    ops = {node.op_type for node in model.graph.node}
    assert ops.isdisjoint({"DynamicQuantizeLinear", "ConvInteger", "MatMulInteger", "Cast"})
    assert "Conv" in ops and "MatMul" in ops
    onnx.checker.check_model(model)


def test_the_float_form_is_made_once_and_made_again_when_damaged(
    weights_dir: Path, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, weights=weights_dir, threads=1)
    FacePipeline(settings).registry.session(MODEL, float_activations=True)
    kept = list((tmp_path / "cache" / "models").glob("*-float*.onnx"))
    assert len(kept) == 1
    digest = kept[0].with_suffix(".sha256")
    assert digest.is_file()
    made = kept[0].stat().st_mtime_ns
    FacePipeline(settings).registry.session(MODEL, float_activations=True)
    assert kept[0].stat().st_mtime_ns == made  # loaded as it was kept
    with kept[0].open("r+b") as fh:  # one byte changed
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    FacePipeline(settings).registry.session(MODEL, float_activations=True)
    assert hashlib.sha256(kept[0].read_bytes()).hexdigest() == digest.read_text().strip()
