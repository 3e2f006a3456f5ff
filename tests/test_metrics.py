"""Verification metrics on small score sets whose values are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facedb.errors import InvalidInputError
from facedb.evaluation.metrics import (
    best_threshold,
    calibrate_threshold,
    compute_metrics,
    cross_validated_accuracy,
    equal_error_rate,
    interleaved_folds,
    min_impostors_for,
    roc_auc,
    roc_curve,
    scored_only,
    summarise,
    tar_at_far,
)

# 4 genuine, 4 impostor. Descending: .9G .8G .7G .6I .5I .4G .3I .1I
SCORES = [0.9, 0.8, 0.7, 0.4, 0.6, 0.5, 0.3, 0.1]
LABELS = [True, True, True, True, False, False, False, False]


def test_roc_points() -> None:
    roc = roc_curve(SCORES, LABELS)
    # first point accepts nothing; then one point per distinct score, descending
    assert roc.thresholds[0] > 0.9
    np.testing.assert_allclose(roc.thresholds[1:], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.1])
    np.testing.assert_allclose(roc.far, [0, 0, 0, 0, 0.25, 0.5, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(roc.tar, [0, 0.25, 0.5, 0.75, 0.75, 0.75, 1.0, 1.0, 1.0])


def test_auc_by_hand() -> None:
    # genuine .4 loses to impostors .6 and .5: 2 of 16 pairs misordered
    assert roc_auc(SCORES, LABELS) == pytest.approx(14 / 16)


def test_auc_with_ties() -> None:
    # genuine [.5, .5], impostor [.5, .2]: pairs (G, I) = 4; wins: G>.2 twice; ties with .5
    # twice (one half each) -> (2 + 1) / 4
    assert roc_auc([0.5, 0.5, 0.5, 0.2], [True, True, False, False]) == pytest.approx(0.75)
    # everything tied: chance
    assert roc_auc([0.3, 0.3, 0.3], [True, False, False]) == pytest.approx(0.5)


def test_auc_perfect_and_reversed() -> None:
    assert roc_auc([0.9, 0.8, 0.1], [True, True, False]) == 1.0
    assert roc_auc([0.1, 0.2, 0.9], [True, True, False]) == 0.0


def test_eer_by_hand() -> None:
    # at threshold .6: FAR = 1/4, FRR = 1/4 (genuine .4 rejected)
    eer, threshold = equal_error_rate(SCORES, LABELS)
    assert eer == pytest.approx(0.25)
    assert threshold == pytest.approx(0.6)


def test_eer_perfect_separation_is_zero() -> None:
    eer, threshold = equal_error_rate([0.9, 0.8, 0.2, 0.1], [True, True, False, False])
    assert eer == 0.0
    assert threshold == pytest.approx(0.8)  # highest threshold with FAR = FRR = 0


def test_best_threshold_and_accuracy() -> None:
    # the best split of SCORES: accept >= .65 gives 3 + 4 = 7 of 8 (midpoint of .6 and .7);
    # accepting >= .35 gives 4 + 2 = 6 of 8
    assert best_threshold(SCORES, LABELS) == pytest.approx(0.65)


def test_cross_validated_accuracy_two_folds_by_hand() -> None:
    scores = [0.9, 0.2, 0.8, 0.3, 0.7, 0.75]
    labels = [True, False, True, False, True, False]
    folds = [0, 0, 0, 1, 1, 1]
    result = cross_validated_accuracy(scores, labels, folds)
    assert result is not None
    # fold 0 held out: train on [.3 I, .7 G, .75 I] -> best split accepts >= .725?
    # candidates .3 (acc 1/3), .5 (2/3), .725 (1/3: rejects .7 G, accepts .75 I), just
    # above .75 (2/3); tie between .5 and above .75, lowest wins: .5
    # test fold 0 at .5: .9 G ok, .2 I ok, .8 G ok -> 1.0
    # fold 1 held out: train on [.9 G, .2 I, .8 G] -> best .5 (3/3, the midpoint of .2, .8)
    # test fold 1 at .5: .3 I ok, .7 G ok, .75 I wrongly accepted -> 2/3
    assert result.fold_thresholds == pytest.approx((0.5, 0.5))
    assert result.fold_accuracies == pytest.approx((1.0, 2 / 3))
    assert result.mean == pytest.approx(5 / 6)
    assert result.std == pytest.approx(1 / 6)  # population std of {1, 2/3}


def test_interleaved_folds_are_stratified() -> None:
    labels = [True, False] * 10 + [True] * 3
    folds = interleaved_folds(labels, 10)
    genuine = folds[np.array(labels)]
    np.testing.assert_array_equal(genuine, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2])
    np.testing.assert_array_equal(folds[~np.array(labels)], np.arange(10))


def test_ten_fold_accuracy_on_separable_scores_is_one() -> None:
    rng = np.random.default_rng(0)
    scores = np.concatenate([rng.uniform(0.5, 1.0, 50), rng.uniform(-0.5, 0.3, 50)])
    labels = np.arange(100) < 50
    result = cross_validated_accuracy(scores, labels)
    assert result is not None
    assert len(result.fold_accuracies) == 10
    assert result.mean == 1.0 and result.std == 0.0


def test_too_few_pairs_for_folds_gives_none() -> None:
    assert cross_validated_accuracy([0.9, 0.1], [True, False]) is None


def test_min_impostors() -> None:
    assert [min_impostors_for(f) for f in (1e-1, 1e-2, 1e-3, 1e-4)] == [10, 100, 1000, 10000]
    assert min_impostors_for(0.3) == 4


def _synthetic(n_genuine: int, n_impostor: int) -> tuple[np.ndarray, np.ndarray]:
    impostor = np.linspace(-0.2, 0.4, n_impostor)  # distinct, ascending
    genuine = np.linspace(0.3, 0.9, n_genuine)
    scores = np.concatenate([genuine, impostor])
    labels = np.arange(scores.size) < n_genuine
    return scores, labels


def test_tar_at_far_by_hand() -> None:
    # 10 impostors: FAR 0.1 allows 1 accept; threshold just above the 2nd highest impostor
    impostor = [0.0, 0.1, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6]
    genuine = [0.52, 0.58, 0.7, 0.8]
    scores = genuine + impostor
    labels = [True] * 4 + [False] * 10
    result = tar_at_far(scores, labels, 0.1)
    assert result.threshold is not None
    assert 0.55 < result.threshold < 0.55 + 1e-6
    assert result.achieved_far == pytest.approx(0.1)  # only .6 accepted
    assert result.tar == pytest.approx(0.75)  # .58 .7 .8; .52 rejected
    # FAR 0.01 needs 100 impostors: n/a
    na = tar_at_far(scores, labels, 0.01)
    assert na.threshold is None and na.tar is None and na.achieved_far is None


def test_tar_at_far_threshold_with_tied_impostors() -> None:
    # impostors tied at the quantile: accepting the tie would exceed the FAR
    scores = [0.9, 0.7, 0.7, 0.7] + [0.1] * 7
    labels = [True] + [False] * 10
    result = tar_at_far(scores, labels, 0.1)  # 1 accept allowed, 3 tied at .7
    assert result.threshold is not None and result.threshold > 0.7
    assert result.achieved_far == 0.0
    assert result.tar == 1.0


@pytest.mark.parametrize("far", [0.1, 0.05, 0.01, 0.003, 0.001])
def test_calibration_semantics(far: float) -> None:
    """At the returned threshold, accepting similarity >= threshold keeps the impostor
    accept rate <= far, and any lower threshold in the data would exceed it."""
    rng = np.random.default_rng(1)
    impostor = np.round(rng.normal(0.05, 0.1, 2000), 3)  # rounded: many ties
    genuine = rng.normal(0.6, 0.15, 500)
    scores = np.concatenate([genuine, impostor])
    labels = np.arange(scores.size) < genuine.size
    result = calibrate_threshold(scores, labels, far)
    accepted = impostor >= result.threshold
    assert accepted.mean() <= far
    assert result.achieved_far == pytest.approx(accepted.mean())
    assert result.tar == pytest.approx(np.mean(genuine >= result.threshold))
    # the threshold is minimal: the highest impostor score below it would let too many in
    below = impostor[impostor < result.threshold].max()
    assert np.mean(impostor >= below) > far
    # still right in float32 (how a database may store it)
    assert np.mean(impostor.astype(np.float32) >= np.float32(result.threshold)) <= far
    assert (result.far, result.n_genuine, result.n_impostor) == (far, 500, 2000)


def test_calibration_needs_enough_impostors() -> None:
    scores, labels = _synthetic(10, 999)
    with pytest.raises(InvalidInputError, match="at least 1000 impostor pairs, got 999"):
        calibrate_threshold(scores, labels, 1e-3)
    with pytest.raises(InvalidInputError, match=r"in \(0, 1\)"):
        calibrate_threshold(scores, labels, 0.0)


def test_summary() -> None:
    s = summarise([1.0, 2.0, 3.0, 4.0, np.nan])
    assert s is not None
    assert (s.count, s.mean, s.min, s.max, s.p50) == (4, 2.5, 1.0, 4.0, 2.5)
    assert s.std == pytest.approx(math.sqrt(1.25))
    assert summarise([np.nan]) is None


def test_failures_counted_as_errors() -> None:
    # a failed genuine pair (NaN) is a false reject, a failed impostor a correct reject
    scores = [0.9, 0.8, np.nan, 0.2, 0.1, np.nan]
    labels = [True, True, True, False, False, False]
    all_pairs = compute_metrics(scores, labels)
    assert (all_pairs.n_failed_genuine, all_pairs.n_failed_impostor) == (1, 1)
    assert all_pairs.roc.tar.max() == pytest.approx(2 / 3)  # never accepted
    assert all_pairs.roc.far.max() == pytest.approx(2 / 3)
    # AUC: the failed genuine ranks below the two impostors and ties the failed one:
    # of 9 (G, I) pairs, wins 2*3 + 0.5 -> 6.5 / 9
    assert all_pairs.auc == pytest.approx(6.5 / 9)
    # accuracy over 6 pairs at the best threshold: 5 of 6 (the failed genuine is wrong)
    assert best_threshold(scores, labels) == pytest.approx(0.5)

    kept_scores, kept_labels, keep = scored_only(scores, labels)
    scored = compute_metrics(kept_scores, kept_labels)
    assert keep.tolist() == [True, True, False, True, True, False]
    assert scored.auc == 1.0 and scored.eer == 0.0
    assert scored.n_pairs == 4 and scored.n_failed_genuine == 0


def test_compute_metrics_reports_na() -> None:
    scores, labels = _synthetic(50, 120)
    m = compute_metrics(scores, labels)
    by_far = {t.far: t for t in m.tar_at_far}
    assert by_far[1e-1].threshold is not None and by_far[1e-2].threshold is not None
    assert by_far[1e-3].threshold is None and by_far[1e-4].tar is None
    assert m.genuine is not None and m.genuine.count == 50
    assert m.accuracy is not None and len(m.accuracy.fold_accuracies) == 10


def test_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="genuine and one impostor"):
        compute_metrics([0.1, 0.2], [True, True])
    with pytest.raises(InvalidInputError, match="3 scores but 2 labels"):
        roc_auc([0.1, 0.2, 0.3], [True, False])
    with pytest.raises(InvalidInputError, match="finite"):
        roc_auc([np.inf, 0.2], [True, False])
