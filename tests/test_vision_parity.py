"""Parity with insightface 2.1 on the same model files (faces/reference/insightface.json):
SCRFD-2.5G at 640x640, threshold 0.5, NMS 0.4, and w600k_mbf_int8 on aligned crops."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facedb.config import Settings
from facedb.media.images import read_image
from facedb.vision.pipeline import FacePipeline

BOX_IOU_MIN = 0.95
KEYPOINT_PX_MAX = 2.0
COSINE_MIN = 0.99


def _reference(faces_dir: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        (faces_dir / "reference" / "insightface.json").read_text(encoding="utf-8")
    )
    return data


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    settings = Settings.load(
        {"det_size": 640, "det_threshold": 0.5, "nms_threshold": 0.4, "device": "cpu"}
    )
    return FacePipeline(settings)


def test_reference_settings_match(faces_dir: Path) -> None:
    ref = _reference(faces_dir)
    assert ref["detector"]["file"] == "scrfd_2.5g_bnkps.onnx"
    assert ref["detector"]["input_size"] == [640, 640]
    assert ref["embedder"]["file"] == "w600k_mbf_int8.onnx"


def test_parity_with_insightface(faces_dir: Path, pipeline: FacePipeline) -> None:
    ref = _reference(faces_dir)
    problems: list[str] = []
    n_faces = 0
    for entry in ref["images"]:
        image = read_image(faces_dir / entry["path"])
        assert image.shape[:2] == (entry["height"], entry["width"]), entry["path"]
        found = pipeline.analyse([image])[0]
        expected = entry["faces"]
        if len(found) != len(expected):
            problems.append(f"{entry['path']}: {len(found)} faces, reference {len(expected)}")
        used: set[int] = set()
        for ref_face in expected:
            n_faces += 1
            ref_box = np.asarray(ref_face["bbox"], dtype=np.float64)
            ious = [_iou(f.face.box.astype(np.float64), ref_box) for f in found]
            best = int(np.argmax(ious)) if ious else -1
            if best < 0 or ious[best] < BOX_IOU_MIN or best in used:
                problems.append(f"{entry['path']}: no match for box {ref_face['bbox']}")
                continue
            used.add(best)
            face = found[best]
            shift = np.abs(face.face.landmarks - np.asarray(ref_face["kps"])).max()
            if shift > KEYPOINT_PX_MAX:
                problems.append(f"{entry['path']}: key points {shift:.2f} px off")
            assert face.embedding is not None
            cosine = float(face.embedding @ np.asarray(ref_face["embedding"], dtype=np.float32))
            cosine /= float(np.linalg.norm(ref_face["embedding"]))
            if cosine < COSINE_MIN:
                problems.append(f"{entry['path']}: embedding cosine {cosine:.4f}")
    assert n_faces > 0
    assert not problems, "\n".join(problems)
