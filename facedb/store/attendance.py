"""The attendance log and the reports computed from it, in SQL.

Local dates are computed by PostgreSQL in the report's time zone; the day's
bounds are turned into timestamptz values first, so the (occurred_at) and
(user_id, occurred_at) indexes serve the range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime, timedelta

from sqlalchemy import (
    TIMESTAMP,
    ColumnElement,
    SQLColumnExpression,
    and_,
    cast,
    delete,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, aliased

from facedb.domain.attendance import AttendanceEvent, AttendanceRow, PersonDay, Report
from facedb.store import outbox
from facedb.store.schema import Attendance, User
from facedb.store.ta_schema import attendance_effective


def log_event(session: Session, event: AttendanceEvent) -> bool:
    """Inserts the event once: a replay of the same event_id is ignored. True if inserted."""
    statement = (
        insert(Attendance)
        .values(
            event_id=event.event_id,
            occurred_at=event.occurred_at,
            kind=event.kind,
            decision=event.decision,
            user_id=event.user_id,
            claimed_user_id=event.claimed_user_id,
            similarity=event.similarity,
            threshold=event.threshold,
            liveness=event.liveness,
            device=event.device,
            model=event.model,
            offline=event.offline,
            threshold_source=event.threshold_source,
            gallery_persons=event.gallery_persons,
            gallery_faces=event.gallery_faces,
            fpir_target=event.fpir_target,
            runner_up=event.runner_up,
            scope=event.scope,
        )
        .on_conflict_do_nothing(index_elements=[Attendance.event_id])
        .returning(Attendance.id)
    )
    inserted = session.execute(statement).first() is not None
    if inserted:  # its outgoing message, in the same transaction
        outbox.enqueue(session, [event])
    return inserted


def accepted_since(session: Session, user_id: int, device: str, since: datetime) -> bool:
    """Whether this person was already logged as accepted at this device since then."""
    found = session.execute(
        select(Attendance.id)
        .where(
            Attendance.user_id == user_id,
            Attendance.device == device,
            Attendance.decision == "accepted",
            Attendance.occurred_at >= since,
        )
        .limit(1)
    ).first()
    return found is not None


def _period_clause(
    date_from: date,
    date_to: date,
    tz: str,
    occurred_at: SQLColumnExpression[datetime] = Attendance.occurred_at,
) -> ColumnElement[bool]:
    # timezone(zone, timestamp) reads a local wall-clock time in that zone and gives
    # the timestamptz, so both bounds are constants and the index on occurred_at is used.
    start = func.timezone(tz, cast(literal(date_from.isoformat()), TIMESTAMP))
    end = func.timezone(tz, cast(literal((date_to + timedelta(days=1)).isoformat()), TIMESTAMP))
    return and_(occurred_at >= start, occurred_at < end)


def daily_report(session: Session, date_from: date, date_to: date, tz: str) -> Report:
    period = _period_clause(date_from, date_to, tz)
    # Who came reads the log as corrected (voided false accepts gone, reassigned
    # events moved, missed punches added); the attempts count the log as it is.
    punches = attendance_effective.c
    came_in_period = _period_clause(date_from, date_to, tz, punches.occurred_at)
    local_day = func.date(func.timezone(tz, punches.occurred_at)).label("day")
    present_rows = session.execute(
        select(
            User.name,
            local_day,
            func.min(punches.occurred_at),
            func.max(punches.occurred_at),
            func.count(),
        )
        .join(User, User.id == punches.user_id)
        .where(came_in_period)
        .group_by(User.name, local_day)
        .order_by(local_day, func.min(punches.occurred_at))
    ).all()
    present = [
        PersonDay(name, day, first_seen, last_seen, int(count))
        for name, day, first_seen, last_seen, count in present_rows
    ]
    came = select(punches.user_id).where(came_in_period, punches.user_id.is_not(None)).distinct()
    absent = list(
        session.scalars(
            select(User.name)
            .where(User.active, User.id.not_in(came))
            .order_by(func.lower(User.name))
        )
    )
    attempts = {
        decision: int(count)
        for decision, count in session.execute(
            select(Attendance.decision, func.count())
            # An accept without its person: a person removed since (`users remove`).
            .where(period, (Attendance.decision != "accepted") | Attendance.user_id.is_not(None))
            .group_by(Attendance.decision)
        )
    }
    return Report(date_from, date_to, tz, present, absent, attempts)


def list_events(
    session: Session, since: datetime | None = None, user_id: int | None = None, limit: int = 100
) -> list[AttendanceRow]:
    claimed = aliased(User)
    query = (
        select(Attendance, User.name, claimed.name)
        .outerjoin(User, User.id == Attendance.user_id)
        .outerjoin(claimed, claimed.id == Attendance.claimed_user_id)
        .order_by(Attendance.occurred_at.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(Attendance.occurred_at >= since)
    if user_id is not None:
        query = query.where(Attendance.user_id == user_id)
    return [
        AttendanceRow(
            event_id=a.event_id,
            occurred_at=a.occurred_at,
            kind=a.kind,
            decision=a.decision,
            name=name,
            claimed_name=claimed_name,
            similarity=a.similarity,
            threshold=a.threshold,
            liveness=a.liveness,
            device=a.device,
            model=a.model,
            offline=a.offline,
        )
        for a, name, claimed_name in session.execute(query)
    ]


def purge_before(session: Session, before: datetime) -> int:
    """Deletes the events that occurred before ``before`` (retention); returns how many."""
    result = session.execute(
        delete(Attendance).where(Attendance.occurred_at < before).returning(Attendance.id)
    )
    return len(result.all())


def delete_for_user(session: Session, user_id: int) -> int:
    """Deletes every event where the person was recognised or claimed; returns how many."""
    result = session.execute(
        delete(Attendance)
        .where((Attendance.user_id == user_id) | (Attendance.claimed_user_id == user_id))
        .returning(Attendance.id)
    )
    return len(result.all())


def unlink_user(session: Session, user_id: int) -> int:
    """Removes the person from their events (user_id and claimed_user_id set to NULL),
    keeping the events; returns how many were unlinked."""
    result = session.execute(
        update(Attendance)
        .where((Attendance.user_id == user_id) | (Attendance.claimed_user_id == user_id))
        .values(
            user_id=func.nullif(Attendance.user_id, user_id),
            claimed_user_id=func.nullif(Attendance.claimed_user_id, user_id),
        )
        .returning(Attendance.id)
    )
    return len(result.all())


def count_for_user(session: Session, user_id: int) -> int:
    """Events where the person was recognised or claimed."""
    return int(
        session.execute(
            select(func.count()).where(
                (Attendance.user_id == user_id) | (Attendance.claimed_user_id == user_id)
            )
        ).scalar_one()
    )


def log_events(session: Session, events: Sequence[AttendanceEvent]) -> int:
    """Inserts several events in one statement, in order, each once (an event_id
    already there is ignored); returns how many rows were new."""
    if not events:
        return 0
    statement = (
        insert(Attendance)
        .values([asdict(e) for e in events])
        .on_conflict_do_nothing(index_elements=[Attendance.event_id])
        .returning(Attendance.event_id)
    )
    new = set(session.execute(statement).scalars())
    outbox.enqueue(session, [e for e in events if e.event_id in new])  # same transaction
    return len(new)
