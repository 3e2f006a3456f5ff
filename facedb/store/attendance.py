"""The attendance log and the reports computed from it, in SQL.

Local dates are computed by PostgreSQL in the report's time zone; the day's
bounds are turned into timestamptz values first, so the (occurred_at) and
(user_id, occurred_at) indexes serve the range.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime, timedelta

import numpy as np
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
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, aliased

from facedb.domain.attendance import AttendanceEvent, AttendanceRow, PersonDay, Report
from facedb.store import outbox
from facedb.store.tables.core import Attendance, User
from facedb.store.tables.evidence import Evidence
from facedb.store.tables.org import Site, UserSite
from facedb.store.tables.time_attendance import attendance_effective


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
            search_stage=event.search_stage,
        )
        .on_conflict_do_nothing(index_elements=[Attendance.event_id])
        .returning(Attendance.id)
    )
    inserted = session.execute(statement).first() is not None
    if inserted:  # its outgoing message, in the same transaction
        outbox.enqueue(session, [event])
    return inserted


# pg_advisory_xact_lock(key1, key2): key1 names facedb's presence locks, key2 the device.
PRESENCE_LOCK = 0x46444250  # "FDBP"
_PRESENCE_LOCK_SQL = text("SELECT pg_advisory_xact_lock(CAST(:ns AS integer), hashtext(:device))")


def join_presence(
    session: Session,
    event: AttendanceEvent,
    since: datetime,
    probe: np.ndarray | None,
    same_face: float,
) -> tuple[uuid.UUID, int] | None:
    """Adds the event as one more look to the presence it continues, if any: the
    device's latest row, of the same kind, decision, person and claim, last seen since
    ``since``, and (when that row kept a face) of a face at least ``same_face`` alike
    to ``probe``. Returns that row's (event_id, looks), or None: a new presence.

    Holds a lock on the device until the transaction ends, so that concurrent polls
    of one kiosk join one row."""
    session.execute(_PRESENCE_LOCK_SQL, {"ns": PRESENCE_LOCK, "device": event.device})
    latest = session.execute(
        select(Attendance)
        .where(Attendance.device == event.device)
        .order_by(Attendance.occurred_at.desc())
        .limit(1)
    ).scalar_one_or_none()
    if latest is None or latest.offline != event.offline:
        return None
    same = (latest.kind, latest.decision, latest.user_id, latest.claimed_user_id) == (
        event.kind,
        event.decision,
        event.user_id,
        event.claimed_user_id,
    )
    if not same or (latest.last_seen_at or latest.occurred_at) < since:
        return None
    if probe is not None:
        kept = session.execute(
            select(1 - Evidence.embedding.cosine_distance(probe.tolist())).where(
                Evidence.event_id == latest.event_id, Evidence.embedding.is_not(None)
            )
        ).scalar_one_or_none()
        if kept is not None and float(kept) < same_face:
            return None  # somebody else in front of the kiosk
    looks = session.execute(
        update(Attendance)
        .where(Attendance.id == latest.id)
        .values(
            looks=Attendance.looks + 1,
            last_seen_at=func.greatest(
                func.coalesce(Attendance.last_seen_at, Attendance.occurred_at), event.occurred_at
            ),
        )
        .returning(Attendance.looks)
    ).scalar_one()
    return latest.event_id, int(looks)


# pg_advisory_xact_lock(key1, key2): key1 names facedb's cooldown locks, key2 the person.
COOLDOWN_LOCK = 0x46444243  # "FDBC"
_COOLDOWN_LOCK_SQL = text(
    "SELECT pg_advisory_xact_lock(CAST(:ns AS integer), CAST(:user_id % 2147483647 AS integer))"
)


def accepted_since(
    session: Session, user_id: int, device: str, since: datetime, *, lock: bool = False
) -> bool:
    """Whether this person was already logged as accepted at this device since then.
    ``lock``: first take a lock on the person until the transaction ends (released at
    commit, after this attempt's row is written), so that concurrent attempts see each
    other's rows: one event per cooldown."""
    if lock:
        session.execute(_COOLDOWN_LOCK_SQL, {"ns": COOLDOWN_LOCK, "user_id": user_id})
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


def person_zone_of(
    user_id: SQLColumnExpression[int | None], default_zone: str
) -> ColumnElement[str]:
    """The zone of a person's days in SQL: their site's, else ``default_zone`` (the
    installation's); docs/TIME_AND_ATTENDANCE.md, "One time rule"."""
    site_zone = (
        select(Site.timezone)
        .join(UserSite, UserSite.site_id == Site.id)
        .where(UserSite.user_id == user_id)
        .scalar_subquery()
    )
    return func.coalesce(site_zone, literal(default_zone))


def daily_report(session: Session, date_from: date, date_to: date, tz: str) -> Report:
    """Who came on these days, each day a local date in the person's zone (their
    site's, else ``tz``, the installation's); the attempt counts are of the days in ``tz``."""
    period = _period_clause(date_from, date_to, tz)
    # Who came reads the log as corrected (voided false accepts gone, reassigned
    # events moved, missed punches added); the attempts count the log as it is.
    punches = attendance_effective.c
    # Every zone is within a day of UTC: the wider range keeps the index on
    # occurred_at, the local date in the person's zone picks the days.
    near_period = _period_clause(
        date_from - timedelta(days=1), date_to + timedelta(days=1), "UTC", punches.occurred_at
    )
    zone = person_zone_of(User.id, tz).label("zone")
    local_day = func.date(func.timezone(zone, punches.occurred_at)).label("day")
    days = (
        select(User.id, User.name, zone, local_day, punches.occurred_at)
        .join(User, User.id == punches.user_id)
        .where(near_period)
        .subquery()
    )
    in_period = days.c.day.between(date_from, date_to)
    present_rows = session.execute(
        select(
            days.c.name,
            days.c.day,
            func.min(days.c.occurred_at),
            func.max(days.c.occurred_at),
            func.count(),
            days.c.zone,
        )
        .where(in_period)
        .group_by(days.c.id, days.c.name, days.c.zone, days.c.day)
        .order_by(days.c.day, func.min(days.c.occurred_at))
    ).all()
    present = [
        PersonDay(name, day, first_seen, last_seen, int(count), zone_name)
        for name, day, first_seen, last_seen, count, zone_name in present_rows
    ]
    came = select(days.c.id).where(in_period).distinct()
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
    session: Session,
    since: datetime | None = None,
    user_id: int | None = None,
    limit: int = 100,
    default_zone: str = "UTC",
) -> list[AttendanceRow]:
    """The latest events, each with the zone of its person's days (``default_zone``,
    the installation's, for a person with no site and for an unknown face)."""
    claimed = aliased(User)
    query = (
        select(
            Attendance, User.name, claimed.name, person_zone_of(Attendance.user_id, default_zone)
        )
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
            timezone=zone,
            looks=a.looks,
            last_seen_at=a.last_seen_at,
        )
        for a, name, claimed_name, zone in session.execute(query)
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
