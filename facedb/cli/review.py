"""`facedb review`: the doubtful decisions, their evidence, and what to do about them."""

from __future__ import annotations

from pathlib import Path

import click

from facedb.domain.constants import DECISIONS, REASON_CODES
from facedb.domain.evidence import STATUSES, EvidenceInfo
from facedb.errors import InvalidInputError
from facedb.review.service import Review
from facedb.usecases.results import EnrolResult

from .context import open_service
from .output import json_option, print_json, print_table
from .report import _parse_since
from .schedules import by_option

note_option = click.option("--note", help="Free text, kept with the review.")


def _review() -> Review:
    return Review(open_service())


def _candidates(item: EvidenceInfo) -> str:
    return ", ".join(f"{c.name} {c.similarity:.3f}" for c in item.candidates[:3])


@click.group("review")
def review() -> None:
    """The review queue: doubtful decisions with the face that was seen.

    Kept for FACEDB_EVIDENCE_DAYS (30) for unknown, rejected, ambiguous, bad_quality
    and spoof decisions and accepts with a small margin (docs/REVIEW.md).

    \b
    Example:
      facedb review list
      facedb review show 3f2a9c1e --thumbnail face.jpg
      facedb review reassign 3f2a9c1e Alice
    """


@review.command("list")
@click.option("--status", type=click.Choice(STATUSES), default="open", show_default=True)
@click.option(
    "--decision", "decisions", multiple=True, type=click.Choice(DECISIONS), help="Only these."
)
@click.option("--since", help="Only events since: 2h, 3d, 30m or an ISO date/time.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@json_option
def list_queue(
    status: str, decisions: tuple[str, ...], since: str | None, limit: int, as_json: bool
) -> None:
    """Doubtful events with kept evidence, newest first.

    \b
    Example:
      facedb review list --decision unknown --since 7d --json
    """
    rows = _review().queue(
        status=status, decisions=decisions or None, since=_parse_since(since), limit=limit
    )
    if as_json:
        print_json(rows)
        return
    print_table(
        (
            "event",
            "time",
            "decision",
            "person",
            "similarity",
            "threshold",
            "device",
            "candidates",
            "status",
        ),
        (
            (
                r.event_id.hex[:8],
                r.occurred_at.astimezone(),
                r.decision,
                r.name or r.claimed,
                r.similarity,
                r.threshold,
                r.device,
                _candidates(r),
                r.status,
            )
            for r in rows
        ),
    )


@review.command("show")
@click.argument("event")
@click.option(
    "--thumbnail",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the kept face (JPEG) to this file.",
)
@json_option
def show(event: str, thumbnail: Path | None, as_json: bool) -> None:
    """One doubtful event: the decision, the candidates and the kept face.

    EVENT is an event id or its first 8 hex digits or more.

    \b
    Example:
      facedb review show 3f2a9c1e --thumbnail face.jpg
    """
    queue = _review()
    item = queue.show(event)
    if thumbnail is not None:
        _, data = queue.thumbnail(str(item.event_id))
        try:
            thumbnail.write_bytes(data)
        except OSError as exc:
            raise InvalidInputError(f"cannot write {thumbnail}: {exc.strerror}") from None
    if as_json:
        print_json(item)
        return
    print_table(
        ("", "value"),
        [
            ("event", item.event_id),
            ("time", item.occurred_at.astimezone()),
            ("decision", f"{item.decision} ({item.kind})"),
            ("person", item.name),
            ("claimed", item.claimed),
            ("similarity", item.similarity),
            ("threshold", item.threshold),
            ("runner-up", item.runner_up),
            ("device", item.device),
            ("quality", "ok" if item.quality_ok else "; ".join(item.reasons) or "refused"),
            ("liveness", item.liveness),
            ("candidates", _candidates(item) or "-"),
            (
                "thumbnail",
                f"{item.thumbnail_bytes} bytes" + (f" -> {thumbnail}" if thumbnail else ""),
            ),
            ("status", item.status + (f" by {item.reviewed_by}" if item.reviewed_by else "")),
        ],
    )


def _said(result: object, as_json: bool, text: str) -> None:
    if as_json:
        print_json(result)
    else:
        click.echo(text)


@review.command("accept")
@click.argument("event")
@note_option
@by_option
@json_option
def accept(event: str, note: str | None, by: str, as_json: bool) -> None:
    """Confirm the decision as it was logged.

    Example: facedb review accept 3f2a9c1e
    """
    result = _review().accept(event, by=by, note=note)
    _said(result, as_json, f"accepted event {result.event_id} as logged")


@review.command("dismiss")
@click.argument("event")
@note_option
@by_option
@json_option
def dismiss(event: str, note: str | None, by: str, as_json: bool) -> None:
    """Take an event out of the queue (a passer-by, a test); its face is kept until
    the retention ends.

    Example: facedb review dismiss 3f2a9c1e --note "delivery driver"
    """
    result = _review().dismiss(event, by=by, note=note)
    _said(result, as_json, f"dismissed event {result.event_id}")


@review.command("reassign")
@click.argument("event")
@click.argument("person")
@click.option(
    "--reason",
    type=click.Choice(REASON_CODES),
    help="Reason code of the correction (default: false_accept for an accepted event, "
    "missed_punch for any other).",
)
@note_option
@by_option
@json_option
def reassign(
    event: str, person: str, reason: str | None, note: str | None, by: str, as_json: bool
) -> None:
    """The event was PERSON: an append-only attendance correction moves an accepted
    event to them, or adds a punch for them at the event's time and device.

    \b
    Example:
      facedb review reassign 3f2a9c1e Alice --note "badge photo checked"
    """
    result = _review().reassign(event, person, by=by, reason=reason, note=note)
    _said(
        result,
        as_json,
        f"event {result.event_id} is now {result.person}'s (correction {result.correction_id})",
    )


def _print_enrolment(result: EnrolResult, as_json: bool) -> None:
    verb = "enrolled" if result.created else "added to"
    _said(
        result,
        as_json,
        f"{verb} {result.name}: {result.added} face(s) written, {result.total} in all"
        + (
            f"; resembles {', '.join(m.name for m in result.lookalikes)}"
            if result.lookalikes
            else ""
        ),
    )


@review.command("enrol")
@click.argument("events", nargs=-1, required=True)
@click.option("--name", required=True, help="The person the faces are.")
@click.option("--new", is_flag=True, help="Create the person (else they must exist).")
@click.option("--force", is_flag=True, help="Enrol even if the duplicate check refuses.")
@by_option
@json_option
def enrol(
    events: tuple[str, ...], name: str, new: bool, force: bool, by: str, as_json: bool
) -> None:
    """Enrol the faces kept for EVENTS into a person, with enrolment's quality,
    liveness and duplicate checks.

    \b
    Examples:
      facedb review enrol 3f2a9c1e --name Alice
      facedb review enrol 3f2a9c1e 77b01d2c --name "New Visitor" --new
    """
    _print_enrolment(_review().enrol(events, name, by=by, new=new, force=force), as_json)


@review.group("unknowns", invoke_without_command=True)
@click.option("--since", help="Only faces seen since: 2h, 3d, 30m or an ISO date/time.")
@click.option("--min-count", default=1, show_default=True, type=click.IntRange(1, 100_000))
@json_option
@click.pass_context
def unknowns(ctx: click.Context, since: str | None, min_count: int, as_json: bool) -> None:
    """Unknown faces grouped by stranger (FACEDB_CLUSTER_SIMILARITY), largest first.

    \b
    Examples:
      facedb review unknowns --min-count 3
      facedb review unknowns enrol 5d1e0a77 --name "Sam Visitor"
      facedb review unknowns dismiss 5d1e0a77
    """
    if ctx.invoked_subcommand is not None:
        return
    groups = _review().unknowns(since=_parse_since(since), min_count=min_count)
    if as_json:
        print_json(groups)
        return
    print_table(
        ("group", "seen", "devices", "first seen", "last seen", "cohesion"),
        (
            (
                g.id,
                g.count,
                ", ".join(g.devices),
                g.first_seen.astimezone(),
                g.last_seen.astimezone(),
                g.cohesion,
            )
            for g in groups
        ),
    )


@unknowns.command("enrol")
@click.argument("group")
@click.option("--name", required=True, help="The new person's name.")
@click.option("--add", is_flag=True, help="Add the faces to an existing person instead.")
@click.option("--force", is_flag=True, help="Enrol even if the duplicate check refuses.")
@by_option
@json_option
def enrol_group(group: str, name: str, add: bool, force: bool, by: str, as_json: bool) -> None:
    """Enrol every face of a group of unknown faces as a new person.

    Example: facedb review unknowns enrol 5d1e0a77 --name "Sam Visitor"
    """
    result = _review().enrol_group(group, name, by=by, new=not add, force=force)
    _print_enrolment(result.enrolment, as_json)


@unknowns.command("dismiss")
@click.argument("group")
@note_option
@by_option
@json_option
def dismiss_group(group: str, note: str | None, by: str, as_json: bool) -> None:
    """Take every event of a group of unknown faces out of the queue.

    Example: facedb review unknowns dismiss 5d1e0a77 --note "film crew"
    """
    count = _review().dismiss_group(group, by=by, note=note)
    _said({"group": group, "dismissed": count}, as_json, f"dismissed {count} event(s)")


@review.command("purge")
@json_option
def purge(as_json: bool) -> None:
    """Delete the evidence older than FACEDB_EVIDENCE_DAYS now (every write does it too).

    Example: facedb review purge
    """
    deleted = _review().purge()
    _said({"deleted": deleted}, as_json, f"deleted {deleted} evidence row(s)")
