"""Payroll exports: one stable, documented column set (docs/TIME_AND_ATTENDANCE.md),
as CSV through facedb's one formula-safe CSV writer, or as JSON.

Times are local to the person's site (ISO 8601 with the UTC offset of that moment,
so that a summer-time change is visible); minutes are whole minutes, rounded down.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from facedb.csvout import Cell, CsvWriter
from facedb.store.timesheet import PersonTotals, TimesheetDay

# Adding a column appends it; a column is never renamed, moved or dropped.
PAYROLL_COLUMNS = (
    "person",
    "external_id",
    "site",
    "work_day",
    "status",
    "shift",
    "scheduled_start",
    "scheduled_end",
    "first_in",
    "last_out",
    "worked_minutes",
    "expected_minutes",
    "overtime_minutes",
    "late_minutes",
    "early_leave_minutes",
    "missing_clock_out",
    "absent",
    "leave",
    "leave_minutes",
    "holiday",
    "punches",
    "timezone",
)

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
)


def _local(value: datetime | None, zone: ZoneInfo) -> str | None:
    if value is None:
        return None
    return value.astimezone(zone).isoformat(timespec="seconds")


def payroll_row(day: TimesheetDay) -> dict[str, Cell]:
    zone = ZoneInfo(day.timezone)
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
    }


# The cells that hold user text (names, shift, leave and holiday names, zones): the
# only ones the payroll CSV fast path checks for formula prefixes; the others are numbers,
# booleans, None or ISO 8601 dates and times (the years 1900-9000, see timesheet()).
PAYROLL_TEXT_COLUMNS = tuple(
    PAYROLL_COLUMNS.index(c)
    for c in ("person", "external_id", "site", "status", "shift", "leave", "holiday", "timezone")
)

PayrollCells = tuple[str | int | bool | None, ...]


def _payroll_cells(days: Sequence[TimesheetDay]) -> Iterator[PayrollCells]:
    """The rows of write_payroll_csv, in PAYROLL_COLUMNS order, with no per-cell
    dispatch: the same cells as payroll_row, for tens of thousands of rows."""
    zones: dict[str, ZoneInfo] = {}
    scheduled: dict[tuple[datetime, str], str] = {}  # one per zone, shift and day

    def when(value: datetime | None, zone_name: str) -> str | None:
        if value is None:
            return None
        key = (value, zone_name)
        shown = scheduled.get(key)
        if shown is None:
            shown = scheduled[key] = value.astimezone(zones[zone_name]).isoformat("T", "seconds")
        return shown

    for d in days:
        tz = d.timezone
        zone = zones.get(tz)
        if zone is None:
            zone = zones[tz] = ZoneInfo(tz)
        yield (
            d.name,
            d.external_id,
            d.site,
            d.work_day.isoformat(),
            d.status,
            d.shift,
            when(d.scheduled_start, tz),
            when(d.scheduled_end, tz),
            None if d.first_in is None else d.first_in.astimezone(zone).isoformat("T", "seconds"),
            None if d.last_out is None else d.last_out.astimezone(zone).isoformat("T", "seconds"),
            d.worked_minutes,
            d.expected_minutes,
            d.overtime_minutes,
            d.late_minutes,
            d.early_leave_minutes,
            d.missing_clock_out,
            d.absent,
            d.leave,
            d.leave_minutes,
            d.holiday,
            d.punches,
            tz,
        )


def write_payroll_csv(handle: TextIO, days: Sequence[TimesheetDay]) -> None:
    """One header row, then one row per person and work day (PAYROLL_COLUMNS)."""
    writer = CsvWriter(handle)
    writer.writerow(PAYROLL_COLUMNS)
    writer.writerows_typed(_payroll_cells(days), PAYROLL_TEXT_COLUMNS)


def write_totals_csv(handle: TextIO, people: Sequence[PersonTotals]) -> None:
    """One header row, then one row per person (TOTALS_COLUMNS): few rows, so every
    cell goes through the escaping writer."""
    writer = CsvWriter(handle)
    writer.writerow(TOTALS_COLUMNS)
    writer.writerows([totals_row(t)[c] for c in TOTALS_COLUMNS] for t in people)


def payroll_json(days: Sequence[TimesheetDay], people: Sequence[PersonTotals]) -> dict[str, Any]:
    return {
        "columns": list(PAYROLL_COLUMNS),
        "days": [payroll_row(d) for d in days],
        "totals": [totals_row(t) for t in people],
    }
