"""The 'Targets' table: every target of benchmarks/targets.py against its measurements."""

from __future__ import annotations

from collections.abc import Sequence

from benchmarks.render.common import Measured, table, verdict
from benchmarks.targets import TARGETS


def targets_table(measured: Sequence[Measured]) -> str:
    """One row per measurement of a target (a target measured on two servers has two);
    a target this run did not measure says which script does."""
    rows: list[list[str]] = []
    for target in TARGETS:
        mine = [m for m in measured if m.key == target.key]
        for m in mine:
            rows.append([target.label(m.where), m.detail, verdict(target, m.value)])
        if not mine:
            source = (
                "not in this run"
                if target.measured_by == "benchmarks/run.py"
                else target.measured_by
            )
            rows.append([target.label(), f"– ({source})", ""])
    return table(["target", "measured", ""], rows)
