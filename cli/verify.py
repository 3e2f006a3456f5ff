"""`facedb verify`: who is this (1:N), or is this the claimed person (1:1)?"""

from __future__ import annotations

import sys

import click

from facedb.errors import InvalidInputError
from facedb.service import FACES_PER_DECISION, VerifyResult

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
    help="Accept at this cosine similarity or more (overrides the calibrated value).",
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
    liveness: str | None,
    aligned: bool,
    as_json: bool,
) -> None:
    """Recognise the person at the camera and log an attendance row.

    Without --name, finds the most similar enrolled person (1:N, in SQL over the
    HNSW index); with --name, compares with that person only (1:1). The decision
    uses up to --frames good faces: their embeddings are averaged into one probe.
    A person accepted again within the cooldown (FACEDB_COOLDOWN, 60 s) is answered
    but logged once.

    With liveness on, a face judged a photo or a screen (a score below
    FACEDB_LIVENESS_THRESHOLD on any face used) is not matched: the attempt is
    logged as spoof with its score.

    Exit code: 0 accepted, 1 not accepted (unknown, rejected, no face, spoof), 2 or
    more for errors, so that a door script can use it.

    \b
    Examples:
      facedb verify                              # camera 0, who is it?
      facedb verify --name Alice --source probe.jpg
      facedb verify --source clip.mp4 --json
      facedb verify --source probe.jpg --liveness on
    """
    if aligned and (source.isdigit() or "://" in source):
        raise InvalidInputError("--aligned takes image files, not a camera or a stream")
    service = open_service(liveness=liveness)
    result = service.verify(
        source, name=name, frames=frames, timeout=timeout, threshold=threshold, aligned=aligned
    )
    if as_json:
        print_json(result)
    else:
        click.echo(describe(result))
    sys.exit(0 if result.accepted else 1)


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
            f"{result.threshold:.3f}){note}"
        )
    if result.decision == "rejected":
        return (
            f"rejected: not {result.claimed} (similarity {similarity} < threshold "
            f"{result.threshold:.3f})"
        )
    if result.decision == "unknown":
        nearest = f", nearest {result.candidates[0].name}" if result.candidates else ""
        return (
            f"unknown: nobody enrolled matches (best similarity {similarity}{nearest}; "
            f"threshold {result.threshold:.3f})"
        )
    if result.decision == "bad_quality":
        return f"no usable face: {'; '.join(result.reasons)}"
    if result.decision == "spoof":
        return f"refused: {'; '.join(result.reasons)}"
    return f"no face found in {result.frames} frame(s)"
