"""A PNG of an evaluation: the ROC (log FAR axis) and the score histograms.

matplotlib is optional (the ``plot`` extra) and imported only here, on use. The
figure is drawn with matplotlib's object API and the Agg canvas: no pyplot, no
global backend change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from facedb.domain.evaluation import EvaluationResult
from facedb.errors import InvalidInputError

MISSING = "matplotlib is not installed: pip install 'facedb[plot]'"


def _figure_class() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise InvalidInputError(MISSING) from None
    return Figure


def check_available() -> None:
    """Raise InvalidInputError now if matplotlib is missing (before a long evaluation)."""
    _figure_class()


def save_plot(result: EvaluationResult, path: Path, title: str = "") -> None:
    """Write the ROC and histograms of ``result`` (scored pairs) to ``path`` (PNG)."""
    figure = _figure_class()(figsize=(10, 4), dpi=90, layout="constrained")
    roc_axes, hist_axes = figure.subplots(1, 2)
    _draw_roc(roc_axes, result)
    _draw_histograms(hist_axes, result)
    if title:
        figure.suptitle(title)
    try:
        figure.savefig(path, format="png")
    except OSError as exc:
        raise InvalidInputError(f"cannot write plot {path}: {exc}") from None


def _draw_roc(axes: Any, result: EvaluationResult) -> None:
    metrics = result.scored
    roc = metrics.roc
    n_imp = metrics.n_impostor
    # a log axis cannot show FAR 0: draw it at half the smallest measurable FAR
    far = np.maximum(roc.far, 0.5 / n_imp)
    axes.step(far, roc.tar, where="post", label=f"AUC {metrics.auc:.4f}, EER {metrics.eer:.2%}")
    for point in metrics.tar_at_far:
        if point.tar is not None:
            axes.plot(
                [point.far], [point.tar], "o", label=f"TAR {point.tar:.3f} @ FAR {point.far:g}"
            )
    axes.set_xscale("log")
    axes.set_xlim(0.5 / n_imp, 1.0)
    axes.set_ylim(0.0, 1.01)
    axes.set_xlabel("false accept rate (log)")
    axes.set_ylabel("true accept rate")
    axes.set_title(f"ROC: {metrics.n_genuine} genuine, {n_imp} impostor pairs")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right", fontsize="small")


def _draw_histograms(axes: Any, result: EvaluationResult) -> None:
    genuine = [p.similarity for p in result.pairs if p.same and p.similarity is not None]
    impostor = [p.similarity for p in result.pairs if not p.same and p.similarity is not None]
    bins = np.linspace(-1.0, 1.0, 101)
    # densities: the two classes can differ in size by orders of magnitude
    axes.hist(impostor, bins=bins, density=True, alpha=0.6, label=f"impostor ({len(impostor)})")
    axes.hist(genuine, bins=bins, density=True, alpha=0.6, label=f"genuine ({len(genuine)})")
    axes.axvline(result.scored.eer_threshold, color="black", linestyle="--", label="EER threshold")
    axes.set_xlim(-0.5, 1.0)
    axes.set_xlabel("cosine similarity")
    axes.set_ylabel("density")
    axes.set_title("score distributions")
    axes.legend(loc="upper right", fontsize="small")
