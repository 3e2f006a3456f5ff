"""Corrections of the attendance log (append-only rows; the log itself is never
changed) and locked pay periods, inside which no correction or purge is accepted."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import TIMESTAMP, cast, func, select, text, true
from sqlalchemy.orm import Session, aliased

from facedb.domain.constants import REASON_CODES
from facedb.domain.names import clean_name
from facedb.domain.notes import NOTE_MAX_LENGTH, clean_note
from facedb.errors import InvalidInputError, PeriodLockedError
from facedb.store import locks
from facedb.store.tables.core import Attendance, User
from facedb.store.tables.org import Site
from facedb.store.tables.time_attendance import DIRECTIONS, Correction, PayPeriod
from facedb.timezones import FIRST_DAY, LAST_DAY, check_zone


@dataclass(frozen=True)
class CorrectionInfo:
    id: int
    action: str  # add, void, restore, reassign
    event_id: uuid.UUID
    person: str | None  # add: who punched; reassign: the new person
    occurred_at: datetime | None  # add: the punch's time
    device: str | None
    direction: str | None
    reason: str
    note: str | None
    created_by: str
    created_at: datetime


@dataclass(frozen=True)
class EventHistory:
    event_id: uuid.UUID
    occurred_at: datetime
    decision: str  # of the log row; 'added' for a punch added by a correction
    person: str | None  # as logged (or as added)
    device: str | None
    corrections: tuple[CorrectionInfo, ...]
    counts: bool  # whether the timesheet counts it now
    counted_for: str | None  # the person it counts for now


@dataclass(frozen=True)
class PeriodInfo:
    id: int
    day_from: date
    day_to: date
    timezone: str
    locked_by: str
    locked_at: datetime
    unlocked_by: str | None
    unlocked_at: datetime | None
    unlock_reason: str | None

    @property
    def locked(self) -> bool:
        return self.unlocked_at is None


def _period_info(p: PayPeriod) -> PeriodInfo:
    return PeriodInfo(
        p.id,
        p.day_from,
        p.day_to,
        p.timezone,
        p.locked_by,
        p.locked_at,
        p.unlocked_by,
        p.unlocked_at,
        p.unlock_reason,
    )


def refuse_purge_in_locked_period(session: Session, before: datetime) -> None:
    """A purge of events before ``before`` may not reach into a locked period: its
    work days start at the earliest local midnight of its first day among the zones
    of the sites (and the period's own zone, for people without a site)."""
    zones = select(Site.timezone).union(select(PayPeriod.timezone)).subquery()
    start = func.timezone(zones.c.timezone, cast(PayPeriod.day_from, TIMESTAMP))
    period = session.scalars(
        select(PayPeriod)
        .join(zones, true())
        .where(PayPeriod.unlocked_at.is_(None), start < before)
        .limit(1)
    ).first()
    if period is not None:
        raise PeriodLockedError(
            f"the purge would delete events of the locked pay period "
            f"{period.day_from}..{period.day_to}: unlock it first or purge less"
        )


def _check_reason(reason: str, created_by: str) -> str:
    if reason not in REASON_CODES:
        raise InvalidInputError(
            f"a reason code is one of {', '.join(REASON_CODES)}, not {reason!r}"
        )
    return clean_name(created_by)


def _target(session: Session, event_id: uuid.UUID) -> tuple[datetime, int | None, bool]:
    """(time, person as logged, counts as a punch) of a log event or an added punch."""
    logged = session.execute(
        select(Attendance.occurred_at, Attendance.user_id, Attendance.decision).where(
            Attendance.event_id == event_id
        )
    ).first()
    if logged is not None:
        return logged[0], logged[1], logged[2] == "accepted"
    added = session.execute(
        select(Correction.occurred_at, Correction.user_id).where(
            Correction.event_id == event_id, Correction.action == "add"
        )
    ).first()
    if added is None or added[0] is None:
        raise InvalidInputError(f"no attendance event has the id {event_id}")
    return added[0], added[1], True


def _write(session: Session, correction: Correction) -> CorrectionInfo:
    session.add(correction)
    session.flush()
    return _correction_infos(session, [correction.id])[0]


def add_punch(
    session: Session,
    user_id: int,
    occurred_at: datetime,
    *,
    device: str | None,
    direction: str | None,
    reason: str,
    note: str | None,
    created_by: str,
) -> CorrectionInfo:
    """A punch the kiosk missed. Its direction is ``direction``, else its device's role."""
    if occurred_at.tzinfo is None:
        raise InvalidInputError("a punch's time needs a time zone")
    if not FIRST_DAY <= occurred_at.date() <= LAST_DAY:
        raise InvalidInputError(
            f"a punch's time is between {FIRST_DAY} and {LAST_DAY}, not {occurred_at.isoformat()}"
        )
    if direction is not None and direction not in DIRECTIONS:
        raise InvalidInputError(f"a direction is in, out or both, not {direction!r}")
    by = _check_reason(reason, created_by)
    note = clean_note(note, "a correction's note")
    correction = Correction(
        action="add",
        event_id=uuid.uuid4(),
        user_id=user_id,
        occurred_at=occurred_at,
        device=device,
        direction=direction,
        reason=reason,
        note=note,
        created_by=by,
    )
    day = occurred_at.date()
    with locks.guarded(session, "the punch", [user_id], day, day):
        return _write(session, correction)


def correct_event(
    session: Session,
    event_id: uuid.UUID,
    action: str,
    *,
    reason: str,
    note: str | None,
    created_by: str,
    user_id: int | None = None,
) -> CorrectionInfo:
    """void (the event stops counting), restore (a voided event counts again) or
    reassign (it counts for ``user_id``)."""
    if action not in ("void", "restore", "reassign"):
        raise InvalidInputError(
            f"a correction of an event is void, restore or reassign, not {action!r}"
        )
    if (action == "reassign") != (user_id is not None):
        raise InvalidInputError("reassign names the person the event belongs to (and only it)")
    by = _check_reason(reason, created_by)
    when, logged_user, counts = _target(session, event_id)
    if not counts:
        raise InvalidInputError(
            f"event {event_id} was not accepted: it never counts, there is nothing to correct"
        )
    correction = Correction(
        action=action,
        event_id=event_id,
        user_id=user_id,
        reason=reason,
        note=clean_note(note, "a correction's note"),
        created_by=by,
    )
    # Who the event may count for: as logged, as reassigned before, and the new person.
    people = {i for i in (logged_user, user_id) if i is not None}
    people |= {
        i
        for i in session.scalars(
            select(Correction.user_id).where(
                Correction.event_id == event_id, Correction.user_id.is_not(None)
            )
        )
        if i is not None
    }
    with locks.guarded(
        session, f"the correction of event {event_id}", people, when.date(), when.date()
    ):
        return _write(session, correction)


REPLAY_BY = "spool replay"


def set_aside(session: Session, event_id: uuid.UUID, why: str) -> None:
    """Voids a replayed event that would change a locked pay period (offline/sync.py),
    with the reason; `facedb correct restore` makes it count once the period is
    unlocked. Written past the lock on purpose: it keeps the locked days as they are."""
    note = (
        f"set aside by the offline replay: {why}; once unlocked: "
        f"facedb correct restore {event_id} --reason other"
    )
    session.add(
        Correction(
            action="void",
            event_id=event_id,
            reason="other",
            note=note[:NOTE_MAX_LENGTH],
            created_by=REPLAY_BY,
        )
    )
    session.flush()


def _correction_infos(
    session: Session,
    ids: list[int] | None = None,
    *,
    event_id: uuid.UUID | None = None,
    since: datetime | None = None,
) -> list[CorrectionInfo]:
    person = aliased(User)
    query = (
        select(Correction, person.name)
        .outerjoin(person, person.id == Correction.user_id)
        .order_by(Correction.id)
    )
    if ids is not None:
        query = query.where(Correction.id.in_(ids))
    if event_id is not None:
        query = query.where(Correction.event_id == event_id)
    if since is not None:
        query = query.where(Correction.created_at >= since)
    return [
        CorrectionInfo(
            c.id,
            c.action,
            c.event_id,
            name,
            c.occurred_at,
            c.device,
            c.direction,
            c.reason,
            c.note,
            c.created_by,
            c.created_at,
        )
        for c, name in session.execute(query)
    ]


def list_corrections(session: Session, since: datetime | None = None) -> list[CorrectionInfo]:
    return _correction_infos(session, since=since)


def event_history(session: Session, event_id: uuid.UUID) -> EventHistory:
    """The event as logged (or as added), every correction of it, and what counts now."""
    when, logged_user, _ = _target(session, event_id)
    row = session.execute(
        select(Attendance.decision, Attendance.device).where(Attendance.event_id == event_id)
    ).first()
    corrections = _correction_infos(session, event_id=event_id)
    if row is None:
        decision, device = "added", next(c.device for c in corrections if c.action == "add")
    else:
        decision, device = row[0], row[1]
    logged_name = (
        session.scalar(select(User.name).where(User.id == logged_user)) if logged_user else None
    )
    now = session.execute(
        text(
            "SELECT u.name FROM attendance_effective e LEFT JOIN users u ON u.id = e.user_id "
            "WHERE e.event_id = :e"
        ),
        {"e": event_id},
    ).first()
    return EventHistory(
        event_id,
        when,
        decision,
        logged_name,
        device,
        tuple(corrections),
        now is not None,
        now[0] if now is not None else None,
    )


def lock_period(
    session: Session, day_from: date, day_to: date, zone: str, locked_by: str
) -> PeriodInfo:
    if day_to < day_from:
        raise InvalidInputError(f"a period ends on or after its first day: {day_from}..{day_to}")
    locks.serialise(session)
    overlap = session.scalars(
        select(PayPeriod).where(
            PayPeriod.unlocked_at.is_(None),
            PayPeriod.day_from <= day_to,
            PayPeriod.day_to >= day_from,
        )
    ).first()
    if overlap is not None:
        raise InvalidInputError(
            f"{overlap.day_from}..{overlap.day_to} is locked already and overlaps {day_from}..{day_to}"
        )
    period = PayPeriod(
        day_from=day_from, day_to=day_to, timezone=check_zone(zone), locked_by=clean_name(locked_by)
    )
    session.add(period)
    session.flush()
    session.refresh(period)
    return _period_info(period)


def unlock_period(
    session: Session, day_from: date, day_to: date, unlocked_by: str, reason: str
) -> PeriodInfo:
    reason = clean_note(reason, "an unlock's reason") or ""
    if not reason:
        raise InvalidInputError("unlocking a pay period needs a --reason, kept in the log")
    locks.serialise(session)
    period = session.scalars(
        select(PayPeriod).where(
            PayPeriod.unlocked_at.is_(None),
            PayPeriod.day_from == day_from,
            PayPeriod.day_to == day_to,
        )
    ).first()
    if period is None:
        raise InvalidInputError(
            f"{day_from}..{day_to} is not a locked period (see facedb period list)"
        )
    period.unlocked_by = clean_name(unlocked_by)
    period.unlocked_at = session.execute(select(func.now())).scalar_one()
    period.unlock_reason = reason
    session.flush()
    return _period_info(period)


def list_periods(session: Session) -> list[PeriodInfo]:
    return [
        _period_info(p)
        for p in session.scalars(select(PayPeriod).order_by(PayPeriod.day_from, PayPeriod.id))
    ]
