"""`facedb timesheet`: worked time per person and work day, and the payroll export."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import click

from facedb import timezones
from facedb.config import Settings
from facedb.errors import InvalidInputError
from facedb.usecases.payroll import write_payroll_csv

from . import times
from .org import time_attendance
from .output import format_option, print_json, print_table

if TYPE_CHECKING:
    from facedb.timeattendance import PersonTotals, TimesheetDay


def week_bounds(value: str, zone: str) -> tuple[date, date]:
    """'2026-W45', a day inside the week, 'this' or 'last' -> Monday..Sunday."""
    text = value.strip().lower()
    if text in ("this", "last"):
        day = timezones.parse_day("today", zone) - timedelta(days=7 if text == "last" else 0)
    elif "-w" in text:
        try:
            year, week = text.split("-w")
            day = date.fromisocalendar(int(year), int(week), 1)
        except ValueError:
            raise InvalidInputError(f"not a week: {value!r} (use 2026-W45)") from None
    else:
        day = timezones.parse_day(text, zone)
    monday = day - timedelta(days=day.isoweekday() - 1)
    if not timezones.FIRST_DAY <= monday <= timezones.LAST_DAY - timedelta(days=6):
        raise InvalidInputError(
            f"the week {value!r} is outside {timezones.FIRST_DAY} .. {timezones.LAST_DAY}"
        )
    return monday, monday + timedelta(days=6)


def _period(
    date_from: str | None, date_to: str | None, week: str | None, month: str | None, zone: str
) -> tuple[date, date]:
    given = [x for x in (date_from, week, month) if x is not None]
    if len(given) > 1:
        raise InvalidInputError("give one of --from/--to, --week or --month")
    if week is not None:
        return week_bounds(week, zone)
    if month is not None:
        return timezones.month_bounds(month)
    first = timezones.parse_day(date_from or "today", zone)
    return first, timezones.parse_day(date_to, zone) if date_to else first


def _hm(minutes: int) -> str:
    """Every duration of the timesheet's tables is hours:minutes."""
    return f"{minutes // 60}:{minutes % 60:02d}"


def _flags(d: TimesheetDay) -> str:
    flags = []
    if d.missing_clock_out:
        flags.append("no clock-out")
    if d.leave:
        flags.append(f"{d.leave}" + (f" {d.leave_minutes} min" if d.leave_minutes else ""))
    if d.holiday:
        flags.append(d.holiday)
    return ", ".join(flags)


def print_timesheet(
    days: list[TimesheetDay],
    people: list[PersonTotals],
    title: str,
    now: datetime,
    tz: str | None = None,
) -> None:
    """The days, then the totals of the days that have happened by ``now``; times in
    each person's zone (or --tz) with their offset, durations in hours:minutes."""
    if not days:
        click.echo(f"no timesheet rows for {title.removeprefix('timesheet ')}: nobody punched")
        click.echo("and nobody was scheduled. Add a shift: facedb shifts add day 09:00 17:00")
        return
    # One month: the weekday and the day of the month are enough (the title has the rest).
    one_month = {(d.work_day.year, d.work_day.month) for d in days}
    day_format = "%a %d" if len(one_month) == 1 else "%a %m-%d"
    print_table(
        ("name", "day", "status", "in", "out", "worked", "late", "early", "overtime", "notes"),
        (
            (
                d.name,
                f"{d.work_day:{day_format}}",
                d.status,
                times.clock(d.first_in, d.timezone, tz, d.work_day),
                times.clock(d.last_out, d.timezone, tz, d.work_day),
                _hm(d.worked_minutes) if d.status != "upcoming" else "",
                _hm(d.late_minutes) if d.late_minutes else "",
                _hm(d.early_leave_minutes) if d.early_leave_minutes else "",
                _hm(d.overtime_minutes) if d.overtime_minutes else "",
                _flags(d),
            )
            for d in days
        ),
        title=title,
    )
    upcoming = sum(t.days_upcoming for t in people)
    moment = times.stamp(now, tz or timezones.local_zone())
    print_table(
        (
            "name",
            "present",
            "absent",
            "leave",
            "worked",
            "expected",
            "overtime",
            "late days",
            "late",
            "no clock-out",
        ),
        (
            (
                t.name,
                t.days_present,
                t.days_absent,
                t.days_leave,
                _hm(t.worked_minutes),
                _hm(t.expected_minutes),
                _hm(t.overtime_minutes),
                t.late_days,
                _hm(t.late_minutes),
                t.missing_clock_outs,
            )
            for t in people
        ),
        title=f"totals of the days that happened by {moment}"
        + (f" ({upcoming} upcoming days not counted)" if upcoming else ""),
    )


@click.command("timesheet")
@click.option("--from", "date_from", help="First day (YYYY-MM-DD, today, yesterday).")
@click.option("--to", "date_to", help="Last day (default: the first day).")
@click.option("--week", help="An ISO week: 2026-W45, a day in it, this or last.")
@click.option("--month", help="A month: 2026-11.")
@click.option("--site", help="Only the people of this site.")
@click.option("--group", help="Only the people of this group.")
@click.option("--person", help="Only this person.")
@format_option("csv: the payroll columns (docs/TIME_AND_ATTENDANCE.md).")
@click.option("--totals", is_flag=True, help="With --format csv: one row per person.")
@click.option(
    "--tz",
    help="Print the times in this zone (default: each person's site's zone); a person's "
    "days stay those of their site.",
)
def timesheet(
    date_from: str | None,
    date_to: str | None,
    week: str | None,
    month: str | None,
    site: str | None,
    group: str | None,
    person: str | None,
    fmt: str,
    totals: bool,
    tz: str | None,
) -> None:
    """One row per person and work day: scheduled start and end, first in, last out,
    worked, late, early leave, missing clock-out, absence, leave, holidays, overtime,
    then per-person totals. Computed in SQL (the timesheet() function), from the
    accepted events as corrected. Days that have not happened yet (after today, or
    today before the shift ends) are upcoming, never absent, and the totals count
    only the days that happened.

    \b
    Examples:
      facedb timesheet --week this
      facedb timesheet --month 2026-11 --site Paris --format csv > payroll.csv
      facedb timesheet --from 2026-11-02 --to 2026-11-06 --group Kitchen --format json
    """
    shown_zone = timezones.check_zone(tz) if tz else None
    zone = timezones.local_zone()  # of the people with no site
    first, last = _period(date_from, date_to, week, month, zone)
    now = datetime.now(UTC)
    if fmt == "csv" and not totals:
        # The payroll export straight from PostgreSQL's COPY (usecases/payroll.py).
        sys.stdout.flush()
        write_payroll_csv(
            Settings.load(),
            zone,
            sys.stdout.buffer,
            first,
            last,
            site=site,
            group=group,
            person=person,
            now=now,
            shown_zone=shown_zone,
        )
        return
    from facedb.timeattendance import payroll_json, write_totals_csv

    service = time_attendance(zone)
    days, people = service.timesheet(first, last, site=site, group=group, person=person, now=now)
    if fmt == "json":
        print_json(payroll_json(days, people, now, shown_zone))
    elif fmt == "csv":
        write_totals_csv(sys.stdout, people)
    else:
        print_timesheet(days, people, f"timesheet {first} to {last}", now, shown_zone)


def print_day_exceptions(first: date, last: date, zone: str) -> None:
    """The late, absent and missing clock-out sections of `facedb report` (nothing
    when no shift is set up)."""
    days = time_attendance(zone).exceptions(first, last)
    if days is None:
        return

    def when(d: TimesheetDay) -> str:
        return f"{d.name} {d.work_day}" if first != last else d.name

    late = [f"{when(d)} {d.late_minutes} min" for d in days if d.late_minutes > 0]
    absent = [when(d) for d in days if d.absent]
    missing = [when(d) for d in days if d.missing_clock_out]
    click.echo(f"late ({len(late)}): {', '.join(late) or '-'}")
    click.echo(f"absent, scheduled ({len(absent)}): {', '.join(absent) or '-'}")
    click.echo(f"missing clock-out ({len(missing)}): {', '.join(missing) or '-'}")
