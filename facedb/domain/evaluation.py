"""What an evaluation on labelled pairs measured (`facedb eval`): the ROC, TAR at
fixed FARs, EER, cross-validated accuracy and the score distributions, over the
scored pairs and with failures to enrol counted as errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class RocCurve:
    """The ROC: one point per distinct finite score, thresholds in descending order.

    The first point accepts nothing (its threshold is just above the highest score),
    the last accepts every scored pair (its threshold is the lowest score).
    """

    thresholds: FloatArray  # accept when score >= threshold
    far: FloatArray
    tar: FloatArray


@dataclass(frozen=True)
class TarAtFar:
    """TAR at the smallest threshold whose FAR is at most ``far``.

    ``threshold``, ``tar`` and ``achieved_far`` are None ("n/a") when there are fewer
    than ceil(1 / far) impostor pairs: too few to measure that FAR.
    """

    far: float  # the target
    threshold: float | None
    tar: float | None
    achieved_far: float | None


@dataclass(frozen=True)
class CrossValidatedAccuracy:
    """Accuracy by k-fold cross-validation (the LFW protocol).

    For each fold, the threshold that maximises accuracy on the other folds is applied
    to the held-out fold. ``std`` is the population standard deviation (ddof=0) of the
    per-fold accuracies, as in the LFW verification scripts of insightface.
    """

    mean: float
    std: float
    fold_accuracies: tuple[float, ...]
    fold_thresholds: tuple[float, ...]


@dataclass(frozen=True)
class ScoreSummary:
    """Distribution of the finite scores of one class (genuine or impostor)."""

    count: int
    mean: float
    std: float  # population standard deviation
    min: float
    p1: float
    p5: float
    p25: float
    p50: float
    p75: float
    p95: float
    p99: float
    max: float


@dataclass(frozen=True, eq=False)
class VerificationMetrics:
    """Every metric of one set of scored pairs (NaN scores = failures to enrol)."""

    n_pairs: int
    n_genuine: int
    n_impostor: int
    n_failed_genuine: int  # genuine pairs with a NaN score (counted as false rejects)
    n_failed_impostor: int  # impostor pairs with a NaN score (counted as correct rejects)
    auc: float
    eer: float
    eer_threshold: float
    accuracy: CrossValidatedAccuracy | None  # None with fewer pairs than folds
    tar_at_far: tuple[TarAtFar, ...]
    genuine: ScoreSummary | None  # None when no genuine pair was scored
    impostor: ScoreSummary | None
    roc: RocCurve


@dataclass(frozen=True)
class ImageFailure:
    """An image that gave no embedding: unreadable, or no face found."""

    path: Path
    reason: str


@dataclass(frozen=True)
class ScoredPair:
    path1: Path
    path2: Path
    same: bool
    fold: int | None
    similarity: float | None  # cosine similarity; None when an image failed


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    n_images: int  # distinct images in the pairs file
    failures: tuple[ImageFailure, ...]  # failures to enrol, in pairs-file order
    pairs: tuple[ScoredPair, ...]
    scored: VerificationMetrics  # over the pairs whose two images gave a face
    with_failures: VerificationMetrics  # over every pair, failures counted as errors
