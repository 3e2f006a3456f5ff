"""The peer: insightface 2.1's own SCRFD and ArcFaceONNX classes on the same model files.

Runs in insightface's own virtualenv (benchmarks/.venv-insightface, made by
benchmarks/peer.py) and never imports facedb. It speaks the protocol of
benchmarks/facedb_worker.py: after loading, one JSON line (versions, load time); then
for each request line on stdin ({"start": i, "stop": j}) the times of images i..j-1
of the list, so that benchmarks/vision.py can alternate the two implementations
every few images:

    benchmarks/.venv-insightface/bin/python benchmarks/peer_insightface.py \
        --images LIST --weights ../shared/weights --threads 1 --batch 1

The models are built with insightface.model_zoo.get_model(path) (no ~/.insightface
model pack), prepared with det size 640x640, threshold 0.5, NMS 0.4, as
FaceAnalysis would. Batch 1 embeds face by face (FaceAnalysis.get calls
ArcFaceONNX.get per face); --batch N detects N images, then embeds all their
aligned faces in one get_feat call. Intra-op threads are set through
onnxruntime.SessionOptions passed to get_model; every other session option is
onnxruntime's default, which is what an insightface user gets.
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

import cv2
import numpy as np

DETECTOR_FILE = "scrfd_2.5g_bnkps.onnx"
EMBEDDER_FILE = "w600k_mbf_int8.onnx"
WARMUP_IMAGES = 2


def _models(weights: Path, threads: int) -> tuple[Any, Any]:
    import insightface
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    providers = ["CPUExecutionProvider"]
    detector = insightface.model_zoo.get_model(
        str(weights / DETECTOR_FILE), providers=providers, sess_options=options
    )
    detector.prepare(0, input_size=(640, 640), det_thresh=0.5, nms_thresh=0.4)
    embedder = insightface.model_zoo.get_model(
        str(weights / EMBEDDER_FILE), providers=providers, sess_options=options
    )
    embedder.prepare(0)
    return detector, embedder


class _Stages:
    def __init__(self) -> None:
        self.seconds = {"decode": 0.0, "detect": 0.0, "align": 0.0, "embed": 0.0}

    def run(self, stage: str, fn: Callable[..., Any], *args: Any) -> Any:
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds[stage] += time.perf_counter() - start


def _analyse(
    paths: list[str], detector: Any, embedder: Any, batch: int, stages: _Stages
) -> list[dict[str, Any]]:
    from insightface.utils import face_align

    results: list[dict[str, Any]] = []
    for start in range(0, len(paths), batch):
        chunk = paths[start : start + batch]
        images = [stages.run("decode", cv2.imread, p) for p in chunk]
        found = [stages.run("detect", detector.detect, im) for im in images]
        crops: list[np.ndarray] = []
        for image, (_, kpss) in zip(images, found, strict=True):
            for kps in kpss:
                crops.append(stages.run("align", face_align.norm_crop, image, kps))
        if batch == 1:
            feats = [stages.run("embed", embedder.get_feat, c) for c in crops]
            vectors = np.concatenate(feats) if feats else np.zeros((0, 512), np.float32)
        elif crops:
            vectors = stages.run("embed", embedder.get_feat, crops)
        else:
            vectors = np.zeros((0, 512), np.float32)
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
        k = 0
        for path, (dets, _) in zip(chunk, found, strict=True):
            n = len(dets)
            results.append(
                {
                    "path": path,
                    "boxes": np.asarray(dets[:, :4], dtype=float).round(2).tolist(),
                    "embeddings": vectors[k : k + n].round(6).tolist(),
                }
            )
            k += n
    return results


def serve(paths: list[str], detector: Any, embedder: Any, batch: int, out: TextIO) -> None:
    """Answers each request line {"start": i, "stop": j, "embeddings": bool} on stdin
    with one JSON line on ``out``: the times of images i..j-1; {"quit": true} ends."""
    for line in sys.stdin:
        request = json.loads(line)
        if request.get("quit"):
            return
        stages = _Stages()
        t0 = time.perf_counter()
        per_image = _analyse(
            paths[request["start"] : request["stop"]], detector, embedder, batch, stages
        )
        wall_s = time.perf_counter() - t0
        reply = {
            "wall_s": wall_s,
            "stages_s": stages.seconds,
            "faces": sum(len(r["boxes"]) for r in per_image),
            "per_image": per_image if request.get("embeddings") else [],
        }
        out.write(json.dumps(reply) + "\n")
        out.flush()


def once(args: argparse.Namespace) -> None:
    """Import, load, analyse every image, print the results, like a script of a user's."""
    import insightface
    import onnxruntime as ort

    paths = [p for p in args.images.read_text().split("\n") if p]
    if args.threads > 0:
        detector, embedder = _models(args.weights, args.threads)
    else:
        providers = ["CPUExecutionProvider"]
        detector = insightface.model_zoo.get_model(
            str(args.weights / DETECTOR_FILE), providers=providers
        )
        detector.prepare(0, input_size=(640, 640), det_thresh=0.5, nms_thresh=0.4)
        embedder = insightface.model_zoo.get_model(
            str(args.weights / EMBEDDER_FILE), providers=providers
        )
        embedder.prepare(0)
    results = _analyse(paths, detector, embedder, args.batch, _Stages())
    print(json.dumps({"onnxruntime": ort.__version__, "images": results}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True, help="file: one image path a line")
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument(
        "--once",
        action="store_true",
        help="a whole command as a user runs it: analyse every image of the list, print "
        "one JSON line of boxes and embeddings, exit (benchmarks/whole_process.py); "
        "--threads 0 leaves onnxruntime its default",
    )
    args = parser.parse_args()
    if args.once:
        once(args)
        return
    # The protocol owns the real stdout; anything a library prints goes to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    import insightface
    import onnxruntime as ort

    paths = [p for p in args.images.read_text().split("\n") if p]
    t0 = time.perf_counter()
    detector, embedder = _models(args.weights, args.threads)
    load_s = time.perf_counter() - t0
    _analyse(paths[:WARMUP_IMAGES], detector, embedder, args.batch, _Stages())
    ready = {
        "impl": "insightface",
        "version": insightface.__version__,
        "onnxruntime": ort.__version__,
        "providers": list(detector.session.get_providers()),
        "load_s": load_s,
    }
    out.write(json.dumps(ready) + "\n")
    out.flush()
    serve(paths, detector, embedder, args.batch, out)


if __name__ == "__main__":
    main()
