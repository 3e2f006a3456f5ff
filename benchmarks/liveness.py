"""Liveness (MiniFASNetV2): scores on the shared samples, how many real web photos
would be refused at several thresholds, and the cost per face next to detection and
embedding (docs/LIVENESS.md, docs/BENCHMARKS.md "Liveness").

    FACEDB_WEIGHTS=../shared/weights python benchmarks/liveness.py            # all of it
    FACEDB_WEIGHTS=../shared/weights python benchmarks/liveness.py --skip-photos

The photo scan decides like `facedb verify` does on one image: the largest face that
passes the quality gate. Times are milliseconds, wall clock and process CPU time (all
threads), median over the faces.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facedb.config import Settings
from facedb.media.images import read_image
from facedb.vision.align import align_face
from facedb.vision.pipeline import FacePipeline

DEFAULT_FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"
THRESHOLDS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


def samples(pipeline: FacePipeline, faces_dir: Path) -> None:
    print("| sample | label | liveness |\n|---|---|---|")
    for path in sorted((faces_dir / "liveness").glob("*.jpg")):
        faces = pipeline.analyse([read_image(path)], embed=False, liveness=True)[0]
        for face in faces:
            print(f"| {path.name} | {path.stem.split('_')[0]} | {face.liveness:.4f} |")


def photos(pipeline: FacePipeline, faces_dir: Path, limit: int) -> None:
    with (faces_dir / "manifest.csv").open(newline="") as fh:
        paths = [r["path"] for r in csv.DictReader(fh) if not r["path"].startswith("liveness/")]
    scores: dict[str, list[float]] = defaultdict(list)
    for relative in paths[:limit] if limit else paths:
        good = [
            f
            for f in pipeline.analyse(
                [read_image(faces_dir / relative)], embed=False, liveness=True
            )[0]
            if f.quality.accepted
        ]
        if good:
            face = max(good, key=lambda f: f.face.area)
            scores[relative.split("/")[0]].append(float(face.liveness or 0.0))
    scores["all"] = [s for folder in list(scores) for s in scores[folder]]
    header = " | ".join(f"< {t}" for t in THRESHOLDS)
    print(f"\n| folder | faces | median | {header} |\n|---|---|---|{'---|' * len(THRESHOLDS)}")
    for folder in sorted(scores, key=lambda k: (k == "all", k)):
        values = np.array(scores[folder])
        cells = " | ".join(
            f"{int((values < t).sum())} ({100 * float((values < t).mean()):.0f}%)"
            for t in THRESHOLDS
        )
        print(f"| {folder} | {len(values)} | {np.median(values):.3f} | {cells} |")


def _timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    walls, cpus = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return 1000 * statistics.median(walls), 1000 * statistics.median(cpus)


def speed(pipeline: FacePipeline, faces_dir: Path, count: int, repeat: int) -> None:
    paths = sorted((faces_dir / "celeba").glob("*/*.jpg"))[:count]
    images = [read_image(p) for p in paths]
    pipeline.load()
    liveness = pipeline.liveness
    detected = [(image, pipeline.detect(image)) for image in images]
    faces = [(image, face) for image, found in detected for face in found]
    crops_112 = [align_face(image, face.landmarks) for image, face in faces]
    crops_80 = [liveness.crop(image, face.box) for image, face in faces]
    rows = [
        ("detection (640x640), per image", lambda: [pipeline.detect(i) for i in images], count),
        ("alignment 112x112, per face", lambda: [align_face(i, f.landmarks) for i, f in faces], 0),
        ("embedding (int8, batch 1), per face", lambda: pipeline.embed_aligned(crops_112), 0),
        ("liveness crop 80x80, per face", lambda: [liveness.crop(i, f.box) for i, f in faces], 0),
        (
            "liveness model, batch 1, per face",
            lambda: [pipeline.liveness.scores([c]) for c in crops_80],
            0,
        ),
        ("liveness model, one batch, per face", lambda: pipeline.liveness.scores(crops_80), 0),
    ]
    print(f"\n{count} CelebA images, {len(faces)} faces, median of {repeat} runs")
    print("| stage | wall ms | CPU ms |\n|---|---|---|")
    for label, fn, per in rows:
        wall, cpu = _timed(fn, repeat)
        n = per or len(faces)
        print(f"| {label} | {wall / n:.2f} | {cpu / n:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--faces", type=Path, default=DEFAULT_FACES, help="shared faces folder")
    parser.add_argument("--limit", type=int, default=0, help="photos to scan (0 = all)")
    parser.add_argument("--skip-photos", action="store_true", help="skip the photo scan")
    parser.add_argument("--speed-images", type=int, default=24, help="images for the timing")
    parser.add_argument("--repeat", type=int, default=5, help="timing runs (median)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    parser.add_argument("--threads", type=int, default=None, help="0 = all cores")
    args = parser.parse_args()
    pipeline = FacePipeline(Settings.load({"device": args.device, "threads": args.threads}))
    samples(pipeline, args.faces)
    if not args.skip_photos:
        photos(pipeline, args.faces, args.limit)
    speed(pipeline, args.faces, args.speed_images, args.repeat)
    print(f"\nproviders: {pipeline.providers()}")


if __name__ == "__main__":
    main()
