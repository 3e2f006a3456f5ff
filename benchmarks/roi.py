"""What searching only around the previous frame's faces saves (facedb/vision/roi.py):
the detector's time on a 640x480 frame with 1, 2 and 5 faces of about 72 px, full
search against the regions around the faces, 1 onnxruntime thread, the two
alternated frame by frame (median of ``--reps``).

    FACEDB_WEIGHTS=../shared/weights python -m benchmarks.roi --reps 40
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from benchmarks.common import FACES
from benchmarks.scenes import background, face_crop
from facedb.config import Settings
from facedb.vision.pipeline import FacePipeline
from facedb.vision.roi import detect_near, regions, share

SPOTS = ((20, 40), (240, 40), (460, 40), (120, 270), (360, 270))
IDENTITIES = ("7203", "7206", "7210", "7217", "7225")


def frame_with(pipeline: FacePipeline, n: int) -> np.ndarray:
    frame = background().copy()
    for (x, y), identity in list(zip(SPOTS, IDENTITIES, strict=True))[:n]:
        crop = face_crop(pipeline, sorted((FACES / "celeba" / identity).glob("*.jpg"))[0])
        frame[y : y + crop.shape[0], x : x + crop.shape[1]] = crop
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--det-size", type=int, default=640)
    args = parser.parse_args()
    settings = Settings.load({"device": "cpu", "threads": 1, "det_size": args.det_size})
    pipeline = FacePipeline(settings)
    detector = pipeline.detector
    print("| faces | regions | share of the frame | full search ms | regions ms | ratio |")
    print("|---|---|---|---|---|---|")
    for n in (1, 2, 5):
        frame = frame_with(pipeline, n)
        faces = [f for f in pipeline.detect(frame) if f.score >= 0.6]
        boxes = [f.box for f in faces]
        scale = detector.frame_scale(*frame.shape[:2])
        full, near = [], []
        for _ in range(args.reps):
            t0 = time.perf_counter()
            pipeline.detect(frame)
            full.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            detect_near(detector.detect_at, frame, boxes, scale, settings.nms_threshold)
            near.append(time.perf_counter() - t0)
        a, b = 1000 * statistics.median(full), 1000 * statistics.median(near)
        rects = regions(boxes, *frame.shape[:2])
        covered = share(rects, *frame.shape[:2])
        print(f"| {len(faces)} | {len(rects)} | {covered:.2f} | {a:.1f} | {b:.1f} | {a / b:.2f}× |")


if __name__ == "__main__":
    main()
