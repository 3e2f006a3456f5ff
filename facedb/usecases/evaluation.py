"""Verification accuracy on labelled pairs (`facedb eval`) and the 1:1 threshold
calibrated from them (`facedb calibrate`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facedb.config import Settings
from facedb.domain.evaluation import EvaluationResult
from facedb.errors import InvalidInputError
from facedb.evaluation.metrics import CalibrationResult, calibrate_threshold, min_impostors_for
from facedb.evaluation.pairs import read_pairs
from facedb.evaluation.plot import check_available, save_plot
from facedb.evaluation.runner import evaluate
from facedb.usecases import thresholds
from facedb.usecases.runtime import Runtime
from facedb.vision.pipeline import FacePipeline

Progress = Callable[[int, int], None]  # (images embedded, images in all)


@dataclass(frozen=True, eq=False)
class PairsEvaluation:
    embedder: str  # the manifest name of the embedder measured
    result: EvaluationResult


@dataclass(frozen=True)
class CalibrationRun:
    model: str  # the embedder the threshold is for
    stored: bool  # False for a dry run
    calibration: CalibrationResult


def evaluate_pairs(
    pairs_file: Path,
    root: Path | None,
    *,
    device: str | None,
    plot_path: Path | None,
    progress: Progress,
) -> PairsEvaluation:
    """Embeds each image of the pairs file once and scores every pair; with
    ``plot_path``, writes the ROC and score histograms there (matplotlib is checked
    before the images are embedded)."""
    pairs = read_pairs(pairs_file, root)
    if plot_path is not None:
        check_available()
    pipeline = FacePipeline(Settings.load({"device": device}))
    result = evaluate(pairs, pipeline, progress=progress)
    if plot_path is not None:
        save_plot(result, plot_path, title=f"{pairs_file.name}: {pipeline.embedder_name}")
    return PairsEvaluation(pipeline.embedder_name, result)


def calibrate(
    rt: Runtime,
    pairs_file: Path,
    root: Path | None,
    far: float,
    *,
    dry_run: bool,
    progress: Progress,
) -> CalibrationRun:
    """The smallest threshold accepting at most ``far`` of the impostor pairs, stored
    for the runtime's embedder unless ``dry_run``. Pairs with an image that gave no
    face stay in the denominators and are never accepted."""
    pairs = read_pairs(pairs_file, root)
    # The pairs are counted before anything is embedded: too few impostors (or no
    # genuine pair) is refused at once, not after minutes of embedding.
    n_impostor = sum(not p.same for p in pairs)
    needed = min_impostors_for(far)
    if n_impostor < needed:
        raise InvalidInputError(
            f"calibrating at FAR {far:g} needs at least {needed} impostor pairs, "
            f"{pairs_file} has {n_impostor}: add impostor pairs, or calibrate at a larger --far"
        )
    if len(pairs) == n_impostor:
        raise InvalidInputError(
            f"calibration needs at least one genuine pair; {pairs_file} has none"
        )
    result = evaluate(pairs, rt.pipeline, progress=progress)
    scores = [np.nan if p.similarity is None else p.similarity for p in result.pairs]
    calibration = calibrate_threshold(scores, [p.same for p in result.pairs], far)
    if not dry_run:
        thresholds.save_calibration(rt, calibration, str(pairs_file))
    return CalibrationRun(rt.pipeline.embedder_name, not dry_run, calibration)
