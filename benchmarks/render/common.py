"""What every section's renderer uses: Markdown tables, verdicts, measurements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from benchmarks.targets import Target


@dataclass(frozen=True)
class Measured:
    """One measurement a target is compared with (``key`` is the target's)."""

    key: str
    value: float
    # The "measured" column: the value and what goes with it.
    detail: str
    # What the measurement was made on ("100,000 faces, shared_buffers 1GB").
    where: str = ""


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def verdict(target: Target, measured: float) -> str:
    return "**met**" if target.met(measured) else "**not met**"
