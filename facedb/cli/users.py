"""`facedb users`: the enrolled people."""

from __future__ import annotations

from dataclasses import asdict

import click

from facedb.usecases import template_updates
from facedb.usecases.merge import merge_users
from facedb.usecases.people import ATTENDANCE_POLICIES

from .context import open_service
from .output import json_option, print_json, print_table
from .schedules import by_option


@click.group("users")
def users() -> None:
    """List, show, rename, remove and forget enrolled people."""


@users.command("list")
@json_option
def list_users(as_json: bool) -> None:
    """Everyone enrolled, with their number of stored faces."""
    people = open_service().users()
    if as_json:
        print_json(people)
        return
    if not people:
        click.echo("nobody is enrolled yet. Enrol someone from a camera, a video or photos:")
        click.echo("  facedb enrol --name 'Alice Martin' --source 0")
        click.echo("  facedb enrol --from-dir staff/        # staff/<name>/*.jpg")
        return
    print_table(
        ("name", "external id", "faces", "active", "enrolled"),
        (
            (p.name, p.external_id, p.embeddings, p.active, p.created_at.astimezone())
            for p in people
        ),
    )


@users.command("lookalikes")
@json_option
def lookalikes(as_json: bool) -> None:
    """People enrolled although a face of theirs resembles another person's.

    Each pair scored above the 1:1 threshold at enrolment but below the duplicate
    check's threshold: probably two people who look alike (or one person enrolled
    twice under two names). Searches that cannot tell them apart are logged as
    ambiguous, never accepted as either.

    \b
    Example:
      facedb users lookalikes --json
    """
    rows = open_service().lookalikes()
    if as_json:
        print_json(rows)
        return
    print_table(
        ("name", "resembles", "similarity", "model", "recorded"),
        (
            (r.name, r.other, f"{r.similarity:.3f}", r.model, r.recorded_at.astimezone())
            for r in rows
        ),
    )


@users.command("show")
@click.argument("name")
@json_option
def show(name: str, as_json: bool) -> None:
    """Show one person: name, external id, stored faces, enrolment date, metadata, and
    the faces learned from accepted decisions (facedb users faces)."""
    service = open_service()
    person = service.user(name)
    added = template_updates.added_faces(service, person.name)
    if as_json:
        print_json({**asdict(person), "added_faces": added})
        return
    active = [a for a in added if a.active]
    print_table(
        ("", "value"),
        [
            ("name", person.name),
            ("external id", person.external_id),
            ("faces", person.embeddings),
            ("learned faces", f"{len(active)} (facedb users faces list)" if added else 0),
            ("active", person.active),
            ("enrolled", person.created_at.astimezone()),
            ("meta", person.meta or "-"),
        ],
    )


@users.group("faces")
def faces() -> None:
    """The faces a person's template learned from accepted decisions.

    A face joins only when the decision was clearly theirs (docs/TEMPLATES.md);
    FACEDB_TEMPLATE_UPDATES=off stops learning.
    """


@faces.command("list")
@click.argument("name")
@json_option
def faces_list(name: str, as_json: bool) -> None:
    """The faces learned for NAME, with the decision each came from.

    \b
    Example:
      facedb users faces list "Alice Martin"
    """
    added = template_updates.added_faces(open_service(), name)
    if as_json:
        print_json(added)
        return
    print_table(
        ("id", "added", "event", "similarity", "threshold", "runner-up", "quality", "status"),
        (
            (
                a.id,
                a.added_at.astimezone(),
                str(a.event_id)[:8],
                f"{a.similarity:.3f}",
                f"{a.threshold:.3f}",
                "-" if a.runner_up is None else f"{a.runner_up:.3f}",
                f"{a.quality:.2f}",
                "in template" if a.active else f"removed ({a.removed_why})",
            )
            for a in added
        ),
    )


@faces.command("remove")
@click.argument("name")
@click.argument("added_id", metavar="ID", type=int)
@by_option
@json_option
def faces_remove(name: str, added_id: int, by: str, as_json: bool) -> None:
    """Take the learned face ID (facedb users faces list) out of NAME's template.

    \b
    Example:
      facedb users faces remove "Alice Martin" 12
    """
    removed = template_updates.remove_added_face(open_service(), name, added_id, by=by)
    if as_json:
        print_json(removed)
        return
    click.echo(f"removed learned face {removed.id} from {removed.person}'s template")


@users.command("rename")
@click.argument("old")
@click.argument("new")
@json_option
def rename(old: str, new: str, as_json: bool) -> None:
    """Rename a person; their faces and attendance stay theirs."""
    person = open_service().rename_user(old, new)
    if as_json:
        print_json(person)
        return
    click.echo(f"renamed to {person.name}")


@users.command("remove")
@click.argument("names", nargs=-1, required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def remove(names: tuple[str, ...], yes: bool, as_json: bool) -> None:
    """Remove people and their stored faces, all or none (one transaction: an unknown
    name removes nobody). Their attendance rows stay, without the link to them, and
    are no longer counted as accepted by `report`; review candidates and the gallery
    calibration forget them. As with `forget`, the files that held the vectors are
    then rewritten (seconds with many faces). To erase biometric data for good, with
    their attendance rows' fate chosen: `users forget`.

    \b
    Examples:
      facedb users remove "Alice Martin"
      facedb users remove 7202 7203 7204 --yes
    """
    if not yes:
        click.confirm(f"Remove {', '.join(names)} and their stored faces?", abort=True)
    removed = open_service().remove_users(names)
    if as_json:
        print_json([{"name": name, "faces": faces} for name, faces in removed])
        return
    for name, faces in removed:
        click.echo(f"removed {name} and {faces} stored face(s)")


@users.command("merge")
@click.argument("keep")
@click.argument("other")
@json_option
def merge(keep: str, other: str, as_json: bool) -> None:
    """Merge OTHER into KEEP: one person enrolled twice under two names.

    In one transaction OTHER's stored faces (all models), attendance rows, site and
    groups, shifts, leave and evidence become KEEP's (corrections naming OTHER get a
    new reassign correction), look-alike pairs of the two go, and OTHER is deleted.

    \b
    Example:
      facedb users merge "Alice Martin" "alice"
    """
    result = merge_users(open_service(), keep, other)
    if as_json:
        print_json(result)
        return
    click.echo(
        f"merged {result.other} into {result.keep}: {result.faces} stored face(s), "
        f"{result.attendance_rows} attendance row(s) (+{result.claimed_rows} claimed), "
        f"{result.corrections_added} correction(s) reassigned, {result.groups} group(s), "
        f"{result.shift_assignments} shift assignment(s), {result.leave} leave entr(ies), "
        f"{result.evidence_rows} evidence row(s), {result.lookalikes_dropped} look-alike "
        f"pair(s) dropped, {result.cache_files} local cache file(s) cleaned"
    )
    click.echo(result.audit)


@users.command("forget")
@click.argument("name")
@click.option(
    "--attendance",
    "policy",
    type=click.Choice(ATTENDANCE_POLICIES),
    default="anonymise",
    show_default=True,
    help="keep: the rows stay the person's (who stays, inactive, with no face); "
    "anonymise: the rows stay, unlinked from anyone; delete: the rows go too.",
)
@click.option(
    "--shred/--no-shred",
    default=True,
    show_default=True,
    help="Rewrite face_embeddings and its indexes and push the WAL past a checkpoint, so "
    "that the vectors leave the disk (verifications wait meanwhile: 3.4 s at 1,000 faces, "
    "48 s at 10,000 on 2 cores). With many people to forget, --no-shred for all but the last.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def forget(name: str, policy: str, shred: bool, yes: bool, as_json: bool) -> None:
    """Erase a person's biometric data: every stored face, in the database and in this
    kiosk's gallery cache. Other kiosks drop it from their cache at their next
    refresh (FACEDB_CACHE_REFRESH), and never use a cache older than
    FACEDB_CACHE_MAX_AGE.

    \b
    Examples:
      facedb users forget Alice                       # faces gone, attendance anonymised
      facedb users forget Alice --attendance keep     # faces gone, attendance kept as hers
      facedb users forget Alice --attendance delete --yes
    """
    if not yes:
        click.confirm(f"Erase every face of {name} (attendance: {policy})?", abort=True)
    result = open_service().forget_user(name, policy, shred=shred)
    if as_json:
        print_json(result)
        return
    rows = {"keep": "kept", "anonymise": "anonymised", "delete": "deleted"}[policy]
    click.echo(
        f"forgot {result.name}: {result.embeddings} stored face(s) erased, "
        f"{result.attendance_rows} attendance row(s) {rows}, "
        f"{result.cache_files} local cache file(s) cleaned"
    )
    if result.shred is not None:
        click.echo(
            f"files rewritten in {result.shred.seconds:.1f} s "
            f"({', '.join(result.shred.rewritten) or 'none'}); WAL switched: "
            f"{'yes' if result.shred.wal_switched else 'no'}"
        )
        for note in result.shred.notes:
            click.echo(f"warning: {note}", err=True)
