"""What the flip recipes cost and how close the embedder's float form is (issue 33).

    python -m benchmarks.flip [--people 40] [--passes 7] [--threads 1]

Side by side in one process, on aligned crops of the shared CelebA photos (facedb's own
detector and alignment), the passes interleaved so that every configuration sees the
same load: ms a face for the int8 model (one crop a run: the plain recipe), the int8
flip (two runs a face), the float form at batch 1, 2 (a face and its mirror image: the
float flip) and 8, and the float flip through the pipeline; then how far the float
form's vectors are from the int8 model's, and whether its outputs depend on the batch.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.common import FACES, WEIGHTS, cpu_model, load_average
from facedb.config import Settings
from facedb.media.images import read_image
from facedb.numeric import l2_normalize
from facedb.vision import recipes
from facedb.vision.dequantize import float_model
from facedb.vision.pipeline import FacePipeline

MODEL = "w600k_mbf_int8"


def crops(pipeline: FacePipeline, people: int) -> list[np.ndarray]:
    """The first two photos' aligned main face of the first ``people`` CelebA people."""
    found: list[np.ndarray] = []
    folders = sorted(p for p in (FACES / "celeba").iterdir() if p.is_dir())[:people]
    for folder in folders:
        for photo in sorted(folder.glob("*.jpg"))[:2]:
            faces = pipeline.analyse([read_image(str(photo))], embed=False)[0]
            if faces and faces[0].aligned is not None:
                found.append(faces[0].aligned)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=40)
    parser.add_argument("--passes", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="facedb-flip-bench-"))
    settings = Settings(home=home, weights=WEIGHTS, threads=args.threads, device="cpu")
    plain_name, (flip_name, float_flip_name) = MODEL, recipes.flip_names(MODEL)
    plain = FacePipeline(settings, recipe=plain_name)
    old_flip = FacePipeline(settings, plain.registry, recipe=flip_name)
    new_flip = FacePipeline(settings, plain.registry, recipe=float_flip_name)
    faces = crops(plain, args.people)
    start = time.perf_counter()
    float_model(plain.registry.verified_path(MODEL))
    transform_s = time.perf_counter() - start
    int8 = plain.registry.session(MODEL)
    start = time.perf_counter()
    floats = plain.registry.session(MODEL, float_activations=True)
    load_s = time.perf_counter() - start
    prep = plain.embedder.preprocessing

    def raw(batch: int, session: object) -> Callable[[int], None]:
        run = session.run  # type: ignore[attr-defined]

        def go(i: int) -> None:
            if i % batch == 0:
                run(None, {"input.1": prep.blob(faces[i : i + batch])})

        return go

    def per_face(pipeline: FacePipeline) -> Callable[[int], None]:
        def go(i: int) -> None:
            pipeline.embed_aligned([faces[i]])

        return go

    def float_pair(i: int) -> None:
        pair = [faces[i], np.ascontiguousarray(faces[i][:, ::-1])]
        floats.run(None, {"input.1": prep.blob(pair)})

    configs: dict[str, Callable[[int], None]] = {
        "int8, batch 1 (a face of the plain recipe)": raw(1, int8),
        "float form, batch 1": raw(1, floats),
        "float form, batch 2 (a face + its mirror)": float_pair,
        "float form, batch 8": raw(8, floats),
        f"{plain_name} embed_aligned, 1 face a call": per_face(plain),
        f"{flip_name} embed_aligned (2 runs a face)": per_face(old_flip),
        f"{float_flip_name} embed_aligned (1 run a face)": per_face(new_flip),
    }
    for go in configs.values():
        for i in range(min(8, len(faces))):
            go(i)  # warm: the first runs plan and allocate
    # Interleaved face by face, so that every configuration sees the same load; CPU
    # time (one onnxruntime thread) changes less with other jobs than wall time.
    wall: dict[str, list[float]] = {label: [] for label in configs}
    cpu: dict[str, list[float]] = {label: [] for label in configs}
    load_before = load_average()
    for _ in range(args.passes):
        totals = {label: [0.0, 0.0] for label in configs}
        for i in range(len(faces)):
            for label, go in configs.items():
                w, c = time.perf_counter(), time.process_time()
                go(i)
                totals[label][0] += time.perf_counter() - w
                totals[label][1] += time.process_time() - c
        for label, (w_s, c_s) in totals.items():
            wall[label].append(w_s * 1000 / len(faces))
            cpu[label].append(c_s * 1000 / len(faces))
    print(f"CPU: {cpu_model()}; onnxruntime threads: {args.threads}; {len(faces)} crops")
    print(f"load average {load_before} -> {load_average()}")
    print(f"float form made in {transform_s * 1000:.0f} ms (after onnx is imported);")
    print(f"its session created in {load_s * 1000:.0f} ms (first use, kept afterwards)")
    print("| configuration | wall ms a face: median (min–max) of passes | CPU ms a face |")
    print("|---|---|---|")
    for label in configs:
        w_ms, c_ms = wall[label], cpu[label]
        print(
            f"| {label} | {statistics.median(w_ms):.1f} ({min(w_ms):.1f}–{max(w_ms):.1f}) "
            f"| {statistics.median(c_ms):.1f} |"
        )

    def vectors(session: object, batch: int, images: list[np.ndarray]) -> np.ndarray:
        run = session.run  # type: ignore[attr-defined]
        parts = [
            np.asarray(run(None, {"input.1": prep.blob(images[s : s + batch])})[0])
            for s in range(0, len(images), batch)
        ]
        return l2_normalize(np.concatenate(parts).astype(np.float32))

    a, b1 = vectors(int8, 1, faces), vectors(floats, 1, faces)
    b2, b8 = vectors(floats, 2, faces), vectors(floats, 8, faces)
    cosine = np.sum(a * b1, axis=1)
    print(
        f"cosine float form to int8, a face: min {cosine.min():.4f}, "
        f"5th pct {np.percentile(cosine, 5):.4f}, median {np.median(cosine):.4f}"
    )
    print(f"float form, batch 2 against 1: max |diff| {np.abs(b2 - b1).max():.2e}; ")
    print(f"batch 8 against 1: max |diff| {np.abs(b8 - b1).max():.2e}")
    a8 = vectors(int8, 8, faces)
    print(f"(int8 batch 8 against 1: min cosine {np.sum(a8 * a, axis=1).min():.4f})")
    old, new = old_flip.embed_aligned(faces), new_flip.embed_aligned(faces)
    flip_cos = np.sum(old * new, axis=1)
    print(
        f"cosine {float_flip_name} to {flip_name}: min {flip_cos.min():.4f}, median "
        f"{np.median(flip_cos):.4f}"
    )


if __name__ == "__main__":
    main()
