"""Evaluation of face verification on labelled pairs, and threshold calibration.

``read_pairs`` reads a pairs file (CSV or LFW pairs.txt), ``evaluate`` embeds its
images with a vision pipeline and scores every pair, and ``metrics`` computes ROC,
AUC, EER, TAR@FAR and cross-validated accuracy from the scores (their result types
are in facedb.domain.evaluation).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from facedb.evaluation.metrics import CalibrationResult, calibrate_threshold, compute_metrics
from facedb.evaluation.pairs import Pair, read_pairs

if TYPE_CHECKING:
    from facedb.evaluation.runner import evaluate


def __getattr__(name: str) -> Any:
    """``evaluate`` loads the vision stack: imported when asked for (PEP 562)."""
    if name == "evaluate":
        from facedb.evaluation.runner import evaluate

        return evaluate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CalibrationResult",
    "Pair",
    "calibrate_threshold",
    "compute_metrics",
    "evaluate",
    "read_pairs",
]
