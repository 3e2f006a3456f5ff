"""How long `facedb --help`, `facedb users list` and `facedb report --date today` take
as new processes, against `python -c pass` measured in the same run (issue 31).

The database is a fresh embedded one with a few people (`facedb init`, three enrolled),
already running, as on a kiosk. Each command runs --runs times, interleaved with the
others; medians and ranges of wall time.

    python -m benchmarks.startup --runs 5 --write docs/BENCHMARKS.md
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import write_section

HEADING = "## CLI start-up (issue 31)"
SHARED = Path(__file__).resolve().parents[2] / "shared"
COMMANDS: dict[str, list[str]] = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "facedb --help": [sys.executable, "-m", "facedb.cli", "--help"],
    "facedb users list": [sys.executable, "-m", "facedb.cli", "users", "list"],
    "facedb report --date today": [sys.executable, "-m", "facedb.cli", "report", "--date", "today"],
}
TARGETS = {"facedb --help": 0.3, "facedb report --date today": 0.8}


def _prepare(home: Path, env: dict[str, str]) -> None:
    weights = SHARED / "weights"
    subprocess.run(
        [sys.executable, "-m", "facedb.cli", "init", "--from", str(weights), "--accept-licence"],
        env=env,
        check=True,
        capture_output=True,
    )
    for folder in sorted((SHARED / "faces" / "celeba").iterdir())[:3]:
        photo = sorted(folder.glob("*.jpg"))[0]
        subprocess.run(
            [
                sys.executable,
                "-m",
                "facedb.cli",
                "enrol",
                "--name",
                folder.name,
                "--source",
                str(photo),
            ],
            env=env,
            check=True,
            capture_output=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", type=Path)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="facedb-startup-"))
    os.chmod(root, 0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEDB_")}
    env["FACEDB_HOME"] = str(root / "home")
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    try:
        _prepare(root / "home", env)
        for _ in range(args.runs):
            for name, argv in COMMANDS.items():
                start = time.perf_counter()
                subprocess.run(argv, env=env, check=True, capture_output=True)
                times[name].append(time.perf_counter() - start)
    finally:
        subprocess.run(
            [sys.executable, "-m", "facedb.cli", "db", "stop"], env=env, capture_output=True
        )
        shutil.rmtree(root, ignore_errors=True)
    base = statistics.median(times["python -c pass"])
    rows = []
    for name, values in times.items():
        median = statistics.median(values)
        target = TARGETS.get(name)
        verdict = "" if target is None else ("met" if median < target else "**not met**")
        rows.append(
            f"| {name} | {median:.3f} ({min(values):.3f}–{max(values):.3f}) | "
            f"{median / base:.1f}× | {'' if target is None else f'< {target} s'} {verdict} |"
        )
    load = os.getloadavg()[0]
    text = "\n".join(
        [
            HEADING,
            "",
            f"`python -m benchmarks.startup --runs {args.runs}` on {time.strftime('%Y-%m-%d')} "
            f"({os.cpu_count()} cores, load average {load:.1f} at the end): each command a new "
            "process, wall time, median (range) of the runs, and its ratio to `python -c pass` "
            "measured in the same run. The database: a fresh embedded one, running, three "
            "people enrolled.",
            "",
            "| command | wall s, median (range) | × python -c pass | target |",
            "|---|---|---|---|",
            *rows,
            "",
            "`facedb --help` lists the commands from a table (facedb/cli/lazy.py) and imports",
            "none of them: no numpy, onnxruntime or SQLAlchemy. `users list` and `report` load",
            "no vision stack (onnxruntime, OpenCV, Pillow, facedb.vision: imported on first",
            "use; both tests/test_cli_startup.py); what they still import is SQLAlchemy's ORM",
            "and facedb's table definitions (about 0.55 s and 0.2 s of `python -X importtime`",
            "at a load average of 9 on 7 Dec) and numpy (pgvector needs it). On this shared",
            "2-core machine the load average was far above 2 during the run: the ratios, not",
            "the seconds, are the comparable figures.",
            "",
        ]
    )
    print(text)
    if args.write:
        write_section(args.write, HEADING, text)


if __name__ == "__main__":
    main()
