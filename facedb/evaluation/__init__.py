"""Evaluation of face verification on labelled pairs, and threshold calibration.

``read_pairs`` reads a pairs file (CSV or LFW pairs.txt), ``evaluate`` embeds its
images with a vision pipeline and scores every pair, and ``metrics`` computes ROC,
AUC, EER, TAR@FAR and cross-validated accuracy from the scores (their result types
are in facedb.domain.evaluation).
"""

from __future__ import annotations

from facedb.evaluation.metrics import CalibrationResult, calibrate_threshold, compute_metrics
from facedb.evaluation.pairs import Pair, read_pairs
from facedb.evaluation.runner import evaluate

__all__ = [
    "CalibrationResult",
    "Pair",
    "calibrate_threshold",
    "compute_metrics",
    "evaluate",
    "read_pairs",
]
