"""`facedb verify --source IMAGE` from a cold process to its answer (issue 18: a door
script runs `facedb verify --source 0 && open-door` once per person).

A temporary FACEDB_HOME holds an embedded PostgreSQL (started before timing, as a
kiosk's is) with a few enrolled people. Each run is a new process, timed from spawn to
exit (wall clock and the process's CPU): the full command (liveness on, as by
default when its model file is there), the same with --liveness off, the command's
imports alone (`python -c "import facedb.cli.verify"`), and the bare interpreter. The
model load and the decision are what the full command takes beyond its imports.

    FACEDB_WEIGHTS=../shared/weights python -m benchmarks.cold_verify --write docs/BENCHMARKS.md
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
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.common import FACES, WEIGHTS, cpu_model, record_measured, write_section
from benchmarks.targets import BY_KEY

HEADING = "## Cold verify"
PEOPLE = ("7202", "7203", "7206", "7210", "7230")
FACEDB = [sys.executable, "-m", "facedb.cli"]


def _photos(person: str) -> list[Path]:
    return sorted((FACES / "celeba" / person).glob("*.jpg"))


def _timed(command: list[str], env: dict[str, str], reps: int) -> dict[str, float]:
    walls, cpus = [], []
    for _ in range(reps):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = os.times().elapsed
        subprocess.run(command, env=env, capture_output=True, check=False)
        walls.append(os.times().elapsed - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {
        "wall_p50_s": round(statistics.median(walls), 3),
        "wall_min_s": round(min(walls), 3),
        "cpu_p50_s": round(statistics.median(cpus), 3),
    }


def run(reps: int) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="facedb-bench-verify-"))
    env = {**os.environ, "FACEDB_HOME": str(home), "FACEDB_WEIGHTS": str(WEIGHTS)}
    env.pop("FACEDB_DATABASE_URL", None)
    try:
        for person in PEOPLE:
            source = str(_photos(person)[0])
            subprocess.run(
                [*FACEDB, "enrol", "--name", person, "--source", source],
                env=env,
                capture_output=True,
                check=True,
            )
        probe = str(_photos(PEOPLE[0])[1])
        verify = [*FACEDB, "verify", "--source", probe, "--json"]
        answer = subprocess.run(verify, env=env, capture_output=True, text=True, check=False)
        decision = json.loads(answer.stdout)["decision"] if answer.stdout else answer.stderr
        results = {
            "full": _timed(verify, env, reps),
            "no_liveness": _timed([*verify, "--liveness", "off"], env, reps),
            "imports": _timed([sys.executable, "-c", "import facedb.cli.verify"], env, reps),
            "interpreter": _timed([sys.executable, "-c", "pass"], env, reps),
        }
    finally:
        subprocess.run([*FACEDB, "db", "stop"], env=env, capture_output=True, check=False)
    return {
        "decision": decision,
        "people": len(PEOPLE),
        "reps": reps,
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        **results,
    }


def section(r: dict[str, Any]) -> str:
    target = BY_KEY["verify.cold_s"]
    full, bare = r["full"], r["no_liveness"]
    imports, interp = r["imports"], r["interpreter"]
    rest = full["wall_p50_s"] - imports["wall_p50_s"]
    rows = [
        ("`facedb verify --source IMAGE` (liveness on, the default)", full),
        ("the same with `--liveness off`", bare),
        ("its imports alone (`import facedb.cli.verify`)", imports),
        ("the bare interpreter (`python -c pass`)", interp),
    ]
    table = "\n".join(
        f"| {label} | {t['wall_p50_s']:.2f} s (min {t['wall_min_s']:.2f}) | {t['cpu_p50_s']:.2f} s |"
        for label, t in rows
    )
    verdict = "**met**" if target.met(full["wall_p50_s"]) else "**not met**"
    return (
        f"{HEADING}\n\n"
        f"Made by `python -m benchmarks.cold_verify --write docs/BENCHMARKS.md` on "
        f"{date.today().isoformat()} ({r['cores']} cores, {r['cpu']}, load average {r['load_average']}): "
        f"`facedb verify` in a new process, {r['reps']} runs each, against an embedded "
        f"PostgreSQL already running with {r['people']} people enrolled (the probe is "
        f"another photo of one of them: {r['decision']}).\n\n"
        "| process | wall p50 | CPU p50 |\n|---|---|---|\n"
        f"{table}\n\n"
        f"Target {target.bound()} from process start to the answer: {full['wall_p50_s']:.2f} s, "
        f"{verdict}. Beyond its imports, the command spends {rest:.2f} s on loading the "
        "models (the detector, the embedder from its cached rewrite, the liveness model), "
        "connecting, the decision and the attendance row.\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--write", type=Path, help="write the section into this Markdown file")
    args = parser.parse_args()
    results = run(args.reps)
    print(json.dumps(results, indent=2))
    if args.write:
        write_section(args.write, HEADING, section(results))
        full = results["full"]
        record_measured(
            "verify.cold_s",
            full["wall_p50_s"],
            f"{full['wall_p50_s']:.2f} s p50 (min {full['wall_min_s']:.2f})",
        )
        print(f"wrote the {HEADING[3:]!r} section of {args.write}")


if __name__ == "__main__":
    main()
