"""The tail of the impostor score distribution: P(similarity >= t) for one probe face
compared with one enrolled face of another person.

Fitted from observed impostor similarities (a histogram and the highest scores):
below the ``EXCEEDANCES``-th highest score the empirical survival function, beyond it
an exponential tail whose scale is the mean excess of those highest scores (the
peaks-over-threshold estimate with a generalised Pareto shape of 0), widened by one
standard error. Cosine similarities of unrelated faces fall off faster than
exponentially (their log-survival curves downwards, docs/ACCURACY.md), so the
extrapolation overstates the false-match rate: thresholds derived from it err on the
strict side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# How many of the highest scores the exponential tail is fitted on (at most).
EXCEEDANCES = 200
MIN_EXCEEDANCES = 10
# Fewer impostor scores than this say nothing about a tail.
MIN_PAIRS = 50
# The exponential scale is never taken narrower than this (a handful of tied scores).
MIN_SCALE = 0.005
HIST_BINS = 4000  # over [-1, 1]: 0.0005 wide
KNOTS = 24  # survival levels stored, log-spaced from 0.5 down to the tail's start


@dataclass(frozen=True)
class ImpostorTail:
    """``scores`` ascending, ``survival`` their P(impostor >= score), descending; past
    the last knot, survival[-1] * exp(-(t - scores[-1]) / scale)."""

    pairs: int  # impostor comparisons behind it
    scores: tuple[float, ...]
    survival: tuple[float, ...]
    scale: float

    def survival_at(self, t: float) -> float:
        """P(impostor similarity >= t); 1.0 below the first knot (the median)."""
        scores, survival = self.scores, self.survival
        if t <= scores[0]:
            return 1.0 if t < scores[0] else survival[0]
        if t >= scores[-1]:
            return survival[-1] * math.exp(-(t - scores[-1]) / self.scale)
        i = int(np.searchsorted(scores, t, side="right"))
        lo, hi = scores[i - 1], scores[i]
        if hi <= lo:
            return survival[i]
        w = (t - lo) / (hi - lo)
        return math.exp((1 - w) * math.log(survival[i - 1]) + w * math.log(survival[i]))

    def to_json(self) -> dict[str, Any]:
        return {
            "pairs": self.pairs,
            "scores": [round(s, 6) for s in self.scores],
            "survival": [float(f"{p:.6g}") for p in self.survival],
            "scale": round(self.scale, 6),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImpostorTail:
        scores = tuple(float(s) for s in data["scores"])
        survival = tuple(float(p) for p in data["survival"])
        if not scores or len(scores) != len(survival) or float(data["scale"]) <= 0:
            raise ValueError("an impostor tail needs matching scores and survival and a scale")
        return cls(int(data["pairs"]), scores, survival, float(data["scale"]))


class TailAccumulator:
    """Collects impostor similarities in bounded memory: a histogram and the
    ``EXCEEDANCES`` highest values."""

    def __init__(self) -> None:
        self.counts = np.zeros(HIST_BINS, dtype=np.int64)
        self.top = np.empty(0, dtype=np.float64)
        self.pairs = 0

    def add(self, scores: np.ndarray) -> None:
        values = np.asarray(scores, dtype=np.float64).ravel()
        if values.size == 0:
            return
        self.pairs += int(values.size)
        bins = np.clip(((values + 1.0) / 2.0 * HIST_BINS).astype(np.int64), 0, HIST_BINS - 1)
        self.counts += np.bincount(bins, minlength=HIST_BINS)
        keep = min(EXCEEDANCES, values.size)
        highest = np.partition(values, values.size - keep)[values.size - keep :]
        merged = np.concatenate([self.top, highest])
        self.top = np.sort(merged)[::-1][:EXCEEDANCES]

    def fit(self) -> ImpostorTail | None:
        """The tail, or None with fewer than MIN_PAIRS scores."""
        n = self.pairs
        if n < MIN_PAIRS:
            return None
        m = int(min(EXCEEDANCES, len(self.top), max(MIN_EXCEEDANCES, n // 100)))
        top = self.top[:m]
        start = float(top[-1])
        excess = float(np.mean(top - start))
        scale = max(excess * (1.0 + 1.0 / math.sqrt(m)), MIN_SCALE)
        # Survival at bin edges, from the top: P(score >= left edge of bin b).
        at_least = np.cumsum(self.counts[::-1])[::-1] / n
        edges = -1.0 + 2.0 * np.arange(HIST_BINS) / HIST_BINS
        end = m / n
        scores: list[float] = []
        survival: list[float] = []
        for level in np.geomspace(0.5, end, KNOTS) if end < 0.5 else [end]:
            if level <= end:
                break
            b = int(np.nonzero(at_least >= level)[0][-1])
            if edges[b] >= start:
                break
            if scores and edges[b] <= scores[-1]:
                continue
            scores.append(float(edges[b]))
            survival.append(float(at_least[b]))
        scores.append(start)
        survival.append(end)
        return ImpostorTail(n, tuple(scores), tuple(survival), scale)


def fit_scores(scores: np.ndarray) -> ImpostorTail | None:
    accumulator = TailAccumulator()
    accumulator.add(scores)
    return accumulator.fit()
