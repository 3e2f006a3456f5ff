"""Payroll exports: one stable, documented column set (docs/TIME_AND_ATTENDANCE.md),
as CSV through facedb's one formula-safe CSV writer, or as JSON.

Times are local to the person's site (ISO 8601 with the UTC offset of that moment,
so that a summer-time change is visible); minutes are whole minutes, rounded down.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from facedb.csvout import Cell, CsvWriter
from facedb.store.payroll_csv import PAYROLL_COLUMNS
from facedb.store.timesheet import PersonTotals, TimesheetDay

TOTALS_COLUMNS = (
    "person",
    "days_present",
    "days_absent",
    "days_leave",
    "worked_minutes",
    "expected_minutes",
    "overtime_minutes",
    "late_days",
    "late_minutes",
    "early_leave_minutes",
    "missing_clock_outs",
    "days_upcoming",
)


def _local(value: datetime | None, zone: ZoneInfo) -> str | None:
    if value is None:
        return None
    return value.astimezone(zone).isoformat(timespec="seconds")


def payroll_row(day: TimesheetDay, shown: ZoneInfo | None = None) -> dict[str, Cell]:
    """The payroll columns of a day, its times in the person's zone (or ``shown``)."""
    zone = shown or ZoneInfo(day.timezone)
    return {
        "person": day.name,
        "external_id": day.external_id,
        "site": day.site,
        "work_day": day.work_day,
        "status": day.status,
        "shift": day.shift,
        "scheduled_start": _local(day.scheduled_start, zone),
        "scheduled_end": _local(day.scheduled_end, zone),
        "first_in": _local(day.first_in, zone),
        "last_out": _local(day.last_out, zone),
        "worked_minutes": day.worked_minutes,
        "expected_minutes": day.expected_minutes,
        "overtime_minutes": day.overtime_minutes,
        "late_minutes": day.late_minutes,
        "early_leave_minutes": day.early_leave_minutes,
        "missing_clock_out": day.missing_clock_out,
        "absent": day.absent,
        "leave": day.leave,
        "leave_minutes": day.leave_minutes,
        "holiday": day.holiday,
        "punches": day.punches,
        "timezone": day.timezone,
    }


def totals_row(total: PersonTotals) -> dict[str, Cell]:
    return {
        "person": total.name,
        "days_present": total.days_present,
        "days_absent": total.days_absent,
        "days_leave": total.days_leave,
        "worked_minutes": total.worked_minutes,
        "expected_minutes": total.expected_minutes,
        "overtime_minutes": total.overtime_minutes,
        "late_days": total.late_days,
        "late_minutes": total.late_minutes,
        "early_leave_minutes": total.early_leave_minutes,
        "missing_clock_outs": total.missing_clock_outs,
        "days_upcoming": total.days_upcoming,
    }


def write_totals_csv(handle: TextIO, people: Sequence[PersonTotals]) -> None:
    """One header row, then one row per person (TOTALS_COLUMNS): few rows, so every
    cell goes through the escaping writer."""
    writer = CsvWriter(handle)
    writer.writerow(TOTALS_COLUMNS)
    writer.writerows([totals_row(t)[c] for c in TOTALS_COLUMNS] for t in people)


def payroll_json(
    days: Sequence[TimesheetDay],
    people: Sequence[PersonTotals],
    as_of: datetime | None = None,
    shown_zone: str | None = None,
) -> dict[str, Any]:
    """The days and the totals; ``as_of``: the moment the days are known at (the
    totals count the days that happened by then, not the upcoming ones)."""
    shown = ZoneInfo(shown_zone) if shown_zone else None
    result: dict[str, Any] = {
        "columns": list(PAYROLL_COLUMNS),
        "days": [payroll_row(d, shown) for d in days],
        "totals": [totals_row(t) for t in people],
    }
    if as_of is not None:
        result["as_of"] = as_of.isoformat(timespec="seconds")
    return result
