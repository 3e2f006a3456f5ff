"""The quality gate judged by what it does to errors (docs/QUALITY.md).

For each of the 500 shared CelebA web photos: the main face's quality measures and
embedding, with the pipeline as configured. Then, for the photo gate, the live gate
and no gate: the share of photos refused (failure to acquire) and the verification
error rates on the shared pairs whose two photos both pass (at the 1:1 threshold),
plus the error-versus-reject curve of each measure: FNMR of the kept genuine pairs
as the worst-scoring photos by that measure are refused.

    .venv/bin/python -m benchmarks.quality_gate [--json]
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass

import numpy as np

from benchmarks.common import FACES
from facedb.config import Settings
from facedb.media.images import read_image
from facedb.vision import quality
from facedb.vision.pipeline import FacePipeline

THRESHOLD = 0.25  # the model's 1:1 default
REJECT_SHARES = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)


@dataclass(frozen=True)
class GateResult:
    gate: str
    refused: float  # share of photos
    pairs_kept: float
    accuracy_kept: float
    fnmr_kept: float
    fmr_kept: float


def _measure() -> tuple[list[str], dict[str, np.ndarray]]:
    pipeline = FacePipeline(Settings.load())
    paths = sorted(str(p.relative_to(FACES)) for p in (FACES / "celeba").glob("*/*.jpg"))
    fields: dict[str, list[float]] = {k: [] for k in ("size", "det", "sharp", "yaw", "pitch")}
    vectors = []
    for start in range(0, len(paths), 8):
        batch = paths[start : start + 8]
        for faces in pipeline.analyse([read_image(FACES / p) for p in batch]):
            if not faces:
                vectors.append(np.zeros(512, np.float32))
                for values in fields.values():
                    values.append(np.nan)
                continue
            face = max(faces, key=lambda f: f.face.area)
            q = face.quality
            vectors.append(np.asarray(face.embedding, np.float32))
            for key, value in (
                ("size", q.size_px),
                ("det", q.det_score),
                ("sharp", q.sharpness),
                ("yaw", abs(q.yaw)),
                ("pitch", abs(q.pitch)),
            ):
                fields[key].append(float(value))
    data = {k: np.array(v) for k, v in fields.items()}
    data["embedding"] = np.stack(vectors)
    return paths, data


def _passes(data: dict[str, np.ndarray], gate: quality.Gate | None) -> np.ndarray:
    found = ~np.isnan(data["size"])
    if gate is None:
        return found
    with np.errstate(invalid="ignore"):
        return (
            found
            & (data["size"] >= gate.min_face_px)
            & (data["det"] >= gate.min_det_score)
            & (data["sharp"] >= gate.min_sharpness)
            & (data["yaw"] <= gate.max_yaw)
            & (data["pitch"] <= gate.max_pitch)
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    paths, data = _measure()
    index = {p: i for i, p in enumerate(paths)}
    with (FACES / "celeba" / "pairs.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    a = np.array([index[r["path1"]] for r in rows])
    b = np.array([index[r["path2"]] for r in rows])
    same = np.array([r["same"] == "1" for r in rows])
    emb = data["embedding"]
    sim = np.sum(emb[a] * emb[b], axis=1)
    results = []
    settings = Settings.load()
    for name, gate in (
        ("none", None),
        ("photo", quality.PHOTO_GATE),
        ("live", quality.live_gate(settings)),
    ):
        ok = _passes(data, gate)
        kept = ok[a] & ok[b]
        accept = sim >= THRESHOLD
        results.append(
            GateResult(
                name,
                float(1 - ok.mean()),
                float(kept.mean()),
                float((accept == same)[kept].mean()),
                float((~accept & same & kept).sum() / max((same & kept).sum(), 1)),
                float((accept & ~same & kept).sum() / max((~same & kept).sum(), 1)),
            )
        )
    curves = {}
    for measure, worse_is_low in (("size", True), ("det", True), ("sharp", True), ("yaw", False), ("pitch", False)):  # fmt: skip
        values = np.nan_to_num(data[measure], nan=-1e9 if worse_is_low else 1e9)
        order = np.argsort(values if worse_is_low else -values)
        curve = []
        for share in REJECT_SHARES:
            ok = np.ones(len(values), bool)
            ok[order[: round(share * len(values))]] = False
            kept = ok[a] & ok[b] & same
            curve.append(float((kept & (sim < THRESHOLD)).sum() / max(kept.sum(), 1)))
        curves[measure] = curve
    if args.json:
        print(json.dumps({"gates": [r.__dict__ for r in results], "fnmr_after_rejecting": {"shares": REJECT_SHARES, **curves}}, indent=2))  # fmt: skip
        return
    print("gate   refused  pairs kept  accuracy  FNMR    FMR   (kept pairs, threshold 0.25)")
    for r in results:
        print(
            f"{r.gate:6s} {r.refused:7.1%}  {r.pairs_kept:9.1%}  {r.accuracy_kept:8.2%}  "
            f"{r.fnmr_kept:6.2%}  {r.fmr_kept:5.2%}"
        )
    print("\nFNMR of kept genuine pairs after refusing the worst share of photos by one measure:")
    print("measure " + " ".join(f"{s:>6.0%}" for s in REJECT_SHARES))
    for measure, curve in curves.items():
        print(f"{measure:7s} " + " ".join(f"{v:6.2%}" for v in curve))


if __name__ == "__main__":
    main()
