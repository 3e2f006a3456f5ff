"""`facedb verify`: who is this (1:N), or is this the claimed person (1:1)?"""

from __future__ import annotations

import sys

import click

from facedb.domain.constants import FACES_PER_DECISION
from facedb.errors import InvalidInputError
from facedb.usecases.results import VerifyResult

from .context import open_service
from .options import aligned_option, liveness_option, source_option
from .output import json_option, print_json


@click.command("verify")
@click.option("--name", help="The claimed identity: check only this person (1:1).")
@source_option
@click.option(
    "--frames",
    default=FACES_PER_DECISION,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Good faces to collect; the decision uses the mean of the best ones.",
)
@click.option(
    "--timeout",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds to wait for a live source.",
)
@click.option(
    "--threshold",
    type=click.FloatRange(-1, 1),
    help="Accept at this cosine similarity or more (overrides the calibrated value and, "
    "without --name, the gallery-size policy).",
)
@click.option("--site", help="Search only the people of this site (1:N).")
@click.option("--group", help="Search only the people of this group (1:N).")
@click.option(
    "--on-accept",
    metavar="CMD",
    help="Run CMD when accepted, the --json result on its stdin (FACEDB_HOOKS_TIMEOUT s at "
    "most), e.g. --on-accept 'open-door --relay 1'. CMD is a program and its arguments, "
    "run without a shell: for pipes or redirections use sh -c '...'.",
)
@liveness_option
@aligned_option
@json_option
def verify(
    name: str | None,
    source: str,
    frames: int,
    timeout: float,
    threshold: float | None,
    site: str | None,
    group: str | None,
    liveness: str | None,
    aligned: bool,
    as_json: bool,
    on_accept: str | None = None,
) -> None:
    """Recognise the person at the camera and log an attendance row.

    Without --name, finds the most similar enrolled person (1:N, in SQL over the
    HNSW index), accepted when the similarity reaches the threshold for the size of
    the gallery searched (set from FACEDB_FPIR, the share of strangers' searches
    that may return someone) and beats the second person by FACEDB_MARGIN (else
    ambiguous); --site/--group search only those people. With --name, compares
    with that person only (1:1, the per-comparison threshold). The decision
    uses up to --frames good faces: their embeddings are averaged into one probe.
    A person accepted again within the cooldown (FACEDB_COOLDOWN, 60 s) is answered
    but logged once.

    With liveness on, a face judged a photo or a screen (a score below
    FACEDB_LIVENESS_THRESHOLD on any face used) is not matched: the attempt is
    logged as spoof with its score.

    Exit code: 0 accepted, 1 not accepted (unknown, ambiguous, rejected, no face,
    spoof), 2 or more for errors, so that a door script can use it.

    \b
    Examples:
      facedb verify                              # camera 0, who is it?
      facedb verify --name Alice --source probe.jpg
      facedb verify --source clip.mp4 --json
      facedb verify --source probe.jpg --liveness on
      facedb verify --site north --source probe.jpg
    """
    if aligned and (source.isdigit() or "://" in source):
        raise InvalidInputError("--aligned takes image files, not a camera or a stream")
    if on_accept is not None:
        from facedb.events.actions import parse_command

        parse_command(on_accept)  # refused before anything is logged
    service = open_service(liveness=liveness)
    result = service.verify(
        source,
        name=name,
        frames=frames,
        timeout=timeout,
        threshold=threshold,
        aligned=aligned,
        site=site,
        group=group,
    )
    if as_json:
        print_json(result)
    else:
        click.echo(describe(result))
    if on_accept and result.accepted:
        _run_on_accept(on_accept, result, service.settings.hooks_timeout)
    sys.exit(0 if result.accepted else 1)


def _run_on_accept(command: str, result: VerifyResult, timeout: float) -> None:
    from facedb.events.actions import run_command

    from .output import to_json

    done = run_command(command, to_json(result), timeout=timeout)
    if not done.ok:
        click.echo(f"warning: --on-accept command failed: {done.detail}", err=True)


def describe(result: VerifyResult) -> str:
    text = _describe_decision(result)
    if result.offline:
        text += " [offline: database unreachable, logged locally and sent when it is back]"
    return text


def _describe_decision(result: VerifyResult) -> str:
    similarity = "-" if result.similarity is None else f"{result.similarity:.3f}"
    note = "" if result.logged else " (already logged within the cooldown)"
    if result.decision == "accepted":
        return (
            f"accepted: {result.name} (similarity {similarity}, threshold "
            f"{result.threshold:.3f}{_gallery(result)}){note}"
        )
    if result.decision == "rejected":
        return (
            f"rejected: not {result.claimed} (similarity {similarity} < threshold "
            f"{result.threshold:.3f})"
        )
    if result.decision == "unknown" and result.gallery_persons == 0 and not result.scope:
        return (
            "unknown: nobody is enrolled yet, so nobody can match. Enrol people first: "
            "facedb enrol --name 'Alice Martin' --source 0 (or --from-dir staff/)"
        )
    if result.decision == "unknown" and result.gallery_persons == 0:
        return (
            f"unknown: nobody of {result.scope} is enrolled (facedb sites assign / "
            "groups assign, or facedb enrol)"
        )
    if result.decision == "unknown":
        nearest = f", nearest {result.candidates[0].name}" if result.candidates else ""
        return (
            f"unknown: nobody enrolled matches (best similarity {similarity}{nearest}; "
            f"threshold {result.threshold:.3f}{_gallery(result)})"
        )
    if result.decision == "ambiguous":
        return f"ambiguous: {'; '.join(result.reasons)} (nobody was accepted)"
    if result.decision == "bad_quality":
        return f"no usable face: {'; '.join(result.reasons)}"
    if result.decision == "spoof":
        return f"refused: {'; '.join(result.reasons)}"
    return f"no face found in {result.frames} frame(s)"


def _gallery(result: VerifyResult) -> str:
    """1:N: the size the threshold was set for, e.g. " for 120 people at FPIR 1%"."""
    if result.gallery_persons is None or result.fpir_target is None:
        return ""
    scope = f" of {result.scope}" if result.scope else ""
    return f" for {result.gallery_persons} people{scope} at FPIR {result.fpir_target:.2%}"
