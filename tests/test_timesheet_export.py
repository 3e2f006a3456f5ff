"""The payroll CSV's fast path (typed columns, only text cells checked for formula
prefixes) writes the same bytes as escaping every cell of payroll_row; the totals CSV escapes
the names."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta, timezone

from facedb.csvout import CsvWriter, formula_safe
from facedb.store.timesheet import PersonTotals, TimesheetDay
from facedb.timeattendance.export import (
    PAYROLL_COLUMNS,
    TOTALS_COLUMNS,
    payroll_row,
    write_payroll_csv,
    write_totals_csv,
)

HOSTILE = ["=cmd|' /C calc'!A0", "+SUM(1)", "-2+3", "@SUM(1)", "\t=1", "\r=1", "\uff1d1"]


def _day(i: int, name: str, text: str | None, zone: str, start: datetime | None) -> TimesheetDay:
    return TimesheetDay(
        user_id=i,
        name=name,
        external_id=text,
        site=text,
        timezone=zone,
        work_day=date(2026, 10, 24) + timedelta(days=i % 3),
        shift=text,
        scheduled_start=start,
        scheduled_end=None if start is None else start + timedelta(hours=8),
        scheduled_minutes=None if start is None else 420,
        first_in=None if start is None else start + timedelta(minutes=i),
        last_out=None if i % 4 == 0 or start is None else start + timedelta(hours=9, seconds=i),
        punches=i % 5,
        mode=None,
        worked_minutes=i * 7,
        late_minutes=i % 11,
        early_leave_minutes=0,
        missing_clock_out=i % 4 == 0,
        absent=start is None,
        leave=text,
        leave_minutes=None if i % 2 else 30,
        holiday=text,
        expected_minutes=420,
        overtime_minutes=-15 if i % 3 == 0 else 0,
        status="present" if start is not None else "absent",
    )


def _days() -> list[TimesheetDay]:
    # Around the end of summer time in Paris (2026-10-25), in several tzinfo types.
    starts: list[datetime | None] = [
        datetime(2026, 10, 24, 22, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 0, 30, 15, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 10, 25, 7, 0, tzinfo=UTC),
        None,
    ]
    texts: list[str | None] = [*HOSTILE, "Alice", 'a,"b"', "O'Brien", "", None]
    days = []
    for i in range(60):
        zone = ("Europe/Paris", "UTC", "America/New_York")[i % 3]
        days.append(
            _day(i, texts[i % len(texts)] or "x", texts[i % len(texts)], zone, starts[i % 4])
        )
    return days


def test_payroll_csv_is_every_cell_escaped() -> None:
    days = _days()
    expected = io.StringIO()
    reference = CsvWriter(expected)
    reference.writerow(PAYROLL_COLUMNS)
    for day in days:
        row = payroll_row(day)
        reference.writerow(row[c] for c in PAYROLL_COLUMNS)
    written = io.StringIO()
    write_payroll_csv(written, days)
    assert written.getvalue() == expected.getvalue()
    rows = list(csv.reader(io.StringIO(written.getvalue(), newline="")))
    assert rows[1][0] == "'" + HOSTILE[0] and rows[1][PAYROLL_COLUMNS.index("holiday")][0] == "'"
    assert rows[1][PAYROLL_COLUMNS.index("overtime_minutes")] == "-15"  # a number, not escaped
    assert rows[1][PAYROLL_COLUMNS.index("first_in")] == "2026-10-25T00:00:00+02:00"


def test_totals_csv_escapes_names_only() -> None:
    people = [
        PersonTotals(i, name, i, 1, 0, 60 * i, 420, -5, 1, 3, 0, i % 2)
        for i, name in enumerate([*HOSTILE, "Bob"])
    ]
    written = io.StringIO()
    write_totals_csv(written, people)
    rows = list(csv.reader(io.StringIO(written.getvalue(), newline="")))
    assert rows[0] == list(TOTALS_COLUMNS)
    assert [r[0] for r in rows[1:]] == [formula_safe(p.name) for p in people]
    assert rows[1][0] == "'" + HOSTILE[0]
    assert rows[1][TOTALS_COLUMNS.index("overtime_minutes")] == "-5"  # a number, not escaped
    assert rows[-1] == [
        "Bob",
        str(len(HOSTILE)),
        "1",
        "0",
        str(60 * len(HOSTILE)),
        "420",
        "-5",
        "1",
        "3",
        "0",
        str(len(HOSTILE) % 2),
    ]


def test_typed_rows_check_only_the_text_columns() -> None:
    buffer = io.StringIO()
    CsvWriter(buffer).writerows_typed([("=1", "-2", -3, None, True)], text_columns=(0,))
    assert buffer.getvalue() == "'=1,-2,-3,,True\r\n"
