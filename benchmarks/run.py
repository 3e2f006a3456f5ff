"""facedb's benchmarks: `make bench` (full) and `make bench-quick` (CI-sized, < 5 min).

    python -m benchmarks.run --full             # writes docs/BENCHMARKS.md and docs/bench_*.png
    python -m benchmarks.run --quick            # writes benchmarks/results/quick/BENCHMARKS.md
    python -m benchmarks.run --full --only matching --gallery-sizes 10000,100000,1000000
    python -m benchmarks.run --full --render    # re-render the document from saved results

Sections: vision (facedb against insightface 2.1 on the same models and images),
whole (the same as whole commands, a new process each, start-up included),
matching (1:N in PostgreSQL at 10k-100k faces against FAISS), reports (1M attendance
rows), enrolment (`enrol --from-dir` and its database share). Raw results are kept
in benchmarks/results/<mode>.json (gitignored); each run replaces the sections it
ran and keeps the others. The targets the results are held to are in
benchmarks/targets.py; benchmarks/render/ writes the document.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnxruntime as ort

from benchmarks import common, enrolment, matching, reports, synth, vision, whole_process
from benchmarks.peer import ensure_peer
from benchmarks.render.document import render

SECTIONS = ("vision", "whole", "matching", "reports", "enrolment")


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cpu": common.cpu_model(),
        "memory_gib": round(common.memory_gib(), 1),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "ort_providers": ort.get_available_providers(),
        "load_average_start": common.load_average(),
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
    }


def _vision(quick: bool, args: argparse.Namespace) -> dict[str, Any]:
    peer = ensure_peer()
    result = vision.run(peer, quick)
    result["peer"] = {
        "insightface": peer.insightface,
        "onnxruntime": peer.onnxruntime,
        "error": peer.error,
    }
    return result


def _matching(quick: bool, args: argparse.Namespace) -> dict[str, Any]:
    real = synth.real_embeddings(limit=100 if quick else None)
    model = synth.fit(real, isotropic=args.synth == "isotropic")
    result = matching.run(real, model, quick, args.gallery_sizes)
    result["synth"] = {
        "real_faces": len(real.identity),
        "a": model.a,
        "t_median": model.t_median,
        "t_sigma": model.t_sigma,
        "isotropic": model.isotropic,
        "shrink": synth.SHRINK,
        "participation_real": synth.participation_ratio(real.vectors),
        "participation_isotropic": synth.participation_ratio(synth.isotropic_like(real.vectors)),
        "distributions": synth.distributions(real, model),
    }
    return result


def _whole(quick: bool, args: argparse.Namespace) -> dict[str, Any]:
    # One onnxruntime thread each: the CPU times then compare the work, not how long
    # idle threads spin on a machine that others share.
    return whole_process.run(16 if quick else 40, 1 if quick else 3, threads=1)


def _reports(quick: bool, args: argparse.Namespace) -> dict[str, Any]:
    return reports.run(quick)


def _enrolment(quick: bool, args: argparse.Namespace) -> dict[str, Any]:
    return enrolment.run(quick)


RUNNERS: dict[str, Callable[[bool, argparse.Namespace], dict[str, Any]]] = {
    "vision": _vision,
    "whole": _whole,
    "matching": _matching,
    "reports": _reports,
    "enrolment": _enrolment,
}


def _sizes(value: str) -> list[int]:
    return [int(v) for v in value.split(",") if v]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="the published numbers (long)")
    mode.add_argument("--quick", action="store_true", help="CI-sized, under 5 minutes")
    parser.add_argument("--only", default=",".join(SECTIONS), help="sections, comma-separated")
    parser.add_argument("--gallery-sizes", type=_sizes, default=None, help="e.g. 10000,100000")
    parser.add_argument(
        "--synth",
        choices=("real-covariance", "isotropic"),
        default="real-covariance",
        help="shape of the synthetic gallery's random directions",
    )
    parser.add_argument("--render", action="store_true", help="only re-render the document")
    parser.add_argument("--out", type=Path, default=None, help="the Markdown file to write")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    # A kill runs the finally blocks too: the benchmark's PostgreSQL is stopped, its
    # folder removed, the worker processes closed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args(argv)
    quick = not args.full
    mode = "quick" if quick else "full"
    store = common.RESULTS / f"{mode}.json"
    out = args.out or (
        common.RESULTS / "quick" / "BENCHMARKS.md"
        if quick
        else common.REPO / "docs" / "BENCHMARKS.md"
    )
    results: dict[str, Any] = json.loads(store.read_text()) if store.exists() else {}
    started = time.perf_counter()
    if not args.render:
        results["mode"] = mode
        results["machine"] = machine()
        for section in args.only.split(","):
            if section not in RUNNERS:
                raise SystemExit(f"unknown section {section!r}: choose from {', '.join(SECTIONS)}")
            t0 = time.perf_counter()
            results[section] = RUNNERS[section](quick, args)
            results[section]["seconds"] = time.perf_counter() - t0
            store.parent.mkdir(parents=True, exist_ok=True)
            store.write_text(json.dumps(results, indent=1))
        results["machine"]["load_average_end"] = common.load_average()
        results["seconds"] = time.perf_counter() - started
        store.write_text(json.dumps(results, indent=1))
    if not quick:
        results["standalone"] = common.standalone_measured()
    render(results, out)
    print(f"benchmarks: wrote {out} in {time.perf_counter() - started:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
