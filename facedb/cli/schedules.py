"""`facedb shifts`, `facedb holidays`, `facedb leave`: who is expected when."""

from __future__ import annotations

import getpass
from datetime import date, time

import click

from facedb.errors import InvalidInputError
from facedb.timeattendance import parse_weekdays
from facedb.timezones import FIRST_DAY, LAST_DAY

from .org import time_attendance
from .output import json_option, print_json, print_table

WEEKDAY_LABELS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def current_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


by_option = click.option(
    "--by", default=current_user, show_default="your login", help="Who makes the change."
)


def parse_date(value: str, option: str) -> date:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInputError(f"{option} {value!r} is not a date (use YYYY-MM-DD)") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInputError(f"{option} {value!r} is outside {FIRST_DAY} .. {LAST_DAY}")
    return day


def parse_time(value: str, option: str) -> time:
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInputError(f"{option} {value!r} is not a time (use HH:MM)") from None


def _days(weekdays: tuple[int, ...]) -> str:
    return ",".join(WEEKDAY_LABELS[d - 1] for d in weekdays)


@click.group("shifts")
def shifts() -> None:
    """Shift templates and who works them.

    \b
    Examples:
      facedb shifts add day 09:00 17:00 --days mon-fri --break 60
      facedb shifts add night 22:00 06:00 --days all --break 30 --grace 10
      facedb shifts assign day --group Kitchen --from 2026-11-01
      facedb shifts assign night --person Alice --from 2026-11-16 --to 2026-11-30
    """


@shifts.command("add")
@click.argument("name")
@click.argument("start")
@click.argument("end")
@click.option("--days", default="mon-fri", show_default=True, help="mon-fri, sat,sun, all, 1-5.")
@click.option(
    "--break",
    "break_minutes",
    type=int,
    default=0,
    show_default=True,
    help="Unpaid break, minutes (deducted when punches do not show it).",
)
@click.option(
    "--grace",
    "grace_minutes",
    type=int,
    default=5,
    show_default=True,
    help="Minutes after the start before an arrival is late.",
)
@json_option
def add_shift(
    name: str,
    start: str,
    end: str,
    days: str,
    break_minutes: int,
    grace_minutes: int,
    as_json: bool,
) -> None:
    """Adds a shift: START and END in the site's local time (HH:MM); an END at or
    before START ends the next day (a night shift, which belongs to the day it starts).

    \b
    Example:
      facedb shifts add night 22:00 06:00 --days all --break 30
    """
    shift = time_attendance().add_shift(
        name,
        parse_time(start, "START"),
        parse_time(end, "END"),
        parse_weekdays(days),
        break_minutes,
        grace_minutes,
    )
    if as_json:
        print_json(shift)
    else:
        click.echo(
            f"shift {shift.name} {shift.start:%H:%M}-{shift.end:%H:%M} "
            f"{_days(shift.weekdays)} added"
        )


@shifts.command("list")
@json_option
def list_shifts(as_json: bool) -> None:
    """Every shift template."""
    rows = time_attendance().shifts()
    if as_json:
        print_json(rows)
        return
    print_table(
        ("shift", "start", "end", "days", "break", "grace"),
        (
            (
                s.name,
                f"{s.start:%H:%M}",
                f"{s.end:%H:%M}" + (" +1d" if s.crosses_midnight else ""),
                _days(s.weekdays),
                s.break_minutes,
                s.grace_minutes,
            )
            for s in rows
        ),
    )


@shifts.command("assign")
@click.argument("shift")
@click.option("--person", help="A person (wins over their groups' shifts).")
@click.option("--group", help="A group: everyone in it.")
@click.option("--from", "valid_from", required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "valid_to", help="Last day, inclusive (default: open-ended).")
@json_option
def assign_shift(
    shift: str,
    person: str | None,
    group: str | None,
    valid_from: str,
    valid_to: str | None,
    as_json: bool,
) -> None:
    """Assigns a shift to a person or a group from a day (to a day). The latest
    assignment in effect wins; a person's own wins over their groups'.

    \b
    Example:
      facedb shifts assign day --group Kitchen --from 2026-11-01
    """
    row = time_attendance().assign_shift(
        shift,
        person=person,
        group=group,
        valid_from=parse_date(valid_from, "--from"),
        valid_to=parse_date(valid_to, "--to") if valid_to else None,
    )
    if as_json:
        print_json(row)
    else:
        click.echo(
            f"assignment {row.id}: {row.shift} for {row.person or row.group} "
            f"from {row.valid_from} to {row.valid_to or 'open end'}"
        )


@shifts.command("assignments")
@json_option
def list_assignments(as_json: bool) -> None:
    """Every shift assignment."""
    rows = time_attendance().assignments()
    if as_json:
        print_json(rows)
        return
    print_table(
        ("id", "shift", "person", "group", "from", "to"),
        ((a.id, a.shift, a.person, a.group, a.valid_from, a.valid_to) for a in rows),
    )


@shifts.command("unassign")
@click.argument("assignment_id", type=int)
def unassign_shift(assignment_id: int) -> None:
    """Removes a shift assignment (its id from `facedb shifts assignments`)."""
    if not time_attendance().remove_assignment(assignment_id):
        raise InvalidInputError(f"no shift assignment has the id {assignment_id}")
    click.echo(f"assignment {assignment_id} removed")


@click.group("holidays")
def holidays() -> None:
    """Public holidays, per site or for every site.

    \b
    Examples:
      facedb holidays add 2026-11-11 Armistice --site Paris
      facedb holidays add 2026-12-25 Christmas
      facedb holidays list --from 2026-01-01
    """


@holidays.command("add")
@click.argument("day")
@click.argument("name")
@click.option("--site", help="The site (default: every site).")
@json_option
def add_holiday(day: str, name: str, site: str | None, as_json: bool) -> None:
    """Adds a public holiday."""
    row = time_attendance().add_holiday(parse_date(day, "DAY"), name, site)
    if as_json:
        print_json(row)
    else:
        click.echo(f"{row.day} {row.name} ({row.site or 'every site'}) added")


@holidays.command("list")
@click.option("--from", "date_from", help="First day (YYYY-MM-DD).")
@click.option("--to", "date_to", help="Last day (YYYY-MM-DD).")
@json_option
def list_holidays(date_from: str | None, date_to: str | None, as_json: bool) -> None:
    """The public holidays."""
    rows = time_attendance().holidays(
        parse_date(date_from, "--from") if date_from else None,
        parse_date(date_to, "--to") if date_to else None,
    )
    if as_json:
        print_json(rows)
        return
    print_table(("day", "holiday", "site"), ((h.day, h.name, h.site or "every site") for h in rows))


@holidays.command("remove")
@click.argument("day")
@click.option("--site", help="The site (default: the holiday of every site).")
def remove_holiday(day: str, site: str | None) -> None:
    """Removes a public holiday."""
    if not time_attendance().remove_holiday(parse_date(day, "DAY"), site):
        raise InvalidInputError(f"{day} is not a holiday of {site or 'every site'}")
    click.echo(f"holiday {day} removed")


@click.group("leave")
def leave() -> None:
    """Leave: vacation, sick, other; whole days or part days.

    \b
    Examples:
      facedb leave add Alice vacation --from 2026-11-12 --to 2026-11-13
      facedb leave add Bob sick --from 2026-11-16 --minutes 240 --note "doctor"
      facedb leave list --person Alice
    """


@leave.command("add")
@click.argument("person")
@click.argument("kind", type=click.Choice(["vacation", "sick", "other"]))
@click.option("--from", "day_from", required=True, help="First day (YYYY-MM-DD).")
@click.option("--to", "day_to", help="Last day, inclusive (default: the first day).")
@click.option("--minutes", type=int, help="A part day: minutes of leave on each day.")
@click.option("--note", help="Free text.")
@by_option
@json_option
def add_leave(
    person: str,
    kind: str,
    day_from: str,
    day_to: str | None,
    minutes: int | None,
    note: str | None,
    by: str,
    as_json: bool,
) -> None:
    """Enters leave for a person."""
    first = parse_date(day_from, "--from")
    row = time_attendance().add_leave(
        person, kind, first, parse_date(day_to, "--to") if day_to else first, minutes, note, by
    )
    if as_json:
        print_json(row)
    else:
        part = f", {row.minutes} min a day" if row.minutes else ""
        click.echo(f"leave {row.id}: {row.person} {row.kind} {row.day_from}..{row.day_to}{part}")


@leave.command("list")
@click.option("--person", help="One person's leave.")
@click.option("--from", "date_from", help="Leave ending on or after this day.")
@json_option
def list_leave(person: str | None, date_from: str | None, as_json: bool) -> None:
    """Leave entered, with who entered it."""
    rows = time_attendance().leave(person, parse_date(date_from, "--from") if date_from else None)
    if as_json:
        print_json(rows)
        return
    print_table(
        ("id", "person", "kind", "from", "to", "minutes", "note", "by"),
        (
            (
                lv.id,
                lv.person,
                lv.kind,
                lv.day_from,
                lv.day_to,
                lv.minutes or "whole day",
                lv.note,
                lv.created_by,
            )
            for lv in rows
        ),
    )


@leave.command("remove")
@click.argument("leave_id", type=int)
def remove_leave(leave_id: int) -> None:
    """Removes leave (its id from `facedb leave list`)."""
    if not time_attendance().remove_leave(leave_id):
        raise InvalidInputError(f"no leave has the id {leave_id}")
    click.echo(f"leave {leave_id} removed")
