"""Locked pay periods as payroll reads them: a lock covers the *work days* of its
period for every person, each in their site's zone and with their shift (the day a
punch belongs to in timesheet(): a night shift's morning punch belongs to the day
before), not the calendar days of one zone.

Every change that could alter a locked work day runs inside ``guarded``: the locked
days of the people it touches are read before and after it, in the same transaction,
and a difference refuses the change (PeriodLockedError, exit code 21, HTTP 409):
corrections, leave, holidays, shift and site assignments, device roles, and the
replay of a kiosk's offline events (which sets such events aside instead,
offline/sync.py). The days compared are the payroll's own rows, so what is refused is
exactly what would change the numbers that were signed.

People enrolled after a period was locked are not part of it: their rows in it (a
group's shift applies to every member, from the shift's first day) are not compared.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import date, timedelta

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from facedb.errors import PeriodLockedError
from facedb.store.tables.core import User
from facedb.store.tables.time_attendance import PayPeriod
from facedb.store.timesheet import TimesheetDay, timesheet_days

# Serialises locking with every guarded change: none lands in a period being locked.
_LOCK_KEY = "facedb.pay_periods"
# A moment's work day is its local day or the day before, in a zone up to 14 hours
# away from UTC: two days either side of a change's dates reach every work day it
# can touch.
MARGIN = timedelta(days=2)

_Rows = dict[tuple[int, int, date], TimesheetDay]


def serialise(session: Session) -> None:
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": _LOCK_KEY})


def locked_periods(session: Session, first: date | None, last: date | None) -> list[PayPeriod]:
    """The locked periods whose work days a change of the days first..last can
    reach (None: unbounded on that side)."""
    query = select(PayPeriod).where(PayPeriod.unlocked_at.is_(None))
    if first is not None:
        query = query.where(PayPeriod.day_to >= first - MARGIN)
    if last is not None:
        query = query.where(PayPeriod.day_from <= last + MARGIN)
    return list(session.scalars(query.order_by(PayPeriod.day_from)))


def _rows(
    session: Session,
    periods: list[PayPeriod],
    user_ids: Collection[int] | None,
    first: date | None,
    last: date | None,
) -> _Rows:
    """The locked rows of these people, of the days first..last can reach (a work
    day's row depends on that day and the day before only)."""
    rows: _Rows = {}
    for period in periods:
        people = select(User.id).where(User.created_at <= period.locked_at)
        if user_ids is not None:
            people = people.where(User.id.in_(list(user_ids)))
        ids = list(session.scalars(people))
        start = period.day_from if first is None else max(period.day_from, first - MARGIN)
        end = period.day_to if last is None else min(period.day_to, last + MARGIN)
        if not ids or end < start:
            continue
        for day in timesheet_days(session, start, end, period.timezone, ids):
            rows[(period.id, day.user_id, day.work_day)] = day
    return rows


@contextmanager
def guarded(
    session: Session,
    what: str,
    user_ids: Collection[int] | None,
    first: date | None = None,
    last: date | None = None,
) -> Iterator[None]:
    """Runs the change in the ``with`` block, then refuses it (PeriodLockedError,
    raised in the caller's transaction, which is rolled back) when it altered a work
    day of a locked period. ``user_ids``: the people it can touch (None: anyone);
    ``first``/``last``: the days it can touch (None: any)."""
    serialise(session)
    periods = locked_periods(session, first, last)
    if not periods or (user_ids is not None and not user_ids):
        yield
        return
    before = _rows(session, periods, user_ids, first, last)
    yield
    session.flush()
    after = _rows(session, periods, user_ids, first, last)
    if before == after:
        return
    key = min(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    period = next(p for p in periods if p.id == key[0])
    day = before.get(key) or after.get(key)
    person = day.name if day is not None else f"person {key[1]}"
    raise PeriodLockedError(
        f"{what} would change {person}'s work day {key[2]} in the locked pay period "
        f"{period.day_from}..{period.day_to}; that period must be unlocked first, with a "
        f"reason (facedb period unlock {period.day_from} {period.day_to} --reason ...)"
    )
