"""The totals CSV escapes the names, not the numbers (the payroll CSV itself is
written by PostgreSQL: tests/test_payroll_csv.py)."""

from __future__ import annotations

import csv
import io

from facedb.csvout import formula_safe
from facedb.store.timesheet import PersonTotals
from facedb.timeattendance.export import (
    TOTALS_COLUMNS,
    write_totals_csv,
)

HOSTILE = ["=cmd|' /C calc'!A0", "+SUM(1)", "-2+3", "@SUM(1)", "\t=1", "\r=1", "\uff1d1"]


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
        "0",  # days_upcoming, appended
    ]
