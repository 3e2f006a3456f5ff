"""Section 3: reports over a year of attendance (benchmarks/reports.py measures them)."""

from __future__ import annotations

from typing import Any

from benchmarks.render.common import Measured, table, verdict
from benchmarks.targets import BY_KEY


def section(r: dict[str, Any]) -> str:
    plan = "\n".join(r["plans"][0]) if r["plans"] else "(no plan)"
    target = BY_KEY["reports.day_p50_ms"]
    return "\n\n".join(
        [
            "## 3. Reports over a year of attendance",
            f"{r['rows']:,} attendance rows over 365 days for {r['people']:,} people "
            f"(about {r['rows_in_day']:,} events a day, 07:00–19:00, 93% accepted), made in "
            f"SQL in {r['fill_s']:.0f} s. Timed through `FaceService.report` (what "
            "`facedb report --date` runs: three statements, present people, absent people, "
            "attempts by decision), after one warm-up call:\n\n"
            + table(
                ["period", "p50 ms", "p99 ms", "target", ""],
                [
                    [
                        "one day",
                        f"{r['day_p50_ms']:.1f}",
                        f"{r['day_p99_ms']:.1f}",
                        target.bound(),
                        verdict(target, r["day_p50_ms"]),
                    ],
                    ["30 days", f"{r['month_p50_ms']:.1f}", f"{r['month_p99_ms']:.1f}", "–", ""],
                ],
            ),
            "All three statements use the `attendance_occurred_at_idx` range scan on "
            "(occurred_at): the day's bounds are computed as timestamptz constants in the "
            "report's time zone. EXPLAIN (ANALYZE, BUFFERS) of the first one (the others are in "
            f"benchmarks/results/{'full' if r['rows'] >= 1_000_000 else 'quick'}.json):\n\n"
            f"```\n{plan}\n```",
        ]
    )


def measurements(r: dict[str, Any]) -> list[Measured]:
    return [
        Measured(
            "reports.day_p50_ms",
            r["day_p50_ms"],
            f"p50 {r['day_p50_ms']:.1f} ms, p99 {r['day_p99_ms']:.1f} ms",
            f"{r['rows']:,} rows",
        )
    ]
