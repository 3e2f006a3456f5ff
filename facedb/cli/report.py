"""`facedb report` and `facedb attendance`: what the attendance log says."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import click

from facedb import timezones
from facedb.csvout import CsvWriter
from facedb.domain.attendance import Report
from facedb.errors import InvalidInputError

from . import times
from .context import open_service
from .corrections import history as event_history
from .output import format_option, json_option, print_json, print_table


@click.command("report")
@click.option("--date", "day", help="today, yesterday or YYYY-MM-DD.")
@click.option("--from", "date_from", help="First day of a period (YYYY-MM-DD, today...).")
@click.option("--to", "date_to", help="Last day of a period (default: the first day).")
@format_option()
@click.option(
    "--tz",
    help="Print the times in this zone, e.g. Europe/Paris (default: each person's site's "
    "zone); a person's days stay those of their site.",
)
def report(
    day: str | None, date_from: str | None, date_to: str | None, fmt: str, tz: str | None
) -> None:
    """Who came (first seen, last seen, accepted verifications), who did not, and
    how many attempts were unknown or rejected. A person's days are local dates in
    their site's zone (no site: this machine's, TZ); every time carries its UTC
    offset (docs/TIME_AND_ATTENDANCE.md, "One time rule").

    \b
    Examples:
      facedb report --date today
      facedb report --from 2026-11-01 --to 2026-11-30 --format csv > november.csv
      facedb report --date yesterday --json
    """
    shown_zone = timezones.check_zone(tz) if tz else None
    zone = timezones.local_zone()
    if day is not None and date_from is not None:
        raise InvalidInputError("give either --date or --from/--to, not both")
    first = timezones.parse_day(day or date_from or "today", zone)
    last = timezones.parse_day(date_to, zone) if date_to else first
    result = open_service().report(first, last, zone)
    if fmt == "json":
        print_json(_shown(result, shown_zone))
    elif fmt == "csv":
        _print_csv(result, shown_zone)
    else:
        print_report(result, shown_zone)
        from .timesheet import print_day_exceptions  # loaded only for the table

        print_day_exceptions(first, last, zone)


def _shown(result: Report, tz: str | None) -> Report:
    """The report with its times in each person's zone (or --tz), offsets included."""
    return replace(
        result,
        present=[
            replace(
                p,
                first_seen=times.shown(p.first_seen, p.timezone, tz),
                last_seen=times.shown(p.last_seen, p.timezone, tz),
            )
            for p in result.present
        ],
    )


def print_report(result: Report, tz: str | None = None) -> None:
    period = (
        str(result.date_from)
        if result.date_from == result.date_to
        else f"{result.date_from} to {result.date_to}"
    )
    if not result.present and not result.absent:
        click.echo(f"nobody is enrolled: nothing to report for {period}.")
        click.echo("Enrol someone first: facedb enrol --name 'Alice Martin' --source 0")
        return
    print_table(
        ("day", "name", "first seen", "last seen", "accepted"),
        (
            (
                p.day,
                p.name,
                times.clock(p.first_seen, p.timezone, tz, p.day),
                times.clock(p.last_seen, p.timezone, tz, p.day),
                p.accepted,
            )
            for p in result.present
        ),
        title=f"attendance {period}",
    )
    if not result.present:
        click.echo(f"nobody was seen {period}: kiosks log with facedb verify or facedb watch.")
    click.echo(f"absent ({len(result.absent)}): {', '.join(result.absent) or '-'}")
    attempts = ", ".join(f"{k} {v}" for k, v in sorted(result.attempts.items())) or "none"
    click.echo(f"attempts: {attempts}")


def _print_csv(result: Report, tz: str | None) -> None:
    writer = CsvWriter(sys.stdout)  # formula prefixes escaped (names are user text)
    writer.writerow(["day", "name", "status", "first_seen", "last_seen", "accepted"])
    for p in result.present:
        writer.writerow(
            [
                p.day,
                p.name,
                "present",
                times.iso(p.first_seen, p.timezone, tz),
                times.iso(p.last_seen, p.timezone, tz),
                p.accepted,
            ]
        )
    for name in result.absent:
        writer.writerow([result.date_from, name, "absent", "", "", 0])


@click.group("attendance")
def attendance_group() -> None:
    """The raw attendance log."""


@attendance_group.command("list")
@click.option("--since", help="Only events since: 2h, 3d, 30m or an ISO date/time.")
@click.option("--user", "name", help="Only this person's events.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--tz", help="Print the times in this zone (default: each person's site's zone).")
@json_option
def list_events(
    since: str | None, name: str | None, limit: int, tz: str | None, as_json: bool
) -> None:
    """Attendance rows, newest first; the id column is the event's first 8
    characters, enough for facedb correct void/reassign/history.

    \b
    Examples:
      facedb attendance list --since 8h --user Alice
      facedb attendance list --limit 20 --json
    """
    shown_zone = timezones.check_zone(tz) if tz else None
    rows = open_service().attendance(_parse_since(since), name, limit)
    if as_json:
        print_json(
            [
                replace(r, occurred_at=times.shown(r.occurred_at, r.timezone, shown_zone))
                for r in rows
            ]
        )
        return
    if not rows:
        click.echo("no attendance yet" + (f" since {since}" if since else "") + ".")
        click.echo("Kiosks log it: facedb verify --source 0, or facedb watch --source 0")
        return
    print_table(
        ("time", "person", "decision", "id", "similarity", "device", "kind"),
        (
            (
                times.stamp(r.occurred_at, r.timezone, shown_zone),
                r.name or (f"({r.claimed_name}?)" if r.claimed_name else "-"),
                r.decision,
                str(r.event_id)[:8],
                r.similarity,
                r.device,
                r.kind,
            )
            for r in rows
        ),
    )


@attendance_group.command("purge")
@click.option(
    "--older-than", "older_than", required=True, help="Age of the rows to delete: 365d, 26w, 12h."
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@json_option
def purge(older_than: str, yes: bool, as_json: bool) -> None:
    """Delete attendance rows older than a retention period (one transaction).

    Example: facedb attendance purge --older-than 365d --yes
    """
    age = _parse_age(older_than)
    if not yes:
        click.confirm(f"Delete every attendance row older than {older_than}?", abort=True)
    deleted = open_service().purge_attendance(age)
    if as_json:
        print_json({"deleted": deleted, "older_than": older_than})
        return
    click.echo(f"deleted {deleted} attendance row(s) older than {older_than}")


_UNITS = {"m": 60, "h": 3600, "d": 86400}
_AGE_UNITS = {**_UNITS, "w": 7 * 86400}


def _parse_age(text: str) -> timedelta:
    number, unit = text[:-1], text[-1:]
    if unit not in _AGE_UNITS or not number.isdigit() or int(number) == 0:
        raise InvalidInputError(
            f"--older-than takes a duration like 365d, 26w or 12h, not {text!r}"
        )
    try:
        return timedelta(seconds=int(number) * _AGE_UNITS[unit])
    except OverflowError:
        raise InvalidInputError(f"--older-than {text} is longer than any date") from None


def _parse_since(text: str | None) -> datetime | None:
    if text is None:
        return None
    if text[-1:] in _UNITS and text[:-1].isdigit():
        try:
            return datetime.now(UTC) - timedelta(seconds=int(text[:-1]) * _UNITS[text[-1]])
        except OverflowError:
            raise InvalidInputError(f"--since {text} is longer ago than any date") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"--since takes 2h, 3d, 30m or an ISO date, not {text!r}") from None
    return moment if moment.tzinfo else moment.astimezone()


# `facedb attendance history EVENT`: the event as logged and every correction of it.
attendance_group.add_command(event_history, "history")
