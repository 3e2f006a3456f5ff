"""The one CSV writer of facedb: every CSV it writes (``report --format csv``, the
``*.rejects.csv`` of ``import``) goes through ``CsvWriter``.

Names and metadata come from people and files facedb does not control, and a
spreadsheet runs a cell that starts with ``=`` as a formula (``=cmd|' /C calc'!A0``).
Following OWASP's rule for CSV injection, a text cell that starts with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return (or the full-width ``＝ ＋ － ＠`` that some
spreadsheets also take for them) is prefixed with a single quote, which spreadsheets
show as text and do not display; the csv module then quotes the separators and double
quotes of every cell. Numbers and dates are written as they are (a negative
number stays a number), booleans as ``true``/``false`` (as in JSON). ``unescape`` turns a cell written this way back into its text,
so that a rejects file imports again as it was.

The payroll export, the one large CSV, is written by PostgreSQL with the same rules
(store/payroll_csv.py: ESCAPE and FORMULA_PREFIXES are used there).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable
from typing import TextIO

FORMULA_PREFIXES = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")
ESCAPE = "'"

Cell = str | int | float | bool | dt.date | dt.datetime | None


def formula_safe(value: Cell) -> str | int | float | None:
    """The cell as written: text escaped when a spreadsheet would run it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, str) and value and value[0] in FORMULA_PREFIXES:
        return ESCAPE + value
    return value


def unescape(cell: str) -> str:
    """The text of a cell that ``formula_safe`` escaped (other cells unchanged)."""
    if len(cell) >= 2 and cell[0] == ESCAPE and cell[1] in FORMULA_PREFIXES:
        return cell[1:]
    return cell


class CsvWriter:
    """csv.writer with formula escaping on every cell (RFC 4180 quoting, CRLF rows)."""

    def __init__(self, handle: TextIO) -> None:
        self._writer = csv.writer(handle)

    def writerow(self, row: Iterable[Cell]) -> None:
        self._writer.writerow([formula_safe(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[Cell]]) -> None:
        for row in rows:
            self.writerow(row)
