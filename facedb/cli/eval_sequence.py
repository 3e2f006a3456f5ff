"""`facedb eval-sequence`: visits in order, with and without guarded template updates,
and a look-alike presented again and again (facedb/evaluation/sequence.py)."""

from __future__ import annotations

from pathlib import Path

import click

from facedb.usecases.sequence_eval import SequenceResult, sequence

from .context import open_service
from .options import device_option
from .output import count_progress, json_option, print_json, print_table


@click.command("eval-sequence")
@click.argument("people", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--repeats",
    default=5,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Adversarial run: how often each stranger presents all their photos.",
)
@click.option(
    "--draws",
    default=10,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Random halves enrolled, one run each; the counts are summed.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the draws.")
@device_option
@json_option
def eval_sequence(
    people: Path, repeats: int, draws: int, seed: int, device: str | None, as_json: bool
) -> None:
    """Visits in order, with and without learning from accepted visits.

    PEOPLE holds one folder per person (PEOPLE/<name>/*.jpg, in name order). Half the
    people, drawn at random (--draws times), are enrolled from their first usable photo; their other
    photos are visits a week apart, decided with facedb's rule at the threshold
    facedb sets for the gallery as it stands (FACEDB_FPIR, FACEDB_MARGIN). The other half are
    strangers: one photo each after every round (FPIR), then, with learning on, all
    their photos --repeats times over (the adversarial run: a face learned from a
    stranger would be a look-alike let in for good). Learning follows the guards of
    FACEDB_TEMPLATE_* (docs/TEMPLATES.md). No database is needed.

    \b
    Examples:
      facedb eval-sequence faces/celeba
      facedb eval-sequence staff/ --repeats 10 --json > sequence.json
    """
    service = open_service(device=device)
    with count_progress("embedding", quiet=as_json) as progress:
        task = progress.add_task("photos", total=None, item="")

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = sequence(
            service, people, repeats=repeats, draws=draws, seed=seed, progress=advance
        )
    if as_json:
        print_json(result)
        return
    _print(result)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / max(whole, 1):.2f} % ({part}/{whole})"


def _print(result: SequenceResult) -> None:
    click.echo(
        f"{result.draws} draws of {result.enrolled} people enrolled from one photo and "
        f"{result.strangers} strangers; FPIR target {result.fpir_target:g}"
    )
    rows = []
    for run in (result.without, result.with_updates):
        for r in run.rounds:
            rows.append(
                (
                    "on" if run.updates else "off",
                    r.round,
                    f"{r.threshold:.3f}",
                    _pct(r.accepted, r.visits),
                    _pct(r.wrong_person, r.visits),
                    _pct(r.strangers_accepted, r.stranger_searches),
                    r.learned,
                )
            )
    print_table(
        ("learning", "visit", "threshold", "accepted", "wrong person", "strangers accepted",
         "learned"),
        rows,
    )  # fmt: skip
    adv = result.adversarial
    click.echo(
        f"adversarial: {adv.strangers} strangers a draw, {adv.searches} searches with "
        f"learning on: {adv.accepted} accepted, {adv.learned} face(s) learned"
    )
