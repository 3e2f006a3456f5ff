"""Verification metrics over similarity scores of labelled pairs. Pure numpy.

Conventions, used by every function here:

- A score is a similarity: higher means "more likely the same person" (facedb uses
  the cosine similarity of L2-normalised embeddings, in [-1, 1]).
- A pair is **accepted** at threshold ``t`` when ``score >= t`` (the product's rule).
- ``labels[i]`` is True for a genuine pair (same person), False for an impostor pair.
- FAR (false accept rate) = accepted impostor pairs / impostor pairs.
  TAR (true accept rate) = accepted genuine pairs / genuine pairs. FRR = 1 - TAR.
- A score of NaN marks a pair that could not be scored because one of its images
  had no usable face (a *failure to enrol*). NaN is never accepted, whatever the
  threshold (``NaN >= t`` is False): a failed genuine pair counts as a false reject
  and a failed impostor pair as a correct reject. NaN pairs stay in the
  denominators. To get metrics over the scored pairs only, drop them first
  (see :func:`scored_only`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facedb.domain.evaluation import (
    CrossValidatedAccuracy,
    FloatArray,
    RocCurve,
    ScoreSummary,
    TarAtFar,
    VerificationMetrics,
)
from facedb.errors import InvalidInputError

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

# The FARs reported by default (TAR at each, with its threshold).
DEFAULT_FARS: tuple[float, ...] = (1e-1, 1e-2, 1e-3, 1e-4)
# Folds of the LFW protocol when a pairs file gives none.
DEFAULT_FOLDS = 10
_PERCENTILES = (1, 5, 25, 50, 75, 95, 99)


@dataclass(frozen=True)
class CalibrationResult:
    """A threshold calibrated at a target FAR (see :func:`calibrate_threshold`)."""

    threshold: float  # accept when similarity >= threshold
    far: float  # the target FAR
    achieved_far: float  # the FAR measured at ``threshold`` on the calibration pairs
    tar: float  # the TAR measured at ``threshold``
    n_genuine: int
    n_impostor: int


# ---------------------------------------------------------------------------
# Input handling


def _as_arrays(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[FloatArray, BoolArray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels, dtype=np.bool_).reshape(-1)
    if s.shape != y.shape:
        raise InvalidInputError(f"{s.size} scores but {y.size} labels")
    if np.isinf(s).any():
        raise InvalidInputError("scores must be finite (NaN marks a failure to enrol)")
    return s, y


def _require_both_classes(labels: BoolArray) -> None:
    if not labels.any() or labels.all():
        raise InvalidInputError("need at least one genuine and one impostor pair")


def scored_only(
    scores: npt.ArrayLike, labels: npt.ArrayLike
) -> tuple[FloatArray, BoolArray, BoolArray]:
    """Drop the NaN (failed) pairs: returns the scores, the labels and the kept mask."""
    s, y = _as_arrays(scores, labels)
    keep = ~np.isnan(s)
    return s[keep], y[keep], keep


def _sorted_finite(values: FloatArray) -> FloatArray:
    return np.sort(values[~np.isnan(values)])


def _count_at_least(sorted_values: FloatArray, thresholds: FloatArray) -> IntArray:
    """How many of ``sorted_values`` (ascending, finite) are >= each threshold."""
    idx = np.searchsorted(sorted_values, thresholds, side="left")
    return (sorted_values.size - idx).astype(np.int64)


def _just_above(value: float) -> float:
    """The smallest float32 strictly greater than ``value``, as a float.

    Thresholds are stored and compared in float32 or float64: a float32 value keeps
    ``score >= threshold`` false for ``score == value`` in either precision.
    """
    above = float(np.nextafter(np.float32(value), np.float32(np.inf)))
    return above if above > value else float(np.nextafter(value, np.inf))


# ---------------------------------------------------------------------------
# ROC, AUC, EER


def roc_curve(scores: npt.ArrayLike, labels: npt.ArrayLike) -> RocCurve:
    """FAR and TAR at every distinct finite score used as the threshold."""
    s, y = _as_arrays(scores, labels)
    _require_both_classes(y)
    genuine, impostor = _sorted_finite(s[y]), _sorted_finite(s[~y])
    finite = np.unique(s[~np.isnan(s)])[::-1]
    if finite.size:
        thresholds = np.concatenate(([_just_above(float(finite[0]))], finite))
    else:
        thresholds = np.array([0.0])
    far = _count_at_least(impostor, thresholds) / float(np.count_nonzero(~y))
    tar = _count_at_least(genuine, thresholds) / float(np.count_nonzero(y))
    return RocCurve(thresholds=thresholds, far=far, tar=tar)


def _average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    last_rank = np.cumsum(counts)
    mean_rank = last_rank - (counts - 1) / 2.0
    return np.asarray(mean_rank[inverse.reshape(-1)], dtype=np.float64)


def roc_auc(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """Exact area under the ROC (Mann-Whitney U / (n_genuine * n_impostor)).

    The probability that a random genuine pair scores higher than a random impostor
    pair, ties counting one half. NaN (failed) pairs rank below every score and tie
    with each other.
    """
    s, y = _as_arrays(scores, labels)
    _require_both_classes(y)
    ranks = _average_ranks(np.where(np.isnan(s), -np.inf, s))
    n_gen = float(np.count_nonzero(y))
    n_imp = float(s.size) - n_gen
    u = float(ranks[y].sum()) - n_gen * (n_gen + 1.0) / 2.0
    return u / (n_gen * n_imp)


def equal_error_rate(scores: npt.ArrayLike, labels: npt.ArrayLike) -> tuple[float, float]:
    """The EER and its threshold, as ``(eer, threshold)``.

    Evaluated at the ROC points: the threshold where |FAR - FRR| is smallest (ties: the
    highest such threshold), and EER = (FAR + FRR) / 2 there. No interpolation.
    """
    roc = roc_curve(scores, labels)
    gap = np.abs(roc.far - (1.0 - roc.tar))
    best = int(np.argmin(gap))
    eer = (float(roc.far[best]) + 1.0 - float(roc.tar[best])) / 2.0
    return eer, float(roc.thresholds[best])


# ---------------------------------------------------------------------------
# Thresholds at a target FAR


def min_impostors_for(far: float) -> int:
    """Impostor pairs needed to measure a FAR: ceil(1 / far)."""
    _check_far(far)
    return math.ceil(1.0 / far - 1e-9)


def _check_far(far: float) -> None:
    if not 0.0 < far < 1.0:
        raise InvalidInputError(f"a false accept rate must be in (0, 1), not {far}")


def _threshold_at_far(
    impostor_sorted: FloatArray, n_impostor: int, far: float, lowest: float
) -> float:
    """Smallest threshold t with (#impostors >= t) / n_impostor <= far.

    With k = floor(far * n_impostor) impostor accepts allowed and impostor scores in
    descending order s(1) >= s(2) >= ..., any t <= s(k+1) accepts at least k + 1
    impostors and any t > s(k+1) at most k; so t is the smallest float32 above s(k+1),
    the (1 - far) quantile of the impostor scores. If at most k impostors were scored
    (the others failed), every threshold qualifies: t is ``lowest``, the lowest score.
    """
    allowed = math.floor(far * n_impostor + 1e-9)
    if allowed >= impostor_sorted.size:
        return lowest
    return _just_above(float(impostor_sorted[impostor_sorted.size - 1 - allowed]))


def _operating_point(s: FloatArray, y: BoolArray, far: float) -> tuple[float, float, float]:
    """(threshold, tar, achieved far) at the calibrated threshold for ``far``."""
    impostor, genuine = _sorted_finite(s[~y]), _sorted_finite(s[y])
    n_imp = int(np.count_nonzero(~y))
    finite = s[~np.isnan(s)]
    lowest = float(finite.min()) if finite.size else 0.0
    threshold = _threshold_at_far(impostor, n_imp, far, lowest)
    t = np.array([threshold])
    tar = float(_count_at_least(genuine, t)[0]) / float(np.count_nonzero(y))
    achieved = float(_count_at_least(impostor, t)[0]) / float(n_imp)
    return threshold, tar, achieved


def tar_at_far(scores: npt.ArrayLike, labels: npt.ArrayLike, far: float) -> TarAtFar:
    """TAR at the calibrated threshold for ``far``; all None with too few impostors."""
    s, y = _as_arrays(scores, labels)
    _require_both_classes(y)
    if np.count_nonzero(~y) < min_impostors_for(far):
        return TarAtFar(far=far, threshold=None, tar=None, achieved_far=None)
    threshold, tar, achieved = _operating_point(s, y, far)
    return TarAtFar(far=far, threshold=threshold, tar=tar, achieved_far=achieved)


def calibrate_threshold(
    scores: npt.ArrayLike, labels: npt.ArrayLike, far: float
) -> CalibrationResult:
    """The smallest threshold at which the impostor accept rate is at most ``far``.

    Accept means ``similarity >= threshold``; at the returned threshold at most
    floor(far * n_impostor) impostor pairs are accepted. NaN scores (failures) count
    in the denominators and are never accepted. Raises InvalidInputError with fewer
    than ceil(1 / far) impostor pairs, or without genuine pairs.
    """
    s, y = _as_arrays(scores, labels)
    n_imp, n_gen = int(np.count_nonzero(~y)), int(np.count_nonzero(y))
    needed = min_impostors_for(far)
    if n_imp < needed:
        raise InvalidInputError(
            f"calibrating at FAR {far:g} needs at least {needed} impostor pairs, got {n_imp}"
        )
    if n_gen == 0:
        raise InvalidInputError("calibration needs at least one genuine pair")
    threshold, tar, achieved = _operating_point(s, y, far)
    return CalibrationResult(
        threshold=threshold,
        far=far,
        achieved_far=achieved,
        tar=tar,
        n_genuine=n_gen,
        n_impostor=n_imp,
    )


# ---------------------------------------------------------------------------
# Accuracy by cross-validation


def interleaved_folds(labels: npt.ArrayLike, n_folds: int = DEFAULT_FOLDS) -> IntArray:
    """Deterministic stratified folds: the j-th genuine pair and the j-th impostor pair
    (in input order) both go to fold j % n_folds."""
    y = np.asarray(labels, dtype=np.bool_).reshape(-1)
    folds = np.empty(y.size, dtype=np.int64)
    for cls in (True, False):
        idx = np.flatnonzero(y == cls)
        folds[idx] = np.arange(idx.size) % n_folds
    return folds


def _candidate_thresholds(scores: FloatArray) -> FloatArray:
    """The lowest score, the midpoints between consecutive distinct scores, and a
    value just above the highest: every distinct way to split the scores."""
    u = np.unique(scores[~np.isnan(scores)])
    if u.size == 0:
        return np.array([0.0])
    mids = (u[:-1] + u[1:]) / 2.0
    return np.concatenate(([u[0]], mids, [_just_above(float(u[-1]))]))


def _accuracies(scores: FloatArray, labels: BoolArray, thresholds: FloatArray) -> FloatArray:
    genuine, impostor = _sorted_finite(scores[labels]), _sorted_finite(scores[~labels])
    true_accepts = _count_at_least(genuine, thresholds)
    true_rejects = np.count_nonzero(~labels) - _count_at_least(impostor, thresholds)
    return np.asarray((true_accepts + true_rejects) / float(scores.size), dtype=np.float64)


def best_threshold(scores: npt.ArrayLike, labels: npt.ArrayLike) -> float:
    """The threshold of highest accuracy (ties: the lowest such threshold)."""
    s, y = _as_arrays(scores, labels)
    candidates = _candidate_thresholds(s)
    return float(candidates[int(np.argmax(_accuracies(s, y, candidates)))])


def cross_validated_accuracy(
    scores: npt.ArrayLike, labels: npt.ArrayLike, folds: npt.ArrayLike | None = None
) -> CrossValidatedAccuracy | None:
    """Accuracy by the LFW protocol: best threshold on k-1 folds, accuracy on the k-th.

    ``folds`` gives each pair's fold (as in LFW View 2); without it, 10 stratified
    interleaved folds (:func:`interleaved_folds`). None when fewer than two folds hold
    pairs or there are fewer pairs than folds.
    """
    s, y = _as_arrays(scores, labels)
    if folds is None:
        if s.size < DEFAULT_FOLDS:
            return None
        fold_ids = interleaved_folds(y)
    else:
        fold_ids = np.asarray(folds, dtype=np.int64).reshape(-1)
        if fold_ids.shape != s.shape:
            raise InvalidInputError(f"{s.size} scores but {fold_ids.size} fold numbers")
    distinct = np.unique(fold_ids)
    if distinct.size < 2:
        return None
    accuracies, thresholds = [], []
    for fold in distinct:
        test = fold_ids == fold
        threshold = best_threshold(s[~test], y[~test])
        accuracies.append(float(_accuracies(s[test], y[test], np.array([threshold]))[0]))
        thresholds.append(threshold)
    acc = np.array(accuracies)
    return CrossValidatedAccuracy(
        mean=float(acc.mean()),
        std=float(acc.std()),
        fold_accuracies=tuple(accuracies),
        fold_thresholds=tuple(thresholds),
    )


# ---------------------------------------------------------------------------
# Summaries and everything together


def summarise(scores: npt.ArrayLike) -> ScoreSummary | None:
    """Count, mean, std, min, percentiles and max of the finite scores; None if none."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    s = s[np.isfinite(s)]
    if s.size == 0:
        return None
    p = np.percentile(s, _PERCENTILES)
    return ScoreSummary(
        count=int(s.size),
        mean=float(s.mean()),
        std=float(s.std()),
        min=float(s.min()),
        p1=float(p[0]),
        p5=float(p[1]),
        p25=float(p[2]),
        p50=float(p[3]),
        p75=float(p[4]),
        p95=float(p[5]),
        p99=float(p[6]),
        max=float(s.max()),
    )


def compute_metrics(
    scores: npt.ArrayLike,
    labels: npt.ArrayLike,
    folds: npt.ArrayLike | None = None,
    fars: Sequence[float] = DEFAULT_FARS,
) -> VerificationMetrics:
    """All metrics of one set of pairs. NaN scores are failures counted as errors;
    pass :func:`scored_only` output for metrics over scored pairs."""
    s, y = _as_arrays(scores, labels)
    _require_both_classes(y)
    failed = np.isnan(s)
    eer, eer_threshold = equal_error_rate(s, y)
    return VerificationMetrics(
        n_pairs=int(s.size),
        n_genuine=int(np.count_nonzero(y)),
        n_impostor=int(np.count_nonzero(~y)),
        n_failed_genuine=int(np.count_nonzero(failed & y)),
        n_failed_impostor=int(np.count_nonzero(failed & ~y)),
        auc=roc_auc(s, y),
        eer=eer,
        eer_threshold=eer_threshold,
        accuracy=cross_validated_accuracy(s, y, folds),
        tar_at_far=tuple(tar_at_far(s, y, far) for far in fars),
        genuine=summarise(s[y]),
        impostor=summarise(s[~y]),
        roc=roc_curve(s, y),
    )
