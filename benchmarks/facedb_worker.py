"""facedb's side of the pipeline comparison: one process, one configuration.

Decodes with facedb's read_image and analyses with FacePipeline.analyse, the path
that enrol and verify use (it also runs the quality gate on every face: counted in
"other"). Stage times come from timing wrappers put around the detector's detect,
the pipeline's align_face and the embedder's embed, so the pipeline itself runs
unchanged. Speaks the same line protocol as benchmarks/peer_insightface.py:

    python -m benchmarks.facedb_worker --images LIST --threads 1 --batch 1
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import onnxruntime as ort

import facedb
import facedb.vision.pipeline as pipeline_module
from facedb.config import Settings
from facedb.media.images import read_image
from facedb.vision.pipeline import FacePipeline

WARMUP_IMAGES = 2


class _Stages:
    def __init__(self) -> None:
        self.seconds = {"decode": 0.0, "detect": 0.0, "align": 0.0, "embed": 0.0}

    def wrap(self, stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[stage] += time.perf_counter() - start

        return timed

    def reset(self) -> None:
        for stage in self.seconds:
            self.seconds[stage] = 0.0


def instrument(pipeline: FacePipeline, stages: _Stages) -> None:
    """Time detect, align and embed inside an unchanged FacePipeline.analyse."""
    setattr(pipeline.detector, "detect", stages.wrap("detect", pipeline.detector.detect))  # noqa: B010
    setattr(pipeline.embedder, "embed", stages.wrap("embed", pipeline.embedder.embed))  # noqa: B010
    align = getattr(pipeline_module, "align_face")  # noqa: B009
    setattr(pipeline_module, "align_face", stages.wrap("align", align))  # noqa: B010


def analyse(
    paths: list[str], pipeline: FacePipeline, batch: int, stages: _Stages
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    decode = stages.wrap("decode", read_image)
    for start in range(0, len(paths), batch):
        chunk = paths[start : start + batch]
        images = [decode(Path(p)) for p in chunk]
        for path, faces in zip(chunk, pipeline.analyse(images), strict=True):
            vectors = [f.embedding for f in faces if f.embedding is not None]
            results.append(
                {
                    "path": path,
                    "boxes": [np.asarray(f.face.box, float).round(2).tolist() for f in faces],
                    "embeddings": [np.asarray(v).round(6).tolist() for v in vectors],
                }
            )
    return results


def serve(paths: list[str], pipeline: FacePipeline, batch: int, out: TextIO) -> None:
    """Answers each request line {"start": i, "stop": j, "embeddings": bool} on stdin
    with one JSON line on ``out``: the times of images i..j-1; {"quit": true} ends."""
    stages = _Stages()
    instrument(pipeline, stages)
    analyse(paths[:WARMUP_IMAGES], pipeline, batch, stages)
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("quit"):
            return
        stages.reset()
        t0 = time.perf_counter()
        per_image = analyse(paths[request["start"] : request["stop"]], pipeline, batch, stages)
        wall_s = time.perf_counter() - t0
        reply = {
            "wall_s": wall_s,
            "stages_s": dict(stages.seconds),
            "faces": sum(len(r["boxes"]) for r in per_image),
            "per_image": per_image if request.get("embeddings") else [],
        }
        out.write(json.dumps(reply) + "\n")
        out.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True, help="file: one image path a line")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--det-size", type=int, default=640)
    args = parser.parse_args()
    out = os.fdopen(os.dup(1), "w")  # the protocol's; stray prints go to stderr
    os.dup2(2, 1)

    paths = [p for p in args.images.read_text().split("\n") if p]
    settings = {"device": "cpu", "threads": args.threads, "det_size": args.det_size}
    pipeline = FacePipeline(Settings.load(settings))
    t0 = time.perf_counter()
    pipeline.load()
    ready = {
        "impl": "facedb",
        "version": facedb.__version__,
        "onnxruntime": ort.__version__,
        "providers": sorted(set(pipeline.providers().values())),
        "load_s": time.perf_counter() - t0,
    }
    out.write(json.dumps(ready) + "\n")
    out.flush()
    serve(paths, pipeline, args.batch, out)


if __name__ == "__main__":
    main()
