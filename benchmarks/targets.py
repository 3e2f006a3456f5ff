"""facedb's performance targets, in one table.

Each target names the measurement it is compared with (``key``); the renderers of
benchmarks/render/ produce those measurements from the saved results, and the
"met / not met" of docs/BENCHMARKS.md is ``Target.met`` of the two, never a branch of
its own. A target that `make bench` does not measure says which script does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from facedb.vision.models import load_manifest

Direction = Literal["at least", "below"]


@dataclass(frozen=True)
class Target:
    key: str
    # What is measured, with "{bound}" where the bound goes ("≥ 1.5×", "< 2 ms").
    what: str
    value: float
    # "×", "ms", "s", "min", "frames/s", "%" (value is a share: 0.10 is 10%) or "".
    unit: str
    direction: Direction
    # Where the measurement comes from when it is not benchmarks/run.py.
    measured_by: str = "benchmarks/run.py"

    def met(self, measured: float) -> bool:
        return measured >= self.value if self.direction == "at least" else measured < self.value

    def bound(self) -> str:
        sign = "≥" if self.direction == "at least" else "<"
        if self.unit == "%":
            return f"{sign} {self.value * 100:g}%"
        if self.unit in ("", "×"):
            return f"{sign} {self.value:g}{self.unit}"
        return f"{sign} {self.value:g} {self.unit}"

    def label(self, where: str = "") -> str:
        text = self.what.format(bound=self.bound())
        return f"{text} ({where})" if where else text


def _matching(size: int, p50_ms: float) -> tuple[Target, ...]:
    at = f"{size:,} faces"
    return (
        Target(f"matching.p50_ms.{size}", "1:N p50 {bound} at " + at, p50_ms, "ms", "below"),
        Target(f"matching.recall_at_1.{size}", "recall@1 {bound} at " + at, 0.99, "", "at least"),
        Target(
            f"matching.decisions_agree.{size}",
            "decisions agree with exact search {bound} at " + at,
            0.999,
            "%",
            "at least",
        ),
    )


TARGETS: tuple[Target, ...] = (
    Target(
        "vision.speedup",
        "pipeline in one process, models loaded once, {bound} insightface",
        1.5,
        "×",
        "at least",
    ),
    Target(
        "vision.cosine_min",
        "embeddings agree: cosine {bound} for matched faces",
        0.99,
        "",
        "at least",
    ),
    Target(
        "whole.speedup",
        "`facedb detect --embeddings`, whole process, {bound} insightface",
        2.5,
        "×",
        "at least",
    ),
    Target(
        "frames.speedup",
        "pipeline on 640×480 frames, {bound} insightface",
        3.0,
        "×",
        "at least",
        measured_by="benchmarks/frames.py, section '640x480 frames'",
    ),
    Target(
        "watch.fps",
        "`facedb watch`, 640×480 with up to five faces, {bound}",
        30.0,
        "frames/s",
        "at least",
        measured_by="benchmarks/watch.py, section 'Live watch'",
    ),
    *_matching(100_000, 2.0),
    *_matching(1_000_000, 10.0),
    Target("reports.day_p50_ms", "report of one day {bound}", 100.0, "ms", "below"),
    Target("enrolment.db_share", "enrolment: database share {bound}", 0.10, "%", "below"),
    Target(
        "verify.cold_s",
        "`facedb verify` in a new process {bound}",
        1.5,
        "s",
        "below",
        measured_by="benchmarks/cold_verify.py, section 'Cold verify'",
    ),
    Target(
        "timesheet.month_s",
        "`facedb timesheet` for a month of 1,000 people {bound}",
        1.0,
        "s",
        "below",
        measured_by="benchmarks/timesheet.py, section 'Timesheets'",
    ),
    Target(
        "bench_quick.minutes",
        "`make bench-quick` {bound}",
        5.0,
        "min",
        "below",
        measured_by="benchmarks/run.py --quick",
    ),
)

BY_KEY: dict[str, Target] = {t.key: t for t in TARGETS}


def manifest_threshold() -> float:
    """The default embedder's accept threshold, as weights/manifest.toml states it."""
    spec = next(s for s in load_manifest().values() if s.role == "embedder" and s.default)
    if spec.threshold is None:
        raise ValueError(f"the manifest gives no threshold for {spec.name}")
    return spec.threshold
