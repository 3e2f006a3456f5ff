"""Shift templates, their assignments to people and groups, holidays and leave."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, aliased

from facedb.domain.names import clean_name
from facedb.domain.notes import clean_note
from facedb.errors import DuplicateNameError, InvalidInputError
from facedb.store import locks
from facedb.store.org import get_group, get_site
from facedb.store.tables.core import User
from facedb.store.tables.org import OrgGroup, Site
from facedb.store.tables.time_attendance import (
    DEFAULT_GRACE_MINUTES,
    LEAVE_KINDS,
    Holiday,
    Leave,
    Shift,
    ShiftAssignment,
)

WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_MINUTES = 24 * 60


@dataclass(frozen=True)
class ShiftInfo:
    name: str
    start: time
    end: time  # at or before start: the shift ends the next day
    break_minutes: int
    grace_minutes: int
    weekdays: tuple[int, ...]  # ISO: 1 = Monday ... 7 = Sunday

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True)
class AssignmentInfo:
    id: int
    shift: str
    person: str | None
    group: str | None
    valid_from: date
    valid_to: date | None


@dataclass(frozen=True)
class HolidayInfo:
    day: date
    name: str
    site: str | None  # None: every site


@dataclass(frozen=True)
class LeaveInfo:
    id: int
    person: str
    kind: str
    day_from: date
    day_to: date
    minutes: int | None  # None: whole days
    note: str | None
    created_by: str


def parse_weekdays(text: str) -> tuple[int, ...]:
    """'mon-fri', 'mon,wed,fri', 'sat-sun', 'all' or ISO numbers '1-5' -> (1, 2, 3, 4, 5)."""
    cleaned = text.strip().lower()
    if cleaned in ("all", "daily", "every day"):
        return tuple(range(1, 8))

    def one(token: str) -> int:
        token = token.strip()
        if token[:3] in WEEKDAY_NAMES:
            return WEEKDAY_NAMES.index(token[:3]) + 1
        if token.isdigit() and 1 <= int(token) <= 7:
            return int(token)
        raise InvalidInputError(f"not a weekday: {token!r} (use mon..sun or 1..7, e.g. mon-fri)")

    days: set[int] = set()
    for part in cleaned.split(","):
        if "-" in part:
            first, last = (one(x) for x in part.split("-", 1))
            span = (
                range(first, last + 1) if first <= last else [*range(first, 8), *range(1, last + 1)]
            )
            days.update(span)
        elif part.strip():
            days.add(one(part))
    if not days:
        raise InvalidInputError("a shift needs at least one weekday, e.g. mon-fri")
    return tuple(sorted(days))


def _minutes(value: int, what: str) -> int:
    if not 0 <= value <= MAX_MINUTES:
        raise InvalidInputError(f"{what} is 0 to {MAX_MINUTES} minutes, not {value}")
    return value


def _info(shift: Shift) -> ShiftInfo:
    return ShiftInfo(
        shift.name,
        shift.start_time,
        shift.end_time,
        shift.break_minutes,
        shift.grace_minutes,
        tuple(shift.weekdays),
    )


def find_shift(session: Session, name: str) -> Shift | None:
    return session.scalars(
        select(Shift).where(func.lower(Shift.name) == func.lower(clean_name(name)))
    ).first()


def get_shift(session: Session, name: str) -> Shift:
    shift = find_shift(session, name)
    if shift is None:
        raise InvalidInputError(f"no shift is called {clean_name(name)!r} (see facedb shifts list)")
    return shift


def create_shift(
    session: Session,
    name: str,
    start: time,
    end: time,
    *,
    weekdays: tuple[int, ...] = (1, 2, 3, 4, 5),
    break_minutes: int = 0,
    grace_minutes: int = DEFAULT_GRACE_MINUTES,
) -> ShiftInfo:
    cleaned = clean_name(name)
    if find_shift(session, cleaned) is not None:
        raise DuplicateNameError(f"a shift called {cleaned!r} exists")
    if start == end:
        raise InvalidInputError("a shift's start and end differ (24-hour shifts are not supported)")
    length = ((end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)) % MAX_MINUTES
    if _minutes(break_minutes, "a break") >= length:
        raise InvalidInputError(
            f"a break of {break_minutes} min does not fit a shift of {length} min"
        )
    if not weekdays or any(not 1 <= d <= 7 for d in weekdays):
        raise InvalidInputError("weekdays are ISO numbers 1 (Monday) to 7 (Sunday)")
    shift = Shift(
        name=cleaned,
        start_time=start,
        end_time=end,
        break_minutes=break_minutes,
        grace_minutes=_minutes(grace_minutes, "a grace period"),
        weekdays=sorted(set(weekdays)),
    )
    session.add(shift)
    session.flush()
    return _info(shift)


def list_shifts(session: Session) -> list[ShiftInfo]:
    return [_info(s) for s in session.scalars(select(Shift).order_by(func.lower(Shift.name)))]


def assign_shift(
    session: Session,
    shift: str,
    *,
    user_id: int | None = None,
    group: str | None = None,
    valid_from: date,
    valid_to: date | None = None,
) -> int:
    """Assigns the shift to one person or one group from valid_from to valid_to
    (inclusive; None: open-ended); returns the assignment's id."""
    if (user_id is None) == (group is None):
        raise InvalidInputError("assign a shift to a person or to a group (one of the two)")
    if valid_to is not None and valid_to < valid_from:
        raise InvalidInputError(f"the last day {valid_to} is before the first day {valid_from}")
    assignment = ShiftAssignment(
        shift_id=get_shift(session, shift).id,
        user_id=user_id,
        group_id=get_group(session, group).id if group is not None else None,
        valid_from=valid_from,
        valid_to=valid_to,
    )
    people = [user_id] if user_id is not None else None
    with locks.guarded(session, "the shift assignment", people, valid_from, valid_to):
        session.add(assignment)
        session.flush()
    return assignment.id


def list_assignments(session: Session) -> list[AssignmentInfo]:
    rows = session.execute(
        select(ShiftAssignment, Shift.name, User.name, OrgGroup.name)
        .join(Shift, Shift.id == ShiftAssignment.shift_id)
        .outerjoin(User, User.id == ShiftAssignment.user_id)
        .outerjoin(OrgGroup, OrgGroup.id == ShiftAssignment.group_id)
        .order_by(ShiftAssignment.valid_from, ShiftAssignment.id)
    )
    return [
        AssignmentInfo(a.id, shift, person, group, a.valid_from, a.valid_to)
        for a, shift, person, group in rows
    ]


def remove_assignment(session: Session, assignment_id: int) -> bool:
    found = session.get(ShiftAssignment, assignment_id)
    if found is None:
        return False
    people = [found.user_id] if found.user_id is not None else None
    with locks.guarded(
        session, "removing the assignment", people, found.valid_from, found.valid_to
    ):
        removed = session.execute(
            delete(ShiftAssignment)
            .where(ShiftAssignment.id == assignment_id)
            .returning(ShiftAssignment.id)
        ).all()
    return bool(removed)


def add_holiday(session: Session, day: date, name: str, site: str | None = None) -> HolidayInfo:
    site_id = get_site(session, site).id if site is not None else None
    clash = session.scalars(
        select(Holiday.name).where(
            Holiday.day == day, Holiday.site_id.is_not_distinct_from(site_id)
        )
    ).first()
    if clash is not None:
        where = f"at {site}" if site else "for every site"
        raise DuplicateNameError(f"{day} is already a holiday {where}: {clash}")
    with locks.guarded(session, "the holiday", None, day, day):
        session.add(Holiday(site_id=site_id, day=day, name=clean_name(name)))
        session.flush()
    return HolidayInfo(day, clean_name(name), get_site(session, site).name if site else None)


def list_holidays(
    session: Session, date_from: date | None = None, date_to: date | None = None
) -> list[HolidayInfo]:
    query = (
        select(Holiday.day, Holiday.name, Site.name)
        .outerjoin(Site, Site.id == Holiday.site_id)
        .order_by(Holiday.day, Site.name.nulls_first())
    )
    if date_from is not None:
        query = query.where(Holiday.day >= date_from)
    if date_to is not None:
        query = query.where(Holiday.day <= date_to)
    return [HolidayInfo(day, name, site) for day, name, site in session.execute(query)]


def remove_holiday(session: Session, day: date, site: str | None = None) -> bool:
    site_id = get_site(session, site).id if site is not None else None
    with locks.guarded(session, "removing the holiday", None, day, day):
        removed = session.execute(
            delete(Holiday)
            .where(Holiday.day == day, Holiday.site_id.is_not_distinct_from(site_id))
            .returning(Holiday.id)
        ).all()
    return bool(removed)


def add_leave(
    session: Session,
    user_id: int,
    kind: str,
    day_from: date,
    day_to: date,
    *,
    minutes: int | None = None,
    note: str | None = None,
    created_by: str,
) -> int:
    if kind not in LEAVE_KINDS:
        raise InvalidInputError(f"leave is {', '.join(LEAVE_KINDS)}, not {kind!r}")
    if day_to < day_from:
        raise InvalidInputError(f"the last day {day_to} is before the first day {day_from}")
    if minutes is not None and not 0 < minutes < MAX_MINUTES:
        raise InvalidInputError(f"part-day leave is 1 to {MAX_MINUTES - 1} minutes, not {minutes}")
    leave = Leave(
        user_id=user_id,
        kind=kind,
        day_from=day_from,
        day_to=day_to,
        minutes=minutes,
        note=clean_note(note, "a leave's note"),
        created_by=clean_name(created_by),
    )
    with locks.guarded(session, "the leave", [user_id], day_from, day_to):
        session.add(leave)
        session.flush()
    return leave.id


def list_leave(
    session: Session, user_id: int | None = None, date_from: date | None = None
) -> list[LeaveInfo]:
    person = aliased(User)
    query = (
        select(Leave, person.name)
        .join(person, person.id == Leave.user_id)
        .order_by(Leave.day_from, Leave.id)
    )
    if user_id is not None:
        query = query.where(Leave.user_id == user_id)
    if date_from is not None:
        query = query.where(Leave.day_to >= date_from)
    return [
        LeaveInfo(lv.id, name, lv.kind, lv.day_from, lv.day_to, lv.minutes, lv.note, lv.created_by)
        for lv, name in session.execute(query)
    ]


def remove_leave(session: Session, leave_id: int) -> bool:
    found = session.get(Leave, leave_id)
    if found is None:
        return False
    with locks.guarded(
        session, "removing the leave", [found.user_id], found.day_from, found.day_to
    ):
        session.execute(delete(Leave).where(Leave.id == leave_id))
    return True
