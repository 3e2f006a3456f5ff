"""Attendance read back: the daily report of a period, and the events themselves."""

from __future__ import annotations

from datetime import date, datetime

from facedb import timezones
from facedb.domain.attendance import AttendanceRow, Report
from facedb.errors import InvalidInputError
from facedb.store import attendance as store
from facedb.store import gallery
from facedb.usecases.runtime import Runtime


def report(rt: Runtime, date_from: date, date_to: date, tz: str | None) -> Report:
    """The daily attendance report of a period: each person's days in their site's
    zone, else in ``tz`` (None: this machine's zone, the installation's)."""
    zone = timezones.zone_or_local(tz)
    if date_to < date_from:
        raise InvalidInputError(f"the period ends ({date_to}) before it starts ({date_from})")
    with rt.transaction() as primary, rt.reading(primary) as session:
        return store.daily_report(session, date_from, date_to, zone)


def attendance(
    rt: Runtime, since: datetime | None, name: str | None, limit: int
) -> list[AttendanceRow]:
    """The latest events (of ``name`` when given, since ``since``), at most ``limit``,
    each with its person's zone (their site's, else this machine's)."""
    with rt.transaction() as primary, rt.reading(primary) as session:
        user_id = gallery.get_user(session, name, loose=True).id if name else None
        return store.list_events(session, since, user_id, limit, timezones.local_zone())
