"""Timesheets: rows of the SQL function timesheet() (migration 0007_time_attendance),
the single place where late, early, worked and overtime minutes are computed."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime

from sqlalchemy import BigInteger, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from facedb.store.tables.core import User
from facedb.store.timesheet_sql import as_of


@dataclass(frozen=True)
class TimesheetDay:
    """One person's work day (docs/TIME_AND_ATTENDANCE.md defines every column)."""

    user_id: int
    name: str
    external_id: str | None
    site: str | None
    timezone: str
    work_day: date
    shift: str | None
    scheduled_start: datetime | None
    scheduled_end: datetime | None
    scheduled_minutes: int | None
    first_in: datetime | None
    last_out: datetime | None
    punches: int
    mode: str | None  # paired (in/out devices), span (first to last), None: no punch
    worked_minutes: int
    late_minutes: int
    early_leave_minutes: int
    missing_clock_out: bool
    absent: bool
    leave: str | None
    leave_minutes: int | None
    holiday: str | None
    expected_minutes: int
    overtime_minutes: int
    status: str  # present, absent, upcoming, leave, holiday, off


# The columns of timesheet(), in order: the fields of TimesheetDay.
COLUMNS = tuple(f.name for f in fields(TimesheetDay))


@dataclass(frozen=True)
class PersonTotals:
    user_id: int
    name: str
    days_present: int
    days_absent: int
    days_leave: int
    worked_minutes: int
    expected_minutes: int
    overtime_minutes: int
    late_days: int
    late_minutes: int
    early_leave_minutes: int
    missing_clock_outs: int
    days_upcoming: int = 0  # not counted in the sums above: they have not happened yet


def timesheet_days(
    session: Session,
    date_from: date,
    date_to: date,
    default_zone: str,
    user_ids: Sequence[int] | None = None,
    now: datetime | None = None,
) -> list[TimesheetDay]:
    """Rows of timesheet(date_from, date_to, default_zone) as known at ``now``
    (default: now; see as_of), for these people only when user_ids is given (None:
    everyone), ordered by name and day."""
    if user_ids is not None and not user_ids:
        return []
    statement = text(
        as_of("timesheet(:date_from, :date_to, :zone, :ids)", "CAST(:now AS timestamptz)", COLUMNS)
    ).bindparams(bindparam("ids", type_=ARRAY(BigInteger)))
    params = {
        "date_from": date_from,
        "date_to": date_to,
        "zone": default_zone,
        "ids": list(user_ids) if user_ids is not None else None,
        "now": now or datetime.now(UTC),
    }
    return [TimesheetDay(*row) for row in session.execute(statement, params).all()]


def totals(days: Sequence[TimesheetDay]) -> list[PersonTotals]:
    """Per-person sums of the days that have happened, in the days' order of people
    (one pass: a month of a thousand people is twenty thousand days); the upcoming
    days are only counted, in days_upcoming."""
    sums: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for d in days:
        row = sums.get(d.user_id)
        if row is None:
            row = sums[d.user_id] = [0] * 11
            names[d.user_id] = d.name
        if d.status == "upcoming":
            row[10] += 1
            continue
        row[0] += d.status == "present"
        row[1] += d.absent
        row[2] += d.status == "leave"
        row[3] += d.worked_minutes
        row[4] += d.expected_minutes
        row[5] += d.overtime_minutes
        row[6] += d.late_minutes > 0
        row[7] += d.late_minutes
        row[8] += d.early_leave_minutes
        row[9] += d.missing_clock_out
    return [PersonTotals(user_id, names[user_id], *row) for user_id, row in sums.items()]


def people_by_name(session: Session, scope: Collection[int] | None) -> list[int]:
    """The ids of everyone (or of ``scope``), in name order: a timesheet's pages."""
    query = select(User.id).order_by(User.name, User.id)
    if scope is not None:
        query = query.where(User.id.in_(scope))
    return list(session.scalars(query))
