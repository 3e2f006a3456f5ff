"""The payroll CSV (docs/TIME_AND_ATTENDANCE.md), written by PostgreSQL itself: COPY
over the timesheet() function, with every cell formatted and formula-escaped in SQL,
so that a month of a thousand people (21,000 rows) costs the client no row parsing.

The cells are those of facedb.timeattendance.export.payroll_row written through
facedb.csvout.CsvWriter (tests/test_payroll_csv.py compares them byte for byte):
times local to the row's zone in ISO 8601 with the UTC offset of that moment,
booleans true/false, NULL and empty text as empty cells, RFC 4180 quoting, CRLF rows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import IO, Any

from facedb.csvout import ESCAPE, FORMULA_PREFIXES
from facedb.store.timesheet_sql import as_of

# Times are written in the row's zone (the person's), unless --tz asks for another.
_SHOWN_ZONE = "COALESCE(%(shown_zone)s::text, t.timezone)"


def _text(column: str) -> str:
    """User text: a formula prefix escaped as csvout.formula_safe does, '' -> NULL
    (COPY would write "" for an empty string, the csv module an empty cell)."""
    return (
        f"CASE WHEN left(t.{column}, 1) = ANY (%(prefixes)s) THEN %(escape)s || t.{column} "
        f"ELSE NULLIF(t.{column}, '') END"
    )


def _local_time(column: str) -> str:
    """datetime.astimezone(zone).isoformat(timespec='seconds'): the local wall clock and
    the offset, +HH:MM, with :SS when the offset has seconds (local mean time)."""
    offset = f"o.{column}"
    return (
        f"to_char(t.{column} AT TIME ZONE {_SHOWN_ZONE}, 'YYYY-MM-DD\"T\"HH24:MI:SS') "
        f"|| CASE WHEN {offset} < 0 THEN '-' ELSE '+' END "
        f"|| lpad((abs({offset}) / 3600)::text, 2, '0') || ':' "
        f"|| lpad((mod(abs({offset}), 3600) / 60)::text, 2, '0') "
        f"|| CASE WHEN mod(abs({offset}), 60) <> 0 "
        f"THEN ':' || lpad(mod(abs({offset}), 60)::text, 2, '0') ELSE '' END"
    )


def _offset(column: str) -> str:
    return (
        f"date_part('epoch', (t.{column} AT TIME ZONE {_SHOWN_ZONE}) "
        f"- (t.{column} AT TIME ZONE 'UTC'))::integer AS {column}"
    )


def _boolean(column: str) -> str:
    return f"CASE t.{column} WHEN true THEN 'true' WHEN false THEN 'false' END"


def _number(column: str) -> str:
    return f"t.{column}"


_TIMES = ("scheduled_start", "scheduled_end", "first_in", "last_out")
# The columns of timesheet() the export reads (as_of overrides some of them).
_READ = (
    "name",
    "external_id",
    "site",
    "timezone",
    "work_day",
    "status",
    "shift",
    *_TIMES,
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
)

# Adding a column appends it; a column is never renamed, moved or dropped.
PAYROLL_SQL: dict[str, str] = {
    "person": _text("name"),
    "external_id": _text("external_id"),
    "site": _text("site"),
    "work_day": "to_char(t.work_day, 'YYYY-MM-DD')",
    "status": _text("status"),
    "shift": _text("shift"),
    **{column: _local_time(column) for column in _TIMES},
    "worked_minutes": _number("worked_minutes"),
    "expected_minutes": _number("expected_minutes"),
    "overtime_minutes": _number("overtime_minutes"),
    "late_minutes": _number("late_minutes"),
    "early_leave_minutes": _number("early_leave_minutes"),
    "missing_clock_out": _boolean("missing_clock_out"),
    "absent": _boolean("absent"),
    "leave": _text("leave"),
    "leave_minutes": _number("leave_minutes"),
    "holiday": _text("holiday"),
    "punches": _number("punches"),
    "timezone": _text("timezone"),
}

PAYROLL_COLUMNS = tuple(PAYROLL_SQL)

_QUERY = (
    "COPY (SELECT "
    + ", ".join(f'{sql} AS "{name}"' for name, sql in PAYROLL_SQL.items())
    + " FROM ("
    + as_of(
        "timesheet(%(date_from)s, %(date_to)s, %(zone)s, %(ids)s::bigint[])",
        "%(now)s::timestamptz",
        _READ,
    )
    + ") t"
    # OFFSET 0 keeps the offsets a subquery of their own: flattened, each would be
    # computed again for each of its five uses in _local_time.
    + " CROSS JOIN LATERAL (SELECT "
    + ", ".join(_offset(column) for column in _TIMES)
    + " OFFSET 0) o) TO STDOUT WITH (FORMAT csv, HEADER %(header)s)"
)

# The order of timesheet()'s rows: people by lower(name), then id.
_PEOPLE = (
    "SELECT id FROM users WHERE %(ids)s::bigint[] IS NULL OR id = ANY (%(ids)s::bigint[]) "
    "ORDER BY lower(name::text), id"
)


class _CrlfRows:
    """The file COPY writes to: PostgreSQL sends one row per CopyData message, ended by
    LF; the csv module's rows (and RFC 4180's) end with CRLF."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out

    def write(self, row: bytes) -> None:
        self._out.write(row[:-1] + b"\r\n" if row.endswith(b"\n") else row)


def people_in_order(conn: Any, user_ids: list[int] | None) -> list[int]:
    """The ids of these people (None: everyone) in the order of timesheet()'s rows, so
    that the timesheets of consecutive slices, one after the other, are the whole one."""
    with conn.cursor() as cursor:
        cursor.execute(_PEOPLE, {"ids": user_ids})
        ids = [int(row[0]) for row in cursor.fetchall()]
    conn.rollback()
    return ids


def copy_payroll_csv(
    conn: Any,
    out: IO[bytes],
    date_from: date,
    date_to: date,
    default_zone: str,
    user_ids: list[int] | None = None,
    *,
    header: bool = True,
    now: datetime | None = None,
    shown_zone: str | None = None,
) -> None:
    """The header (unless header is False) and one row per person and work day of
    timesheet(date_from, date_to, default_zone), for these people only when user_ids
    is given (None: everyone), in the function's order (name, day), written to ``out``
    as UTF-8 bytes; the days as known at ``now`` (store.timesheet.as_of), times in
    each row's zone or in ``shown_zone`` when given."""
    params = {
        "now": now or datetime.now(UTC),
        "shown_zone": shown_zone,
        "header": header,
        "date_from": date_from,
        "date_to": date_to,
        "zone": default_zone,
        "ids": user_ids,
        "prefixes": sorted(FORMULA_PREFIXES),
        "escape": ESCAPE,
    }
    with conn.cursor() as cursor:
        cursor.execute("SET LOCAL client_encoding = 'UTF8'")
        cursor.copy_expert(cursor.mogrify(_QUERY, params), _CrlfRows(out))
    conn.rollback()
