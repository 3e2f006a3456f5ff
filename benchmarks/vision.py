"""The vision pipeline against insightface 2.1 on the same model files and images.

End to end (decode, detect, align, embed) in worker processes, one per
implementation and configuration, alternated so that both see the same load; then,
in this process, the evidence behind facedb's choices: the exact model rewrite,
the trimmed detector canvas, the embedder's batch effect, and where the time goes
(onnxruntime per-operator profiles and cProfile).
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from benchmarks.common import REPO, WEIGHTS, benchmark_images
from benchmarks.peer import Peer
from facedb.config import Settings
from facedb.media.images import read_image
from facedb.vision import model_rewrites
from facedb.vision.embedder import ArcFaceEmbedder
from facedb.vision.pipeline import FacePipeline
from facedb.vision.types import DetectedFace

IMPLS = ("facedb", "insightface")


@dataclass(frozen=True)
class Config:
    threads: int
    batch: int
    images: int
    reps: int
    embeddings: bool = False  # the run whose vectors are compared
    det_size: int = 640  # facedb's detector input (0 = auto); insightface always gets 640

    @property
    def label(self) -> str:
        label = f"{self.threads} thread{'s' if self.threads > 1 else ''}, batch {self.batch}"
        if self.det_size == 0:
            return f"{label}, facedb auto scale"
        return label if self.det_size == 640 else f"{label}, facedb det size {self.det_size}"


def configs(quick: bool) -> list[Config]:
    if quick:
        return [Config(1, 1, 16, 1, True), Config(1, 8, 16, 1)]
    return [
        Config(1, 1, 320, 2, True),
        Config(2, 1, 80, 2),
        Config(1, 8, 80, 2),
        Config(2, 8, 80, 2),
        # Not the same settings: facedb's default auto scale (issue 18), and what a fixed
        # `--det-size 480` buys a kiosk whose faces are large.
        Config(1, 1, 80, 2, det_size=0),
        Config(1, 1, 80, 2, det_size=480),
    ]


# -- worker processes ------------------------------------------------------------

CHUNK = 8  # images per request: the implementations alternate every few seconds


class Worker:
    """One implementation in its own process, models loaded once, serving chunks."""

    def __init__(self, command: list[str], log: Path) -> None:
        env = {**os.environ, "FACEDB_WEIGHTS": str(WEIGHTS)}
        self._log = log.open("w")
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self._log, text=True,
        )  # fmt: skip
        self.ready = self._read()

    def _read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            self._log.close()
            raise RuntimeError(f"benchmark worker failed; its log: {self._log.name}")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def run(self, start: int, stop: int, embeddings: bool) -> dict[str, Any]:
        assert self.process.stdin is not None
        request = {"start": start, "stop": stop, "embeddings": embeddings}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return self._read()

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"quit": True}) + "\n")
        self.process.stdin.close()
        self.process.wait(timeout=60)
        self._log.close()


def _worker_command(impl: str, peer: Peer, config: Config, images: Path) -> list[str]:
    common = ["--images", str(images), "--threads", str(config.threads)]
    common += ["--batch", str(config.batch)]
    if impl == "facedb":
        det = ["--det-size", str(config.det_size)]
        return [sys.executable, "-m", "benchmarks.facedb_worker", *common, *det]
    assert peer.python is not None
    script = REPO / "benchmarks" / "peer_insightface.py"
    return [str(peer.python), "-W", "ignore", str(script), "--weights", str(WEIGHTS), *common]


def _run_config(config: Config, impls: Sequence[str], peer: Peer, tmp: Path) -> dict[str, Any]:
    """Every image ``reps`` times per implementation, alternating chunk by chunk."""
    paths = benchmark_images(config.images)
    images = tmp / "images.txt"
    images.write_text("\n".join(str(p) for p in paths))
    workers = {i: Worker(_worker_command(i, peer, config, images), tmp / f"{i}.log") for i in impls}
    chunks = [(k, min(k + CHUNK, len(paths))) for k in range(0, len(paths), CHUNK)]
    replies: dict[str, list[list[dict[str, Any]]]] = {i: [] for i in impls}
    try:
        for rep in range(config.reps):
            print(f"  pipeline {config.label}: pass {rep + 1} of {config.reps}", file=sys.stderr)
            for i in impls:
                replies[i].append([])
            for j, (start, stop) in enumerate(chunks):
                for impl in impls if (j + rep) % 2 == 0 else impls[::-1]:
                    reply = workers[impl].run(start, stop, config.embeddings and rep == 0)
                    replies[impl][rep].append(reply)
    finally:
        for worker in workers.values():
            worker.close()
    return _summarise(config, len(paths), {i: workers[i].ready for i in impls}, replies)


def run_configs(peer: Peer, quick: bool) -> list[dict[str, Any]]:
    impls = IMPLS if peer.python is not None else ("facedb",)
    with tempfile.TemporaryDirectory(prefix="facedb-bench-") as tmp:
        return [_run_config(c, impls, peer, Path(tmp)) for c in configs(quick)]


def _summarise(
    config: Config,
    images: int,
    ready: dict[str, dict[str, Any]],
    replies: dict[str, list[list[dict[str, Any]]]],
) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "label": config.label,
        "threads": config.threads,
        "batch": config.batch,
        "images": images,
        "reps": config.reps,
        "chunk": CHUNK,
        "det_size": config.det_size,
    }
    for impl, passes in replies.items():
        summary[impl] = {
            **ready[impl],
            "faces": sum(r["faces"] for r in passes[0]),
            "wall_s": [sum(r["wall_s"] for r in p) for p in passes],
            "stages_s": [
                {k: sum(r["stages_s"][k] for r in p) for k in passes[0][0]["stages_s"]}
                for p in passes
            ],
        }
    if len(replies) == 2:
        ours, theirs = replies["facedb"], replies["insightface"]
        summary["chunk_ratios"] = [
            t["wall_s"] / o["wall_s"]
            for op, tp in zip(ours, theirs, strict=True)
            for o, t in zip(op, tp, strict=True)
        ]
        if config.embeddings:
            summary["agreement"] = agreement(
                [x for r in ours[0] for x in r["per_image"]],
                [x for r in theirs[0] for x in r["per_image"]],
            )
    return summary


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union if union > 0 else 0.0


def agreement(ours: list[dict[str, Any]], theirs: list[dict[str, Any]]) -> dict[str, Any]:
    """Faces matched by box (IoU >= 0.5) and the cosine of their embeddings."""
    cosines: list[float] = []
    unmatched = 0
    where: list[str] = []
    for mine, peer in zip(ours, theirs, strict=True):
        used: set[int] = set()
        for box, vector in zip(peer["boxes"], peer["embeddings"], strict=True):
            ious = [_iou(box, b) for b in mine["boxes"]]
            best = int(np.argmax(ious)) if ious else -1
            if best < 0 or ious[best] < 0.5 or best in used:
                unmatched += 1
                where.append(f"{Path(peer['path']).name} (insightface only)")
                continue
            used.add(best)
            cosines.append(float(np.dot(vector, mine["embeddings"][best])))
        extra = len(mine["boxes"]) - len(used)
        unmatched += extra
        where += [f"{Path(mine['path']).name} (facedb only)"] * extra
    values = np.asarray(cosines)
    return {
        "matched": len(cosines),
        "unmatched": unmatched,
        "cos_min": float(values.min()) if cosines else float("nan"),
        "cos_p1": float(np.percentile(values, 1)) if cosines else float("nan"),
        "cos_median": float(np.median(values)) if cosines else float("nan"),
        "below_0_99": int((values < 0.99).sum()),
        "unmatched_faces": where,
        "cosines": [round(c, 5) for c in cosines],
    }


# -- in-process evidence -----------------------------------------------------------


def _pipeline(threads: int = 1) -> FacePipeline:
    pipeline = FacePipeline(Settings.load({"device": "cpu", "threads": threads}))
    pipeline.load()
    return pipeline


def _options(threads: int = 1, profile: str | None = None) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    if profile is not None:
        options.enable_profiling = True
        options.profile_file_prefix = profile
    return options


def _time_each(fns: dict[str, Callable[[], object]], reps: int) -> dict[str, list[float]]:
    """Seconds per call of each function, alternated, ``reps`` times each."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            samples[name].append(time.perf_counter() - start)
    return samples


def crops_of(pipeline: FacePipeline, paths: Sequence[Path]) -> list[np.ndarray]:
    analysed = pipeline.analyse([read_image(p) for p in paths], embed=False)
    return [face.aligned for faces in analysed for face in faces if face.aligned is not None]


def rewrite_evidence(pipeline: FacePipeline, crops: list[np.ndarray], reps: int) -> dict[str, Any]:
    """The embedder as published (ConvInteger, PRelu) against facedb's exact rewrite."""
    path = pipeline.registry.verified_path(pipeline.embedder_name)
    rewritten = pipeline.embedder
    original = ArcFaceEmbedder(
        ort.InferenceSession(str(path), _options()), rewritten.preprocessing, chunk=1
    )
    a, b = original.embed(crops), rewritten.embed(crops)
    one = crops[:1]
    times = _time_each(
        {"original": lambda: original.embed(one), "rewritten": lambda: rewritten.embed(one)}, reps
    )
    return {
        "faces": len(crops),
        "max_abs_diff": float(np.abs(a - b).max()),
        "cos_min": float((a * b).sum(axis=1).min()),
        "ms_original": [t * 1000 for t in times["original"]],
        "ms_rewritten": [t * 1000 for t in times["rewritten"]],
    }


def batch_effect(pipeline: FacePipeline, crops: list[np.ndarray], reps: int) -> dict[str, Any]:
    """Cosine between a face embedded alone and in a batch of 8 (int8 activation
    scales are computed over the whole batch), and the time per face of each."""
    single = pipeline.embedder
    batched = ArcFaceEmbedder(single.session, single.preprocessing, chunk=8)
    a, b = single.embed(crops), batched.embed(crops)
    cos = (a * b).sum(axis=1)
    eight = (crops * 8)[:8]
    times = _time_each(
        {"batch 1": lambda: single.embed(eight), "batch 8": lambda: batched.embed(eight)}, reps
    )
    return {
        "faces": len(crops),
        "cos_min": float(cos.min()),
        "cos_median": float(np.median(cos)),
        "cos_p5": float(np.percentile(cos, 5)),
        "ms_per_face_batch1": [t * 1000 / 8 for t in times["batch 1"]],
        "ms_per_face_batch8": [t * 1000 / 8 for t in times["batch 8"]],
    }


def _match_shift(full: list[DetectedFace], trimmed: list[DetectedFace]) -> tuple[int, float]:
    """(faces not found in both, largest key-point shift in px among matched)."""
    shift = 0.0
    missing = abs(len(full) - len(trimmed))
    for face in full:
        ious = [_iou(face.box.tolist(), t.box.tolist()) for t in trimmed]
        if not ious or max(ious) < 0.5:
            missing += 1
            continue
        other = trimmed[int(np.argmax(ious))]
        shift = max(shift, float(np.abs(face.landmarks - other.landmarks).max()))
    return missing, shift


def trim_evidence(pipeline: FacePipeline, paths: Sequence[Path]) -> dict[str, Any]:
    """The detector on the trimmed canvas (facedb) against the full 640x640 square."""
    detector = pipeline.detector
    images = [read_image(p) for p in paths]
    missing, shift = 0, 0.0
    seconds = {"square": 0.0, "trimmed": 0.0}
    for image in images:
        results = {}
        for mode in ("square", "trimmed"):
            detector.trim = mode == "trimmed"
            start = time.perf_counter()
            results[mode] = detector.detect(image)
            seconds[mode] += time.perf_counter() - start
        m, s = _match_shift(results["square"], results["trimmed"])
        missing, shift = missing + m, max(shift, s)
    detector.trim = True
    return {
        "images": len(images),
        "faces_differing": missing,
        "max_keypoint_shift_px": shift,
        "ms_square": seconds["square"] * 1000 / len(images),
        "ms_trimmed": seconds["trimmed"] * 1000 / len(images),
    }


def op_profile(
    model: str | bytes, shape: tuple[int, ...], runs: int = 5
) -> list[tuple[str, float]]:
    """(operator type, share of kernel time) from onnxruntime's profiler, largest first."""
    with tempfile.TemporaryDirectory(prefix="facedb-bench-ort-") as tmp:
        session = ort.InferenceSession(model, _options(profile=f"{tmp}/p"))
        name = session.get_inputs()[0].name
        blob = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
        for _ in range(runs):
            session.run(None, {name: blob})
        events = json.loads(Path(session.end_profiling()).read_text())
    totals: Counter[str] = Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            totals[event["args"]["op_name"]] += event["dur"]
    whole = sum(totals.values()) or 1
    return [(op, us / whole) for op, us in totals.most_common(6)]


def op_profiles(pipeline: FacePipeline) -> dict[str, Any]:
    registry = pipeline.registry
    det = registry.verified_path(pipeline.detector_name)
    emb = registry.verified_path(pipeline.embedder_name)
    model = onnx.load(str(emb))
    model_rewrites.integer_convs_as_float(model)
    model_rewrites.prelu_as_relu_min(model)
    return {
        "detector 640x640": op_profile(str(det), (1, 3, 640, 640)),
        "embedder as published": op_profile(str(emb), (1, 3, 112, 112)),
        "embedder rewritten": op_profile(model.SerializeToString(), (1, 3, 112, 112)),
    }


def python_profile(pipeline: FacePipeline, paths: Sequence[Path]) -> list[tuple[str, float]]:
    """(function, share of total time) of read_image + analyse, largest own time first."""
    profiler = cProfile.Profile()
    profiler.enable()
    for path in paths:
        pipeline.analyse([read_image(path)])
    profiler.disable()
    stats = pstats.Stats(profiler)
    entries = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in entries.values()) or 1.0
    rows = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)[:8]
    return [(_function_label(key), value[2] / total) for key, value in rows]


def _function_label(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name.replace("<built-in method ", "").strip("<>")
    short = filename.split("site-packages/")[-1].split("/main/")[-1]
    return f"{short}:{line} {name}"


def run(peer: Peer, quick: bool) -> dict[str, Any]:
    print("benchmarks: vision pipeline", file=sys.stderr)
    results: dict[str, Any] = {"configs": run_configs(peer, quick)}
    pipeline = _pipeline()
    sample = benchmark_images(8 if quick else 40)
    crops = crops_of(pipeline, sample)
    reps = 5 if quick else 20
    results["rewrite"] = rewrite_evidence(pipeline, crops, reps)
    results["batch_effect"] = batch_effect(pipeline, crops, reps)
    results["trim"] = trim_evidence(pipeline, benchmark_images(16 if quick else 120))
    results["ops"] = op_profiles(pipeline)
    results["profile"] = python_profile(pipeline, sample)
    return results
