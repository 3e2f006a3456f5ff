"""`facedb policy`: the decision thresholds in force, what they mean in false accepts
per day, and how the 1:N threshold grows with the gallery."""

from __future__ import annotations

from dataclasses import asdict

import click

from facedb.policy import PolicyStatus

from .context import open_service
from .output import json_option, print_json, print_table


@click.command("policy")
@click.option(
    "--attempts",
    type=click.IntRange(0, 100_000_000),
    default=1000,
    show_default=True,
    help="Verifications a day, to turn error rates into expected false accepts.",
)
@click.option(
    "--strangers",
    type=click.FloatRange(0.0, 1.0),
    default=0.05,
    show_default=True,
    help="Share of those attempts made by people who are not enrolled.",
)
@click.option("--site", help="The 1:N scope of a kiosk limited to this site.")
@click.option("--group", help="The 1:N scope of a kiosk limited to this group.")
@click.option("--recalibrate", is_flag=True, help="Search the gallery against itself first.")
@json_option
def policy_command(
    attempts: int,
    strangers: float,
    site: str | None,
    group: str | None,
    recalibrate: bool,
    as_json: bool,
) -> None:
    """Show the thresholds that decide, and the false accepts to expect from them.

    A claim (verify --name) is compared with one person: its threshold is set for a
    false-accept rate per comparison. A search (verify with no name) is compared with
    everyone in its scope, so a stranger's chance of matching someone grows with the
    number of people: its threshold is set for FACEDB_FPIR (the share of strangers'
    searches that may return someone) at the current gallery size, from the model's
    calibration and the gallery searched against itself.

    \b
    Examples:
      facedb policy
      facedb policy --attempts 5000 --strangers 0.1 --site north
      facedb policy --recalibrate --json
    """
    service = open_service()
    if recalibrate:
        service.recalibrate_gallery(force=True)
    status = service.policy_status(site=site, group=group)
    if as_json:
        print_json({"attempts": attempts, "strangers": strangers, **asdict(status)})
        return
    _print(status, attempts, strangers)


def _print(status: PolicyStatus, attempts: int, strangers: float) -> None:
    search = status.search
    stranger_searches = attempts * strangers
    rows: list[tuple[str, str]] = [
        ("embedder", status.model),
        ("1:1 threshold (verify --name)", f"{status.one_to_one.value:.3f} ({status.one_to_one.source})"),
    ]  # fmt: skip
    if status.one_to_one_far is not None:
        rows.append(("1:1 false-accept rate per compared face", f"{status.one_to_one_far:.1e}"))
    if search is not None:
        scope = f"{search.persons} people, {search.faces} faces"
        rows += [
            ("1:N gallery searched", scope),
            ("1:N threshold (verify)", f"{search.value:.3f} ({search.source})"),
            ("1:N margin over the second person", f"{status.margin:.2f}"),
            ("calibration", status.calibration + _pairs(status)),
        ]
        if search.fpir_target is not None:
            rows.append(("FPIR target per search", f"{search.fpir_target:g}"))
        if search.predicted_fpir is not None:
            expected = search.predicted_fpir * stranger_searches
            rows += [
                ("FPIR predicted at this threshold", f"{search.predicted_fpir:.2e}"),
                (
                    f"strangers accepted a day ({stranger_searches:g} stranger searches)",
                    f"{expected:.2f} at most",
                ),
            ]
    print_table(("", "value"), rows, title="decision policy")
    if status.projections:
        print_table(
            ("people", "faces", "threshold at the target", "FPIR if left at today's"),
            (
                (f"{p.persons:,}", f"{p.faces:,}", f"{p.threshold:.3f}", f"{p.fpir_at_current_threshold:.2e}")
                for p in status.projections
            ),
            title="as the gallery grows",
        )  # fmt: skip


def _pairs(status: PolicyStatus) -> str:
    if status.gallery_pairs is None:
        return " (the gallery is too small for its own; the model's is used)"
    return f" ({status.gallery_pairs:,} impostor pairs of the gallery's own)"
