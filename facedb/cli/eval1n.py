"""`facedb eval-1n`: open-set identification error rates (FPIR, FNIR, rank-1, CMC) at
several gallery sizes, with facedb's own decision rule and threshold policy."""

from __future__ import annotations

from pathlib import Path

import click

from facedb.usecases.thresholds import OpenSetResult

from .context import open_service
from .options import device_option
from .output import count_progress, json_option, print_json, print_table


def _sizes(value: str) -> list[int]:
    try:
        sizes = sorted({int(v) for v in value.split(",") if v.strip()})
    except ValueError:
        raise click.BadParameter(f"a comma-separated list of numbers, not {value!r}") from None
    if not sizes or sizes[0] < 1:
        raise click.BadParameter("gallery sizes are positive numbers, e.g. 10,30,100")
    return sizes


@click.command("eval-1n")
@click.argument("people", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--strangers",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folders of people who are never enrolled (every photo a non-mated search).",
)
@click.option(
    "--sizes",
    default="10,30,100",
    show_default=True,
    help="Gallery sizes (people) to draw; sizes above the number of people minus one "
    "are left out unless --strangers is given.",
)
@click.option("--draws", default=20, show_default=True, type=click.IntRange(1, 10_000))
@click.option(
    "--per-person",
    default=3,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Photos of each person enrolled; the others are searches.",
)
@click.option(
    "--det-plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the DET curves (FNIR against FPIR) to this SVG file.",
)
@device_option
@json_option
def eval_1n(
    people: Path,
    strangers: Path | None,
    sizes: str,
    draws: int,
    per_person: int,
    det_plot: Path | None,
    device: str | None,
    as_json: bool,
) -> None:
    """Measure 1:N identification the way NIST's FRVT/FRTE 1:N reports count it.

    PEOPLE holds one folder per person (PEOPLE/<name>/*.jpg). For each gallery size,
    --draws random galleries are drawn: the drawn people are enrolled with their
    first --per-person photos (photos with no usable face are skipped), and every
    other photo is one search. Searches by drawn people are mated (FNIR: not
    identified at rank 1, a photo with no usable face counting as a miss); searches
    by the people not drawn, and by --strangers, are non-mated (FPIR: returned as
    someone). The threshold is the one facedb itself would use for that gallery at
    FACEDB_FPIR, with the margin rule (FACEDB_MARGIN). No database is needed.

    \b
    Examples:
      facedb eval-1n faces/celeba --sizes 10,30,99
      facedb eval-1n staff/ --strangers visitors/ --sizes 100,1000 --det-plot det.svg
      FACEDB_FPIR=0.001 facedb eval-1n faces/celeba --json > openset.json
    """
    wanted = _sizes(sizes)
    service = open_service(device=device)
    with count_progress("embedding", quiet=as_json) as progress:
        task = progress.add_task("photos", total=None, item="")

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = service.evaluate_open_set(
            people,
            strangers=strangers,
            sizes=wanted,
            draws=draws,
            per_person=per_person,
            progress=advance,
            det_plot=det_plot,
        )
    if as_json:
        print_json(result)
        return
    _print(result)


_FAILED_SHOWN = 10


def _pct(value: float) -> str:
    return f"{100 * value:.2f} %"


def _print(result: OpenSetResult) -> None:
    click.echo(
        f"{result.people} people, {result.strangers} never enrolled, {result.images} photos; "
        f"failure to acquire {result.failures_to_acquire} "
        f"({_pct(result.failures_to_acquire / max(result.images, 1))})"
    )
    if result.failed_photos:
        shown = ", ".join(result.failed_photos[:_FAILED_SHOWN])
        more = len(result.failed_photos) - _FAILED_SHOWN
        click.echo(
            f"no usable face in: {shown}" + (f" and {more} more (--json)" if more > 0 else "")
        )
    if result.left_out_sizes:
        largest = result.people - 1 if not result.strangers else result.people
        click.echo(
            f"left out: gallery size(s) {', '.join(map(str, result.left_out_sizes))}: "
            f"{result.people} people have a usable face, so a gallery holds at most "
            f"{largest} (one left over as a stranger, or every one with --strangers)"
        )
    if not result.sizes:
        click.echo("nothing measured: give smaller --sizes, or more people")
        return
    print_table(
        ("people", "faces", "threshold", "FPIR predicted", "FPIR", "FNIR", "wrong person",
         "ambiguous", "rank-1", "FPIR no margin", f"thr. for FPIR {result.fpir_target:g}"),
        (
            (
                s.persons,
                f"{s.faces:.0f}",
                f"{s.threshold:.3f}",
                _pct(s.predicted_fpir),
                _pct(s.fpir),
                _pct(s.fnir),
                _pct(s.wrong_person),
                _pct(s.ambiguous),
                _pct(s.rank1),
                _pct(s.fpir_without_margin),
                "-" if s.threshold_for_target is None else f"{s.threshold_for_target:.3f}",
            )
            for s in result.sizes
        ),
        title=f"open-set identification at FPIR target {result.fpir_target:g}, "
        f"margin {result.margin:g}",
    )  # fmt: skip
    print_table(
        (
            "people",
            *(f"FPIR at {c.threshold:.2f}: predicted / observed" for c in result.sizes[0].checks),
        )
        if result.sizes
        else ("people",),
        (
            (s.persons, *(f"{_pct(c.predicted)} / {_pct(c.observed)}" for c in s.checks))
            for s in result.sizes
        ),
        title="the policy's FPIR prediction against what was observed",
    )
