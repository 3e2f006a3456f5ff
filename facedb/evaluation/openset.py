"""Open-set identification (1:N) measured the way NIST's FRVT/FRTE 1:N reports count
it, with facedb's own rule: every probe photo is one search; the score of a person is
the best similarity of the probe to that person's stored faces; the search returns the
best person when the similarity reaches the threshold and beats the second person by
the margin (facedb/decision.py).

- mated searches (the person is enrolled): FNIR, the share that do not return the
  right person at rank 1 (a probe with no usable face is a miss); rank-1 and CMC
  ignore the threshold (closed set);
- non-mated searches (a stranger): FPIR, the share that return anyone.

Galleries of several sizes are drawn from the people given (repeatedly, at random);
people not drawn are the strangers of that draw, together with the probes of people
who are never enrolled. The 1:N threshold at each draw is the product's: from the
model's impostor tail and the drawn gallery searched against itself
(facedb/identification), for the target FPIR.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facedb.identification import selfsearch
from facedb.identification.policy import (
    Calibration,
    open_set_threshold,
    predicted_fpir,
)
from facedb.identification.tail import ImpostorTail

FloatArray = npt.NDArray[np.float64]
# FPIR predicted and observed are compared at these thresholds too.
CHECK_THRESHOLDS = (0.20, 0.25, 0.30, 0.35)
CMC_RANKS = 10
DET_THRESHOLDS = np.round(np.arange(0.0, 0.9001, 0.005), 3)


@dataclass(frozen=True)
class Person:
    name: str
    gallery: np.ndarray  # float32 [k, 512]: the enrolment faces
    probes: np.ndarray  # float32 [m, 512]: further photos, one search each
    probe_failures: int = 0  # probe photos with no usable face (misses)


@dataclass(frozen=True)
class FpirCheck:
    threshold: float
    predicted: float  # mean over draws of the policy's prediction
    observed: float


@dataclass(frozen=True)
class SizeResult:
    persons: int
    faces: float  # enrolled faces, mean over draws
    draws: int
    mated_searches: int
    nonmated_searches: int
    rank1: float
    cmc: tuple[float, ...]  # identification rate at ranks 1..CMC_RANKS
    threshold: float  # the policy's, mean over draws
    predicted_fpir: float  # at the policy's threshold
    fpir: float  # the product's decisions at the policy's threshold
    fnir: float
    wrong_person: float  # mated searches accepted as someone else
    ambiguous: float  # share of all searches that were ambiguous
    fpir_without_margin: float
    fnir_without_margin: float
    checks: tuple[FpirCheck, ...]
    det: tuple[tuple[float, float, float], ...]  # (threshold, FPIR, FNIR) without margin
    threshold_for_target: float | None  # the lowest observed threshold with FPIR <= target


@dataclass(frozen=True)
class OpenSetResult:
    people: int
    strangers: int  # people never enrolled (their probes are non-mated in every draw)
    images: int
    failures_to_acquire: int  # images with no usable face
    fpir_target: float
    margin: float
    sizes: tuple[SizeResult, ...]
    # Sizes asked for that were not measured: more people than the draws can hold
    # (at most people - 1, so that every draw has strangers, or people with --strangers).
    left_out_sizes: tuple[int, ...] = ()
    failed_photos: tuple[str, ...] = ()  # the photos with no usable face


def _best_per_person(probes: np.ndarray, people: Sequence[Person]) -> FloatArray:
    """[probes, people]: the best similarity of each probe to each person's faces."""
    out = np.empty((probes.shape[0], len(people)), dtype=np.float64)
    for j, person in enumerate(people):
        out[:, j] = (probes @ person.gallery.T).max(axis=1) if len(probes) else 0.0
    return out


def evaluate_open_set(
    people: Sequence[Person],
    strangers: Sequence[np.ndarray],
    *,
    sizes: Sequence[int],
    draws: int,
    fpir: float,
    margin: float,
    one_to_one: float,
    prior: ImpostorTail | None,
    fixed: float | None = None,
    images: int = 0,
    failures: int = 0,
    seed: int = 0,
    failed_photos: Sequence[str] = (),
) -> OpenSetResult:
    """Measures the product's 1:N decisions at each gallery size of ``sizes`` (each at
    most len(people) - 1, so that every draw has strangers). ``fixed``: a threshold
    set by hand (FACEDB_THRESHOLD), used as the product uses it, for every size."""
    enrolled = [p for p in people if len(p.gallery)]
    empty = np.zeros((0, 512), np.float32)
    probes = np.concatenate([p.probes for p in enrolled] or [empty]).astype(np.float32)
    owner = np.concatenate(
        [np.full(len(p.probes), i) for i, p in enumerate(enrolled)] or [np.zeros(0, np.int64)]
    )
    extra = np.concatenate(list(strangers) or [empty]).astype(np.float32)
    scores = _best_per_person(probes, enrolled)
    extra_scores = _best_per_person(extra, enrolled)
    rng = np.random.default_rng(seed)
    results = []
    left_out = []
    for size in sizes:
        if not 1 <= size <= len(enrolled) - 1 and not (size == len(enrolled) and len(extra)):
            left_out.append(size)
            continue
        results.append(
            _measure_size(
                enrolled,
                scores,
                owner,
                extra_scores,
                size,
                draws,
                fpir,
                margin,
                one_to_one,
                prior,
                fixed,
                rng,
            )
        )
    return OpenSetResult(
        len(enrolled),
        len(strangers),
        images,
        failures,
        fpir,
        margin,
        tuple(results),
        tuple(left_out),
        tuple(failed_photos),
    )


def _measure_size(
    people: Sequence[Person],
    scores: FloatArray,
    owner: np.ndarray,
    extra_scores: FloatArray,
    size: int,
    draws: int,
    fpir: float,
    margin: float,
    one_to_one: float,
    prior: ImpostorTail | None,
    fixed: float | None,
    rng: np.random.Generator,
) -> SizeResult:
    acc = _Accumulator(len(CHECK_THRESHOLDS))
    for _ in range(draws):
        drawn = np.sort(rng.choice(len(people), size=size, replace=False))
        vectors = np.concatenate([people[i].gallery for i in drawn])
        owners = np.concatenate([np.full(len(people[i].gallery), i) for i in drawn])
        cal = Calibration(prior, selfsearch.impostor_tail(vectors, owners))
        policy = open_set_threshold(
            cal, fpir=fpir, persons=size, faces=len(vectors), one_to_one=one_to_one
        )
        in_gallery = np.isin(owner, drawn)
        mated = scores[in_gallery][:, drawn]
        mate = np.searchsorted(drawn, owner[in_gallery])
        nonmated = np.concatenate([scores[~in_gallery][:, drawn], extra_scores[:, drawn]])
        misses = sum(people[i].probe_failures for i in drawn)
        threshold = policy.value if fixed is None else fixed
        acc.add(mated, mate, nonmated, misses, threshold, margin, cal, len(vectors))
    return acc.result(size, draws, fpir)


class _Accumulator:
    """Sums the outcomes of the draws of one gallery size."""

    def __init__(self, checks: int) -> None:
        self.counts: dict[str, float] = {}
        self.cmc = np.zeros(CMC_RANKS)
        self.det_fp = np.zeros(len(DET_THRESHOLDS))
        self.det_fn = np.zeros(len(DET_THRESHOLDS))
        self.predicted = np.zeros(checks)
        self.observed = np.zeros(checks)
        self.thresholds: list[float] = []
        self.predictions: list[float] = []

    def _add(self, key: str, value: float) -> None:
        self.counts[key] = self.counts.get(key, 0.0) + value

    def add(
        self,
        mated: FloatArray,
        mate: np.ndarray,
        nonmated: FloatArray,
        misses: int,
        threshold: float,
        margin: float,
        cal: Calibration,
        faces: int,
    ) -> None:
        self.thresholds.append(threshold)
        self.predictions.append(predicted_fpir(cal, threshold, faces))
        n_mated = len(mated) + misses
        self._add("mated", n_mated)
        self._add("nonmated", len(nonmated))
        self._add("faces", faces)
        order = np.argsort(-mated, axis=1)
        rank = np.argmax(order == mate[:, None], axis=1) if len(mated) else np.zeros(0, int)
        for r in range(CMC_RANKS):
            self.cmc[r] += float(np.sum(rank <= r))
        top = mated[np.arange(len(mated)), order[:, 0]] if len(mated) else np.zeros(0)
        second = _second(mated)
        right = rank == 0
        nm_top = nonmated.max(axis=1) if nonmated.size else np.zeros(len(nonmated))
        nm_second = _second(nonmated)
        clear = top - second >= margin
        self._add("hit", float(np.sum(right & (top >= threshold) & clear)))
        self._add("hit_no_margin", float(np.sum(right & (top >= threshold))))
        self._add("wrong", float(np.sum(~right & (top >= threshold) & clear)))
        self._add("fp", float(np.sum((nm_top >= threshold) & (nm_top - nm_second >= margin))))
        self._add("fp_no_margin", float(np.sum(nm_top >= threshold)))
        amb = np.sum((top >= threshold) & ~clear)
        amb += np.sum((nm_top >= threshold) & (nm_top - nm_second < margin))
        self._add("ambiguous", float(amb))
        for i, t in enumerate(CHECK_THRESHOLDS):
            self.predicted[i] += predicted_fpir(cal, t, faces)
            self.observed[i] += float(np.mean(nm_top >= t)) if len(nm_top) else 0.0
        self.det_fp += np.array([np.sum(nm_top >= t) for t in DET_THRESHOLDS])
        self.det_fn += n_mated - np.array([np.sum(right & (top >= t)) for t in DET_THRESHOLDS])

    def result(self, size: int, draws: int, target: float) -> SizeResult:
        c = self.counts
        mated, nonmated = max(c["mated"], 1.0), max(c["nonmated"], 1.0)
        fpir_curve = self.det_fp / nonmated
        fnir_curve = self.det_fn / mated
        ok = np.nonzero(fpir_curve <= target)[0]
        at_target = float(DET_THRESHOLDS[ok[0]]) if len(ok) else None
        return SizeResult(
            persons=size,
            faces=c["faces"] / draws,
            draws=draws,
            mated_searches=int(c["mated"]),
            nonmated_searches=int(c["nonmated"]),
            rank1=float(self.cmc[0] / mated),
            cmc=tuple(float(v / mated) for v in self.cmc),
            threshold=float(np.mean(self.thresholds)),
            predicted_fpir=float(np.mean(self.predictions)),
            fpir=c["fp"] / nonmated,
            fnir=1.0 - c["hit"] / mated,
            wrong_person=c["wrong"] / mated,
            ambiguous=c["ambiguous"] / (mated + nonmated),
            fpir_without_margin=c["fp_no_margin"] / nonmated,
            fnir_without_margin=1.0 - c["hit_no_margin"] / mated,
            checks=tuple(
                FpirCheck(t, float(p / draws), float(o / draws))
                for t, p, o in zip(CHECK_THRESHOLDS, self.predicted, self.observed, strict=True)
            ),
            det=tuple(
                (float(t), float(fp), float(fn))
                for t, fp, fn in zip(DET_THRESHOLDS, fpir_curve, fnir_curve, strict=True)
            ),
            threshold_for_target=at_target,
        )


def _second(scores: FloatArray) -> FloatArray:
    """The second-highest score of each row (-1 when there is one column)."""
    if scores.shape[1] < 2:
        return np.full(len(scores), -1.0)
    return np.asarray(-np.partition(-scores, 1, axis=1)[:, 1], dtype=np.float64)
