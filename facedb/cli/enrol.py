"""`facedb enrol`: add a person (or many) to the gallery."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.progress import BarColumn, Progress, TextColumn

from facedb.domain.constants import KEEP_PER_PERSON
from facedb.errors import InvalidInputError
from facedb.service import FaceService
from facedb.usecases.enrolment import pose_hint
from facedb.usecases.results import BulkOutcome

from .context import open_service

if TYPE_CHECKING:
    from facedb.usecases.enrolment import Capture
from .options import liveness_option, source_option
from .output import count_progress, err_console, json_option, print_json, print_table


@click.command("enrol")
@click.option("--name", help="The person's name (unique, letter case ignored).")
@source_option
@click.option(
    "--from-dir",
    "from_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Enrol everyone: one subfolder per person, named after them.",
)
@click.option(
    "--frames",
    default=KEEP_PER_PERSON,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Good faces to collect before stopping (the best diverse ones are kept).",
)
@click.option(
    "--timeout",
    type=float,
    default=20.0,
    show_default=True,
    help="Seconds to wait for a live source.",
)
@click.option("--add", is_flag=True, help="Add faces to a person already enrolled.")
@click.option(
    "--largest",
    is_flag=True,
    help="When a frame has several faces, take the main one (largest, nearest the centre).",
)
@click.option("--force", is_flag=True, help="Enrol even if the face matches another person.")
@click.option("--recursive", is_flag=True, help="Read images in subfolders of a folder source too.")
@liveness_option
@json_option
def enrol(
    name: str | None,
    source: str,
    from_dir: Path | None,
    frames: int,
    timeout: float,
    add: bool,
    largest: bool,
    force: bool,
    recursive: bool,
    liveness: str | None,
    as_json: bool,
) -> None:
    """Enrol a person from a camera, a video, images, or a folder of people.

    Faces go through the quality gate (strict for cameras, lenient for photos);
    the best few diverse faces are stored in one transaction, so a refused
    enrolment writes nothing. A face so close to another enrolled person's that a
    different person would rarely match it (FACEDB_DUPLICATE_RATE) is refused
    unless --force; a look-alike below that is enrolled with a warning and recorded
    (`facedb users lookalikes`). With liveness on, a face judged a photo or a screen
    is refused (exit code 18), writing nothing. --from-dir exits 1 when it enrolled
    nobody.

    \b
    Examples:
      facedb enrol --name Alice                        # camera 0
      facedb enrol --name Alice --source alice.mp4
      facedb enrol --name "Bob" --source photos/bob/ --add
      facedb enrol --from-dir staff/                   # staff/<name>/*.jpg
      facedb enrol --name Alice --source alice.jpg --liveness on
    """
    service = open_service(liveness=liveness)
    if from_dir is not None:
        if name is not None:
            raise InvalidInputError("give either --name or --from-dir, not both")
        _enrol_folders(service, from_dir, add, force, as_json)
        return
    if name is None:
        raise InvalidInputError("--name is required (or --from-dir for a folder of people)")
    with Progress(
        TextColumn("[bold]enrolling"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        console=err_console(),
        transient=True,
        disable=as_json or not err_console().is_terminal,
    ) as progress:
        task = progress.add_task("enrol", total=frames, status="")

        live = source.isdigit() or "://" in source or source.startswith("/dev/video")

        def on_frame(capture: Capture) -> None:
            # A camera: what the person should do for a varied set of faces.
            hint = f" - {pose_hint(capture)}" if live else ""
            progress.update(
                task,
                completed=min(len(capture.good), frames),
                status=f"{capture.frames} frames, {len(capture.good)} good faces{hint}",
            )

        result = service.enrol(
            name,
            source,
            frames=frames,
            timeout=timeout,
            add=add,
            largest=largest,
            force=force,
            recursive=recursive,
            on_frame=on_frame,
        )
    if as_json:
        print_json(result)
        return
    verb = "enrolled" if result.created else "added faces to"
    click.echo(
        f"{verb} {result.name}: {result.added} face(s) stored ({result.total} in all), "
        f"from {result.frames} frame(s)"
    )
    for reason in result.not_stored:
        click.echo(f"  {reason}")
    for other in result.lookalikes:
        click.echo(
            f"warning: {result.name} resembles {other.name} (similarity "
            f"{other.similarity:.3f}); recorded for review (`facedb users lookalikes`)",
            err=True,
        )


def _enrol_folders(service: FaceService, root: Path, add: bool, force: bool, as_json: bool) -> None:
    people = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    with count_progress("enrolling", quiet=as_json) as progress:
        task = progress.add_task("people", total=len(people), item="")

        def on_person(outcome: BulkOutcome) -> None:
            progress.update(task, advance=1, item=outcome.name)

        outcomes = service.enrol_folders(root, add=add, force=force, on_person=on_person)
    enrolled = sum(o.status != "skipped" for o in outcomes)
    if as_json:
        print_json(outcomes)
    else:
        print_table(
            ("name", "result", "faces stored", "images", "reason"),
            ((o.name, o.status, o.embeddings, o.images, _reason(o)) for o in outcomes),
            title=f"enrolment from {root}",
        )
        lookalikes = sum(bool(o.lookalikes) for o in outcomes)
        note = (
            f", {lookalikes} resembling someone (`facedb users lookalikes`)" if lookalikes else ""
        )
        click.echo(f"{enrolled} enrolled, {len(outcomes) - enrolled} skipped{note}")
    if enrolled == 0:
        click.echo("error: nobody was enrolled", err=True)
        sys.exit(1)


def _reason(outcome: BulkOutcome) -> str | None:
    if outcome.reason is not None or not outcome.lookalikes:
        return outcome.reason
    other = outcome.lookalikes[0]
    return f"enrolled; resembles {other.name} (similarity {other.similarity:.3f})"
