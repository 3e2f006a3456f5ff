"""The timesheet as known at a moment, in SQL text shared by the SQLAlchemy reads
(store/timesheet.py) and the payroll COPY (store/payroll_csv.py, which loads no
SQLAlchemy): docs/TIME_AND_ATTENDANCE.md, "What has not happened yet"."""

from __future__ import annotations

from collections.abc import Sequence


def as_of(call: str, now: str, columns: Sequence[str]) -> str:
    """These columns of the rows of ``call`` (a timesheet(...) call in SQL) as known
    at ``now`` (a timestamptz in SQL): a day expected to work with no punch that has not ended yet
    (after today, or today before its shift ends) is ``upcoming``, not absent; while a
    work day is still going on nobody has left early or forgotten to clock out."""
    today = f"({now} AT TIME ZONE r.timezone)::date"
    not_over = f"(r.work_day > {today} OR COALESCE(r.scheduled_end > {now}, r.work_day = {today}))"
    upcoming = f"(r.status = 'absent' AND {not_over})"
    overrides = {
        "status": f"CASE WHEN {upcoming} THEN 'upcoming' ELSE r.status END",
        "absent": f"(r.absent AND NOT {upcoming})",
        "early_leave_minutes": f"CASE WHEN {not_over} THEN 0 ELSE r.early_leave_minutes END",
        "missing_clock_out": f"(r.missing_clock_out AND NOT {not_over})",
    }
    return (
        "SELECT "
        + ", ".join(f"{overrides[c]} AS {c}" if c in overrides else f"r.{c}" for c in columns)
        + f" FROM {call} r"
    )
