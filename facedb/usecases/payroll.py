"""The payroll CSV export, on its own fast path: a plain psycopg2 connection
(store/direct.py) and PostgreSQL's COPY (store/payroll_csv.py), so that a month of a
thousand people leaves the database as CSV with no SQLAlchemy import and no rows
parsed in Python. People in a site, group or by name are found by the use cases of
TimeAttendance, as for every other report."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, closing
from datetime import UTC, date, datetime
from typing import IO, TYPE_CHECKING, Any

from facedb.config import Settings
from facedb.store import direct
from facedb.store.payroll_csv import copy_payroll_csv, people_in_order
from facedb.timezones import check_period

if TYPE_CHECKING:
    from facedb.timeattendance.service import TimeAttendance

# What an export writes: first and last day, default zone, as known at, zone shown.
_What = tuple[date, date, str, datetime, str | None]

MAX_CONNECTIONS = 4
# The connections of later slices, for all the exports of this process together (an
# API serving several reporters at once): an export that finds none free runs on its
# own connection only.
_EXTRA_CONNECTIONS = threading.BoundedSemaphore(MAX_CONNECTIONS - 1)
MIN_SLICE = 200  # people
SPOOL_IN_MEMORY = 16 * 2**20  # bytes of a later slice kept in memory, then a temporary file


def write_payroll_csv(
    settings: Settings,
    zone: str,
    out: IO[bytes],
    date_from: date,
    date_to: date,
    *,
    site: str | None = None,
    group: str | None = None,
    person: str | None = None,
    service: TimeAttendance | None = None,
    now: datetime | None = None,
    shown_zone: str | None = None,
) -> None:
    """The payroll CSV of these days (docs/TIME_AND_ATTENDANCE.md) to ``out``, for the
    people of the site, group or person when given (found through ``service``, else a
    TimeAttendance of its own); ``zone`` is the default time zone (people with no site).
    The days are as known at ``now`` (default: now; upcoming days are not absent);
    times are in each person's zone, or in ``shown_zone`` when given."""
    stamp = now or datetime.now(UTC)
    check_period(date_from, date_to)
    user_ids = None
    if site is not None or group is not None or person is not None:
        if service is None:
            from facedb.timeattendance.service import TimeAttendance

            with closing(TimeAttendance(settings, zone)) as own:
                user_ids = own.scope(site=site, group=group, person=person)
        else:
            user_ids = service.scope(site=site, group=group, person=person)
    with direct.connect(settings) as conn:
        people = people_in_order(conn, user_ids)
        extra = _take_connections(len(_slices(people, os.cpu_count() or 1)) - 1)
        try:
            _write_slices(
                settings,
                conn,
                out,
                (date_from, date_to, zone, stamp, shown_zone),
                _slices(people, extra + 1),
            )
        finally:
            for _ in range(extra):
                _EXTRA_CONNECTIONS.release()


def _take_connections(wanted: int) -> int:
    """Up to ``wanted`` connections for later slices, as many as are free now."""
    taken = 0
    while taken < wanted and _EXTRA_CONNECTIONS.acquire(blocking=False):
        taken += 1
    return taken


def _write_slices(
    settings: Settings,
    conn: Any,
    out: IO[bytes],
    what: _What,
    slices: list[list[int]],
) -> None:
    if len(slices) == 1:
        _copy(conn, out, what, slices[0])
        return
    # timesheet() runs in one server process per connection: the later slices run
    # on connections of their own meanwhile, spooled, and follow the first in order.
    with ExitStack() as stack:
        pool = stack.enter_context(ThreadPoolExecutor(len(slices) - 1))
        later = []
        for ids in slices[1:]:
            spool = stack.enter_context(tempfile.SpooledTemporaryFile(SPOOL_IN_MEMORY))
            later.append(
                (
                    spool,
                    pool.submit(_copy_slice, settings, spool, what, ids),
                )
            )
        _copy(conn, out, what, slices[0])
        for spool, done in later:
            done.result()
            spool.seek(0)
            shutil.copyfileobj(spool, out)


def _slices(people: list[int], cpus: int) -> list[list[int]]:
    """Consecutive slices of the people, one per CPU (at most MAX_CONNECTIONS), each of
    at least MIN_SLICE people: a small timesheet is not worth another connection."""
    count = max(1, min(cpus, MAX_CONNECTIONS, len(people) // MIN_SLICE))
    size = -(-len(people) // count) if people else 0
    return [people[i : i + size] for i in range(0, len(people), size)] if size else [people]


def _copy(
    conn: Any, out: IO[bytes], what: _What, user_ids: list[int], *, header: bool = True
) -> None:
    date_from, date_to, zone, now, shown_zone = what
    copy_payroll_csv(
        conn,
        out,
        date_from,
        date_to,
        zone,
        user_ids,
        header=header,
        now=now,
        shown_zone=shown_zone,
    )


def _copy_slice(settings: Settings, out: IO[bytes], what: _What, user_ids: list[int]) -> None:
    with direct.connect(settings) as conn:
        _copy(conn, out, what, user_ids, header=False)
