"""Whole commands, as a user runs them: `facedb detect` against an insightface script,
each a new process (benchmarks/whole_process.py measures them)."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.render.common import Measured, table


def _cell(row: dict[str, Any]) -> list[str]:
    walls, cpus = row["wall_s"], row["cpu_s"]
    return [
        f"{statistics.median(walls):.2f} ({min(walls):.2f}–{max(walls):.2f})",
        f"{statistics.median(cpus):.2f} ({min(cpus):.2f}–{max(cpus):.2f})",
        f"**{row['speedup_cpu']:.2f}×**",
        f"{statistics.median(row['one_image_s']):.2f}",
        f"{row['marginal_ms_per_image']:.0f}",
        f"{row['images_per_s']:.2f}",
        f"{row['speedup_whole']:.2f}×",
        f"{row['speedup_marginal']:.2f}×",
        str(row["faces"]),
    ]


def section(result: dict[str, Any]) -> str:
    header = [
        "command",
        "wall s, median (range)",
        "CPU s, median (range)",
        "speed-up, CPU",
        "one image s",
        "ms per more image",
        "images/s",
        "speed-up, whole",
        "speed-up per image",
        "faces",
    ]
    rows = [[name, *_cell(row)] for name, row in result["results"].items()]
    return (
        "## Whole commands, as a user runs them\n\n"
        f"`facedb detect --json --embeddings --no-liveness` on {result['images']} of the "
        "shared images against a script doing the same with insightface "
        f"{result.get('insightface', '2.1')} on the same model files "
        "(benchmarks/peer_insightface.py --once), each a new process timed from spawn to "
        "exit: Python imports, model loading (facedb's load-time rewrite of the int8 "
        "embedder included), every image, the JSON printed. The commands alternate, who "
        f"goes first alternating, {result['reps']} times; "
        + (
            f"{result['threads']} onnxruntime thread(s) for both. "
            if result.get("threads")
            else "onnxruntime's default threads for both. "
        )
        + "*CPU s* is the process's user + system time, all threads: far less "
        "sensitive than the wall clock to what else the shared machine runs, so its ratio "
        "is the one to read when the load average is above the core count. "
        "*One image* is the same command on the first image alone (the fixed cost of "
        "a process); *ms per more image* is (all − one) / (images − 1). facedb runs with "
        "its default detector input (the auto scale, vision/detector.py); *letterbox 640* "
        "with FACEDB_DET_SIZE=640 (insightface's input); *with liveness* is what `facedb detect --embeddings` "
        "does by default when the liveness model file is there (a liveness score per "
        "face, which insightface does not compute). benchmarks/whole_process.py.\n\n"
        + table(header, rows)
        + "\n\nThe steady-state table of section 1 times one process that has already "
        "loaded its models; a user who runs one command per batch of photos pays the "
        "start-up too (imports and model loading: the *one image* column)."
    )


def measurements(result: dict[str, Any]) -> list[Measured]:
    """facedb's default against insightface, the 640 letterbox beside it; the slower of
    the CPU and wall ratios is the one compared with the target."""
    mine, box = result["results"]["facedb"], result["results"]["facedb letterbox 640"]
    return [
        Measured(
            "whole.speedup",
            min(mine["speedup_cpu"], mine["speedup_whole"]),
            f"{mine['speedup_cpu']:.2f}× in CPU time, {mine['speedup_whole']:.2f}× in wall "
            f"time (640 letterbox: {box['speedup_cpu']:.2f}×, {box['speedup_whole']:.2f}×)",
            f"{result['images']} images",
        )
    ]
