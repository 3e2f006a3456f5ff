"""`facedb correct` and `facedb period`: corrections with an audit trail, and locked
pay periods."""

from __future__ import annotations

from datetime import datetime

import click

from facedb.errors import InvalidInputError
from facedb.timeattendance import REASON_CODES, CorrectionInfo, month_bounds

from .org import time_attendance, tz_option
from .output import json_option, print_json, print_table
from .schedules import by_option, parse_date

reason_option = click.option(
    "--reason", type=click.Choice(REASON_CODES), required=True, help="The reason code."
)
note_option = click.option("--note", help="Free text, kept with the correction.")


@click.group("correct")
def correct() -> None:
    """Corrections of the attendance log, each kept with who, when and why; the
    logged events themselves are never changed.

    \b
    Examples:
      facedb correct add Alice --at "2026-11-02 17:00" --direction out --reason missed_punch
      facedb correct void 6f5bcb57 --reason false_accept --note "not Alice"
      facedb correct reassign 6f5bcb57 Bob --reason wrong_person
      facedb correct history 6f5bcb57

    An event is named by its id or any unique start of it of 8 characters or more
    (the id column of facedb attendance list).
    """


def _print_correction(c: CorrectionInfo, as_json: bool) -> None:
    if as_json:
        print_json(c)
    else:
        click.echo(f"correction {c.id}: {c.action} {c.event_id} ({c.reason}) by {c.created_by}")


@correct.command("add")
@click.argument("person")
@click.option(
    "--at",
    "when",
    required=True,
    help="The punch's time: YYYY-MM-DD HH:MM in the person's site zone, or with an offset.",
)
@click.option("--device", help="The device it belongs to (its role gives the direction).")
@click.option(
    "--direction",
    type=click.Choice(["in", "out", "both"]),
    help="In or out (default: the device's role, else both).",
)
@reason_option
@note_option
@by_option
@json_option
def add_punch(
    person: str,
    when: str,
    device: str | None,
    direction: str | None,
    reason: str,
    note: str | None,
    by: str,
    as_json: bool,
) -> None:
    """Adds a punch the kiosk missed. A departure (--direction out, or an out
    device) needs an arrival in the 24 hours before it: otherwise it would be read
    as the day's first punch, and is refused."""
    try:
        moment = datetime.fromisoformat(when.strip())
    except ValueError:
        raise InvalidInputError(f"--at {when!r} is not a time (use 2026-11-02 17:00)") from None
    _print_correction(
        time_attendance().add_punch(
            person, moment, device=device, direction=direction, reason=reason, note=note, by=by
        ),
        as_json,
    )


def _event_command(action: str, summary: str) -> click.Command:
    @click.argument("event_id")
    @reason_option
    @note_option
    @by_option
    @json_option
    def command(event_id: str, reason: str, note: str | None, by: str, as_json: bool) -> None:
        _print_correction(
            time_attendance().correct(event_id, action, reason=reason, note=note, by=by), as_json
        )

    command.__doc__ = summary
    return correct.command(action)(command)


_event_command("void", "Voids an event (a false accept): it stops counting.")
_event_command("restore", "Restores a voided event: it counts again.")


@correct.command("reassign")
@click.argument("event_id")
@click.argument("person")
@reason_option
@note_option
@by_option
@json_option
def reassign(
    event_id: str, person: str, reason: str, note: str | None, by: str, as_json: bool
) -> None:
    """Reassigns an event to the person it really was."""
    _print_correction(
        time_attendance().correct(
            event_id, "reassign", reason=reason, note=note, by=by, person=person
        ),
        as_json,
    )


@correct.command("list")
@click.option("--since", help="Corrections made on or after this day (YYYY-MM-DD).")
@json_option
def list_corrections(since: str | None, as_json: bool) -> None:
    """Every correction: the audit trail."""
    start = (
        datetime.combine(parse_date(since, "--since"), datetime.min.time()).astimezone()
        if since
        else None
    )
    rows = time_attendance().corrections(start)
    if as_json:
        print_json(rows)
        return
    print_table(
        ("event", "action", "person", "punch at", "reason", "by", "when", "note", "id"),
        (
            (
                str(c.event_id)[:8],
                c.action,
                c.person,
                c.occurred_at.astimezone() if c.occurred_at else None,
                c.reason,
                c.created_by,
                c.created_at.astimezone(),
                c.note,
                c.id,
            )
            for c in rows
        ),
    )


@correct.command("history")
@click.argument("event_id")
@json_option
def history(event_id: str, as_json: bool) -> None:
    """An event as logged, every correction of it, and what counts now."""
    found = time_attendance().history(event_id)
    if as_json:
        print_json(found)
        return
    click.echo(
        f"event {found.event_id} at {found.occurred_at.astimezone():%Y-%m-%d %H:%M:%S %Z}"
        f": {found.decision}, {found.person or 'nobody'}, device {found.device or '-'}"
    )
    for c in found.corrections:
        target = f" -> {c.person}" if c.action == "reassign" else ""
        click.echo(
            f"  {c.created_at.astimezone():%Y-%m-%d %H:%M} {c.created_by}: {c.action}"
            f"{target} ({c.reason}{': ' + c.note if c.note else ''})"
        )
    now = f"counts for {found.counted_for}" if found.counts else "does not count"
    click.echo(f"now: {now}")


@click.group("period")
def period() -> None:
    """Locked pay periods: no change to their work days until unlocked.

    \b
    Examples:
      facedb period lock 2026-11
      facedb period lock --from 2026-11-01 --to 2026-11-15 --tz Europe/Paris
      facedb period unlock 2026-11-01 2026-11-30 --reason "late sick note"
      facedb period list
    """


@period.command("lock")
@click.argument("month", required=False)
@click.option("--from", "date_from", help="First day (instead of a month).")
@click.option("--to", "date_to", help="Last day.")
@tz_option
@by_option
@json_option
def lock(
    month: str | None,
    date_from: str | None,
    date_to: str | None,
    tz: str | None,
    by: str,
    as_json: bool,
) -> None:
    """Locks the work days of a month (YYYY-MM) or --from/--to days, for every site
    in its own zone (--tz: the zone of people without a site). Nothing that would
    change a locked work day is accepted until it is unlocked."""
    if (month is None) == (date_from is None) or (date_from is None) != (date_to is None):
        raise InvalidInputError("give a month (2026-11) or --from and --to")
    first, last = (
        month_bounds(month)
        if month
        else (parse_date(date_from or "", "--from"), parse_date(date_to or "", "--to"))
    )
    row = time_attendance(tz).lock(first, last, by)
    if as_json:
        print_json(row)
    else:
        click.echo(f"period {row.day_from}..{row.day_to} ({row.timezone}) locked by {by}")


@period.command("unlock")
@click.argument("date_from")
@click.argument("date_to")
@click.option("--reason", required=True, help="Why (kept in the log).")
@by_option
@json_option
def unlock(date_from: str, date_to: str, reason: str, by: str, as_json: bool) -> None:
    """Unlocks a locked period (logged: who, when, why)."""
    row = time_attendance().unlock(
        parse_date(date_from, "FROM"), parse_date(date_to, "TO"), by, reason
    )
    if as_json:
        print_json(row)
    else:
        click.echo(f"period {row.day_from}..{row.day_to} unlocked by {by}")


@period.command("list")
@json_option
def list_periods(as_json: bool) -> None:
    """Every period locked, and who unlocked it when."""
    rows = time_attendance().periods()
    if as_json:
        print_json(rows)
        return
    print_table(
        ("from", "to", "zone", "locked by", "locked at", "unlocked by", "unlocked at", "reason"),
        (
            (
                p.day_from,
                p.day_to,
                p.timezone,
                p.locked_by,
                p.locked_at.astimezone(),
                p.unlocked_by,
                p.unlocked_at.astimezone() if p.unlocked_at else None,
                p.unlock_reason,
            )
            for p in rows
        ),
    )
