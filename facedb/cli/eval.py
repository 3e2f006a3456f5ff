"""`facedb eval`: error rates of the configured models on a labelled pairs file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from facedb.domain.evaluation import EvaluationResult, ScoreSummary, TarAtFar, VerificationMetrics
from facedb.usecases import evaluation

from .context import open_service
from .options import device_option, pairs_root_option
from .output import err_console, json_option, print_json, print_table

MAX_FAILURES_LISTED = 20


@click.command("eval")
@click.argument("pairs_file", type=click.Path(dir_okay=False, path_type=Path))
@pairs_root_option
@json_option
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the ROC curve and score histograms to this PNG (needs matplotlib).",
)
@device_option
def eval_command(
    pairs_file: Path, root: Path | None, as_json: bool, plot_path: Path | None, device: str | None
) -> None:
    """Measure verification accuracy on labelled image pairs.

    PAIRS_FILE is a CSV with the columns path1,path2,same (same: 1/0, true/false,
    yes/no; deepface's file_x,file_y,Decision also works) or an LFW pairs.txt
    (View 1 or View 2, images ROOT/name/name_0001.jpg). Each image is embedded once
    with the main face (largest, nearest the centre); images with no face are
    failures to enrol, counted both ways: left out, and as errors.

    Accepting a pair means similarity >= threshold. The TAR@FAR rows give the
    smallest threshold with a false accept rate at most FAR on these pairs
    (n/a with fewer than 1/FAR impostor pairs).

    \b
    Examples:
      facedb eval pairs.csv
      facedb eval lfw/pairs.txt --root lfw/lfw --plot roc.png
      facedb eval celeba/pairs.csv --root faces --json > result.json
    """
    with _embedding_progress() as advance:
        run = evaluation.evaluate_pairs(
            pairs_file, root, device=device, plot_path=plot_path, progress=advance
        )
    if as_json:
        print_json({"pairs_file": pairs_file, "embedder": run.embedder, **asdict(run.result)})
        return
    _print_result(run.result, run.embedder)


@contextmanager
def _embedding_progress() -> Iterator[Callable[[int, int], None]]:
    columns = (
        TextColumn("embedding images"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console(), transient=True) as progress:
        task = progress.add_task("images", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield advance


# ---------------------------------------------------------------------------
# The table for people


def _print_result(result: EvaluationResult, embedder: str) -> None:
    scored, full = result.scored, result.with_failures
    rows = [
        ["pairs (genuine/impostor)", _pair_counts(scored), _pair_counts(full)],
        ["failures to enrol", "", f"{len(result.failures)} of {result.n_images} images"],
        ["pairs with a failure", "", str(full.n_failed_genuine + full.n_failed_impostor)],
        ["ROC AUC", f"{scored.auc:.5f}", f"{full.auc:.5f}"],
        ["EER (threshold)", _eer(scored), _eer(full)],
        ["accuracy 10-fold", _accuracy(scored), _accuracy(full)],
    ]
    for mine, theirs in zip(scored.tar_at_far, full.tar_at_far, strict=True):
        rows.append([f"TAR @ FAR {mine.far:g} (threshold)", _tar(mine), _tar(theirs)])
    print_table(
        ["metric", "scored pairs", "failures as errors"],
        rows,
        title=f"{embedder}: accept when similarity >= threshold",
    )
    if any(point.tar is None for point in scored.tar_at_far):
        click.echo("n/a: fewer than 1/FAR impostor pairs, too few to measure that FAR")
    print_table(
        ["cosine similarity", "genuine", "impostor"],
        _summary_rows(scored.genuine, scored.impostor),
        title="score distributions of the scored pairs",
    )
    _print_failures(result)


def _pair_counts(m: VerificationMetrics) -> str:
    return f"{m.n_pairs} ({m.n_genuine} / {m.n_impostor})"


def _eer(m: VerificationMetrics) -> str:
    return f"{m.eer:.2%} ({m.eer_threshold:.4f})"


def _accuracy(m: VerificationMetrics) -> str:
    if m.accuracy is None:
        return "n/a"
    return f"{m.accuracy.mean:.2%} ± {m.accuracy.std:.2%}"


def _tar(point: TarAtFar) -> str:
    if point.tar is None or point.threshold is None:
        return "n/a"
    return f"{point.tar:.2%} ({point.threshold:.4f})"


_STATISTICS = ("mean", "std", "min", "p1", "p5", "p50", "p95", "p99", "max")


def _summary_rows(genuine: ScoreSummary | None, impostor: ScoreSummary | None) -> list[list[str]]:
    rows = [["pairs", *(str(s.count if s else 0) for s in (genuine, impostor))]]
    for name in _STATISTICS:
        rows.append([name, *(f"{getattr(s, name):.3f}" if s else "" for s in (genuine, impostor))])
    return rows


def _print_failures(result: EvaluationResult) -> None:
    if not result.failures:
        return
    shown = result.failures[:MAX_FAILURES_LISTED]
    print_table(
        ["image", "failure to enrol"],
        [[str(f.path), f.reason] for f in shown],
        title=f"{len(result.failures)} failure(s) to enrol"
        + (
            f", first {len(shown)} shown (all in --json)"
            if len(shown) < len(result.failures)
            else ""
        ),
    )


@click.command("calibrate")
@click.argument("pairs_file", type=click.Path(dir_okay=False, path_type=Path))
@pairs_root_option
@click.option(
    "--far",
    type=click.FloatRange(1e-6, 0.5),
    default=1e-3,
    show_default=True,
    help="The false-accept rate to calibrate at (needs at least 1/FAR impostor pairs).",
)
@click.option("--dry-run", is_flag=True, help="Compute and print, store nothing.")
@json_option
def calibrate_command(
    pairs_file: Path, root: Path | None, far: float, dry_run: bool, as_json: bool
) -> None:
    """Set the 1:1 accept threshold of the current embedder from labelled pairs.

    The threshold is the smallest cosine similarity at which at most FAR of the
    impostor pairs are accepted. It is stored in the database with the model
    name, so `verify --name` on every kiosk sharing the database uses it (unless
    --threshold or FACEDB_THRESHOLD override it). Searches (verify with no name)
    set theirs from FACEDB_FPIR and the gallery's size, never below this one
    (`facedb policy` shows both). Images with no face count in the denominators
    and are never accepted.

    Example: facedb calibrate site_pairs.csv --far 1e-3
    """
    service = open_service()
    with _embedding_progress() as advance:
        run = evaluation.calibrate(
            service, pairs_file, root, far, dry_run=dry_run, progress=advance
        )
    calibration = run.calibration
    if as_json:
        print_json({"model": run.model, "stored": run.stored, **asdict(calibration)})
        return
    print_table(
        ["", "value"],
        [
            ["embedder", run.model],
            ["threshold (accept when similarity >=)", f"{calibration.threshold:.4f}"],
            ["target FAR / measured FAR", f"{calibration.far:g} / {calibration.achieved_far:.2e}"],
            ["TAR at that threshold", f"{calibration.tar:.2%}"],
            ["pairs (genuine / impostor)", f"{calibration.n_genuine} / {calibration.n_impostor}"],
        ],
        title="calibration",
    )
    click.echo("stored in the database" if run.stored else "dry run: nothing stored")
