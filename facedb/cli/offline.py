"""`facedb spool` and `facedb cache`: what a kiosk keeps for when the database is
unreachable (events waiting to be sent, a copy of the gallery)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from .context import open_service
from .output import json_option, print_json, print_table


@click.group("spool")
def spool() -> None:
    """Attendance events decided offline, waiting for the database.

    While the database is unreachable, `facedb verify` decides against this kiosk's
    gallery cache and appends each event to FACEDB_HOME/spool (fsync'd). The next
    command that reaches the database sends them, in order, each exactly once.
    """


@spool.command("status")
@json_option
def spool_status(as_json: bool) -> None:
    """How many events wait, and since when (reads local files only).

    Example: facedb spool status --json
    """
    status = open_service().spool_status()
    if as_json:
        print_json(status)
        return
    print_table(
        ("", "value"),
        [
            ("folder", status.directory),
            ("events waiting", status.pending),
            ("oldest", status.oldest.astimezone() if status.oldest else "-"),
            ("newest", status.newest.astimezone() if status.newest else "-"),
            ("unreadable lines", status.unreadable),
            ("refused by the database", status.rejected),
        ],
        title="offline spool",
    )


@spool.command("replay")
@json_option
def spool_replay(as_json: bool) -> None:
    """Send the waiting events to the database now (exit 12 if it is unreachable).

    Events already in the database (same event id) are not inserted again, so a
    replay interrupted by a crash can simply be run again.
    """
    result = open_service().replay_spool()
    if as_json:
        print_json(result)
        return
    click.echo(
        f"sent {result.sent} event(s): {result.inserted} new, "
        f"{result.sent - result.inserted - result.refused} already in the database"
        + (f", {result.refused} refused (see spool/rejected.jsonl)" if result.refused else "")
        + (
            f", {result.set_aside} set aside (a locked pay period: logged, voided, "
            "see facedb correct list)"
            if result.set_aside
            else ""
        )
        + (f"; {result.unreadable} unreadable line(s) skipped" if result.unreadable else "")
    )
    if result.foreign:
        click.echo(
            f"warning: {result.foreign} event(s) spooled for another database were set aside "
            "in spool/other-database-*/ (never sent here)",
            err=True,
        )


@click.group("cache")
def cache() -> None:
    """This kiosk's copy of the gallery, for verifying while the database is down.

    It is refreshed after a verification when older than FACEDB_CACHE_REFRESH
    seconds, and refused when older than FACEDB_CACHE_MAX_AGE (0: no copy is kept).
    It holds biometric data: file mode 0600, and `facedb users forget` removes the
    person from it.
    """


@cache.command("status")
@json_option
def cache_status(as_json: bool) -> None:
    """The cache files of this kiosk: model, age, people, faces."""
    service = open_service()
    now = datetime.now(UTC)
    rows = [
        {
            "model": c.model,
            "written_at": c.written_at,
            "age_s": round(c.age_seconds(now), 1),
            "fresh": c.age_seconds(now) <= service.settings.cache_max_age,
            "users": len(c.users),
            "embeddings": int(c.owners.shape[0]),
        }
        for c in service.cache_files()
    ]
    if as_json:
        print_json(rows)
        return
    print_table(
        ("model", "written", "age (s)", "fresh", "people", "faces"),
        (
            (r["model"], r["written_at"], r["age_s"], r["fresh"], r["users"], r["embeddings"])
            for r in rows
        ),
        title="offline gallery cache",
    )


@cache.command("refresh")
def cache_refresh() -> None:
    """Copy the gallery from the database now (exit 12 if it is unreachable)."""
    written = open_service().refresh_cache()
    if written is None:
        click.echo("no cache kept: FACEDB_CACHE_MAX_AGE is 0")
        return
    click.echo(
        f"cached {len(written.users)} people, {written.owners.shape[0]} face(s) of {written.model}"
    )


@cache.command("clear")
def cache_clear() -> None:
    """Delete this kiosk's cache files (offline verification is refused until the next
    refresh)."""
    removed = open_service().clear_cache()
    click.echo(f"deleted {removed} cache file(s)")
