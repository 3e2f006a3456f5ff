"""Whole commands side by side, as a user runs them (issue 18): `facedb detect --json
--embeddings IMAGES...` against a script that does the same with insightface 2.1 on the
same model files (benchmarks/peer_insightface.py --once: import, load the models,
cv2.imread + SCRFD.detect + norm_crop + ArcFaceONNX.get_feat per image, print JSON).

Each process is timed from spawn to exit (wall clock), so that imports, model loading
(facedb's load-time rewrite of the int8 embedder included) and printing count. The two
alternate, who goes first alternating, ``reps`` times; a one-image run of each gives
the fixed cost per process, and the marginal time per image is the difference. Both
run with onnxruntime's default threads, as a user gets them. facedb runs with
`--no-liveness` (insightface has no liveness model) with its default detector input
(the auto scale), then with FACEDB_DET_SIZE=640 (insightface's letterbox), then as
`facedb detect --embeddings` runs by default when the liveness model file is there
(a liveness score for every face too).

    FACEDB_WEIGHTS=../shared/weights python -m benchmarks.whole_process --images 40 --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import REPO, WEIGHTS, benchmark_images
from benchmarks.peer import ensure_peer

FACEDB = Path(sys.executable).parent / "facedb"


def _facedb(
    paths: list[Path], det_size: int | None, liveness: bool = False, threads: int = 0
) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "FACEDB_WEIGHTS": str(WEIGHTS), "FACEDB_DEVICE": "cpu"}
    env["FACEDB_THREADS"] = str(threads)
    env.pop("FACEDB_DET_SIZE", None)
    if det_size is not None:
        env["FACEDB_DET_SIZE"] = str(det_size)
    command = [str(FACEDB), "detect", "--json", "--embeddings"]
    command.append("--liveness" if liveness else "--no-liveness")
    return [*command, *map(str, paths)], env


def _insightface(python: Path, listing: Path, threads: int = 0) -> tuple[list[str], dict[str, str]]:
    script = REPO / "benchmarks" / "peer_insightface.py"
    command = [str(python), "-W", "ignore", str(script), "--once", "--threads", str(threads)]
    return [*command, "--weights", str(WEIGHTS), "--images", str(listing)], dict(os.environ)


def _timed(command: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds of the whole process, its CPU seconds (user + system, all its
    threads), and the faces it reported."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} exited {done.returncode}: {done.stderr[-2000:]}")
    try:  # facedb prints indented JSON; the peer one line after whatever insightface printed
        data = json.loads(done.stdout)
    except json.JSONDecodeError:
        data = json.loads(done.stdout.strip().splitlines()[-1])
    faces = sum(len(image.get("faces", image.get("boxes", []))) for image in data["images"])
    return wall, cpu, faces


def run(n_images: int, reps: int, threads: int = 0) -> dict[str, Any]:
    """``threads`` 0: onnxruntime's default for both (as a user runs them)."""
    peer = ensure_peer()
    if peer.python is None:
        raise RuntimeError(f"insightface could not be installed: {peer.error}")
    paths = benchmark_images(n_images)
    with tempfile.TemporaryDirectory(prefix="facedb-bench-") as tmp:
        listing, one = Path(tmp) / "all.txt", Path(tmp) / "one.txt"
        listing.write_text("\n".join(map(str, paths)))
        one.write_text(str(paths[0]))
        commands = {
            # As a user runs it: the default detector input (the auto scale).
            "facedb": (
                _facedb(paths, None, threads=threads),
                _facedb(paths[:1], None, threads=threads),
            ),
            "facedb letterbox 640": (
                _facedb(paths, 640, threads=threads),
                _facedb(paths[:1], 640, threads=threads),
            ),
            # What `facedb detect --embeddings` does by default when the liveness model
            # is there: a liveness score per face too (insightface has none).
            "facedb with liveness": (
                _facedb(paths, None, liveness=True, threads=threads),
                _facedb(paths[:1], None, liveness=True, threads=threads),
            ),
            "insightface": (
                _insightface(peer.python, listing, threads),
                _insightface(peer.python, one, threads),
            ),
        }
        walls: dict[str, list[float]] = {k: [] for k in commands}
        cpus: dict[str, list[float]] = {k: [] for k in commands}
        fixed: dict[str, list[float]] = {k: [] for k in commands}
        faces: dict[str, int] = {}
        names = list(commands)
        for rep in range(reps):
            order = names if rep % 2 == 0 else names[::-1]
            for name in order:
                (many, single) = commands[name]
                wall, cpu, faces[name] = _timed(*many)
                walls[name].append(wall)
                cpus[name].append(cpu)
                fixed[name].append(_timed(*single)[0])
                print(f"  {name}: {wall:.2f} s ({rep + 1}/{reps})", file=sys.stderr)
    rows: dict[str, dict[str, Any]] = {}
    for name in names:
        total, start = statistics.median(walls[name]), statistics.median(fixed[name])
        rows[name] = {
            "wall_s": walls[name],
            "cpu_s": cpus[name],
            "one_image_s": fixed[name],
            "images_per_s": len(paths) / total,
            "marginal_ms_per_image": 1000 * (total - start) / max(1, len(paths) - 1),
            "faces": faces[name],
        }
    base = statistics.median(walls["insightface"])
    base_cpu = statistics.median(cpus["insightface"])
    for name in names:
        rows[name]["speedup_whole"] = base / statistics.median(walls[name])
        rows[name]["speedup_cpu"] = base_cpu / statistics.median(cpus[name])
        peer_marginal = rows["insightface"]["marginal_ms_per_image"]
        rows[name]["speedup_marginal"] = peer_marginal / rows[name]["marginal_ms_per_image"]
    return {
        "images": len(paths),
        "reps": reps,
        "threads": threads,
        "results": rows,
        "onnxruntime": peer.onnxruntime,
        "insightface": peer.insightface,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=0, help="onnxruntime threads for both (0: its default)"
    )
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.images, args.reps, args.threads)
    out = json.dumps(result, indent=2)
    if args.json is not None:
        args.json.write_text(out, encoding="utf-8")
    print(out)


if __name__ == "__main__":
    main()
