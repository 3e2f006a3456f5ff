"""What the detector's auto scale costs in accuracy and buys in speed (issue 18).

For each policy (insightface's 640 letterbox; auto scale showing the quality gate's
minimum face at 32, 48 or 64 canvas pixels): verification on the shared CelebA pairs
(ROC AUC, accuracy at the default threshold, 10-fold accuracy, TAR at FAR 1e-3,
failures to enrol), the face counts of the CompreFace sample images (faces of at
any size, against the count in the file name), and the detector's time
per image (1 onnxruntime thread). About 10 minutes on 2 cores.

    FACEDB_WEIGHTS=../shared/weights python -m benchmarks.detect_scale [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facedb.config import Settings
from facedb.evaluation.pairs import read_pairs
from facedb.evaluation.runner import evaluate
from facedb.media.images import read_image
from facedb.vision.pipeline import FacePipeline

DEFAULT_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"
DEFAULT_THRESHOLD = 0.25  # weights/manifest.toml, w600k_mbf_int8


@dataclass(frozen=True)
class Policy:
    label: str
    det_size: int  # 0 = auto
    face_canvas_px: float = 48.0


POLICIES = (
    Policy("letterbox 640 (insightface)", 640),
    Policy("auto, gate face at 64 px", 0, 64.0),
    Policy("auto, gate face at 48 px (AUTO_FACE_CANVAS_PX)", 0, 48.0),
    Policy("auto, gate face at 32 px", 0, 32.0),
)


def _pipeline(policy: Policy) -> FacePipeline:
    pipeline = FacePipeline(
        Settings.load({"device": "cpu", "threads": 1, "det_size": policy.det_size})
    )
    pipeline.detector.face_canvas_px = policy.face_canvas_px
    return pipeline


def verification(pipeline: FacePipeline, faces: Path) -> dict[str, Any]:
    pairs = read_pairs(faces / "celeba" / "pairs.csv", faces)
    result = evaluate(pairs, pipeline)
    scored = [p for p in result.pairs if p.similarity is not None]
    correct = sum((p.similarity >= DEFAULT_THRESHOLD) == p.same for p in scored)  # type: ignore[operator]
    metrics = result.scored
    far = [t for t in metrics.tar_at_far if abs(t.far - 1e-3) < 1e-12]
    return {
        "pairs_scored": len(scored),
        "failures_to_enrol": len(result.failures),
        "auc": metrics.auc,
        "accuracy_at_default": correct / len(scored),
        "accuracy_10fold": None if metrics.accuracy is None else metrics.accuracy.mean,
        "tar_at_far_1e-3": far[0].tar if far else None,
    }


def face_counts(pipeline: FacePipeline, faces: Path) -> dict[str, Any]:
    """CompreFace NNN_k.jpg images: faces found (any size; most of these are smaller
    than the gate's minimum) against k, and the sizes of the faces found."""
    rows = []
    for path in sorted((faces / "compreface" / "sample_images").glob("*_*.jpg")):
        match = re.fullmatch(r"\d+_(\d+)", path.stem)
        if match is None:
            continue
        found = pipeline.analyse([read_image(path)], embed=False)[0]
        sizes = sorted(f.quality.size_px for f in found)
        rows.append({"image": path.name, "expected": int(match.group(1)), "found": len(found)})
        rows[-1]["sizes_px"] = sizes
    return {"images": rows, "exact": sum(r["expected"] == r["found"] for r in rows)}


def detector_time(pipeline: FacePipeline, faces: Path, limit: int = 120) -> dict[str, float]:
    paths = sorted((faces / "celeba").glob("*/*.jpg"))[:limit]
    images = [read_image(p) for p in paths]
    frame = images[0]
    pipeline.detect(frame)
    times = []
    for image in images:
        start = time.perf_counter()
        pipeline.detect(image)
        times.append(time.perf_counter() - start)
    return {"celeba_ms_median": 1000 * statistics.median(times)}


def run(faces: Path, policies: tuple[Policy, ...] = POLICIES) -> list[dict[str, Any]]:
    out = []
    for policy in policies:
        pipeline = _pipeline(policy)
        row: dict[str, Any] = {"policy": policy.label, "det_size": policy.det_size}
        row["face_canvas_px"] = policy.face_canvas_px if policy.det_size == 0 else None
        row.update(detector_time(pipeline, faces))
        row.update(verification(pipeline, faces))
        row["compreface"] = face_counts(pipeline, faces)
        print(json.dumps({k: v for k, v in row.items() if k != "compreface"}), flush=True)
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES)
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument(
        "--policies",
        default=",".join(str(i) for i in range(len(POLICIES))),
        help="which policies, by index: "
        + "; ".join(f"{i} {p.label}" for i, p in enumerate(POLICIES)),
    )
    args = parser.parse_args()
    rows = run(args.faces, tuple(POLICIES[int(i)] for i in args.policies.split(",")))
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
