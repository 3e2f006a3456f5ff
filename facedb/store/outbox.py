"""The transactional outbox, in SQL: messages written with their attendance rows,
deliveries claimed, acknowledged, retried, dead-lettered and replayed.

``enqueue`` runs in the transaction that inserts the attendance rows (called from
store/attendance.py), so a message exists exactly when its row does. The payload is
built from the AttendanceEvent's fields as they are (dataclasses.asdict), plus the
names of the people it refers to.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from facedb.store.tables.core import Attendance, User
from facedb.store.tables.outbox import EventSink, OutboxDelivery, OutboxMessage

if TYPE_CHECKING:
    from facedb.domain.attendance import AttendanceEvent

PAYLOAD_TYPE = "attendance"
PAYLOAD_VERSION = 1
ERROR_MAX_LENGTH = 500
NOTIFY_CHANNEL = "facedb_outbox"  # LISTENed by facedb/events/wakeup.py


@dataclass(frozen=True)
class Sink:
    id: int
    kind: str
    target: str
    events: tuple[str, ...] | None
    secret: str | None
    active: bool
    created_at: datetime
    allow_private: bool = False  # a webhook to a private address (events/addresses.py)


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker has claimed: send ``payload`` to ``sink``."""

    delivery_id: int
    sink: Sink
    event_id: uuid.UUID
    payload: dict[str, Any]
    attempt: int  # 1 for the first


@dataclass(frozen=True)
class SinkStatus:
    sink: Sink
    pending: int
    delivered: int
    dead: int
    oldest_pending: datetime | None
    last_error: str | None


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None  # jsonb has no NaN
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def build_payload(event: AttendanceEvent, names: dict[int, str]) -> dict[str, Any]:
    """The message of one event: every field of the event, the people's names."""
    fields = {key: _jsonable(value) for key, value in asdict(event).items()}
    return {
        "type": PAYLOAD_TYPE,
        "version": PAYLOAD_VERSION,
        **fields,
        "person": names.get(event.user_id) if event.user_id is not None else None,
        "claimed_person": (
            names.get(event.claimed_user_id) if event.claimed_user_id is not None else None
        ),
    }


def _sink(row: EventSink) -> Sink:
    return Sink(
        row.id,
        row.kind,
        row.target,
        tuple(row.events) if row.events is not None else None,
        row.secret,
        row.active,
        row.created_at,
        row.allow_private,
    )


def enqueue(session: Session, events: Sequence[AttendanceEvent]) -> int:
    """Writes the messages of these (newly inserted) events and their deliveries to
    every active sink that wants their decision; returns the deliveries written.
    With no active sink nothing is written (nobody is listening)."""
    if not events:
        return 0
    sinks = session.execute(select(EventSink.id, EventSink.events).where(EventSink.active)).all()
    wanted = {
        e.event_id: [i for i, decisions in sinks if decisions is None or e.decision in decisions]
        for e in events
    }
    events = [e for e in events if wanted[e.event_id]]
    if not events:
        return 0
    people = {i for e in events for i in (e.user_id, e.claimed_user_id) if i is not None}
    names: dict[int, str] = {}
    if people:
        names = dict(session.execute(select(User.id, User.name).where(User.id.in_(people))).all())
    rows = session.execute(
        insert(OutboxMessage)
        .values([{"event_id": e.event_id, "payload": build_payload(e, names)} for e in events])
        .on_conflict_do_nothing(index_elements=[OutboxMessage.event_id])
        .returning(OutboxMessage.id, OutboxMessage.event_id)
    ).all()
    deliveries = [
        {"message_id": message_id, "sink_id": sink_id}
        for message_id, event_id in rows
        for sink_id in wanted[event_id]
    ]
    if deliveries:
        session.execute(insert(OutboxDelivery).values(deliveries).on_conflict_do_nothing())
        # Wakes the workers at commit (facedb/events/wakeup.py); nothing on a rollback.
        session.execute(select(func.pg_notify(NOTIFY_CHANNEL, "")))
    return len(deliveries)


# -- sinks ----------------------------------------------------------------------------


def add_sink(
    session: Session,
    kind: str,
    target: str,
    events: Iterable[str] | None = None,
    secret: str | None = None,
    allow_private: bool = False,
) -> Sink | None:
    """A new sink; None when one of this kind and target exists."""
    row = session.execute(
        insert(EventSink)
        .values(
            kind=kind,
            target=target,
            events=sorted(set(events)) if events is not None else None,
            secret=secret,
            allow_private=allow_private,
        )
        .on_conflict_do_nothing(index_elements=[EventSink.kind, EventSink.target])
        .returning(EventSink)
    ).scalar_one_or_none()
    return None if row is None else _sink(row)


def ensure_sink(session: Session, kind: str, target: str) -> Sink:
    """The sink of this kind and target, created (every decision) when missing."""
    added = add_sink(session, kind, target)
    if added is not None:
        return added
    row = session.execute(
        select(EventSink).where(EventSink.kind == kind, EventSink.target == target)
    ).scalar_one()
    return _sink(row)


def list_sinks(session: Session, kind: str | None = None) -> list[Sink]:
    query = select(EventSink).order_by(EventSink.id)
    if kind is not None:
        query = query.where(EventSink.kind == kind)
    return [_sink(row) for row in session.scalars(query)]


def remove_sink(session: Session, sink_id: int) -> bool:
    """Deletes the sink and its deliveries; True if it existed."""
    result = session.execute(
        delete(EventSink).where(EventSink.id == sink_id).returning(EventSink.id)
    )
    return result.first() is not None


# -- deliveries ------------------------------------------------------------------------


def claim(
    session: Session, *, sink_ids: Sequence[int], limit: int, lease: timedelta
) -> list[Claimed]:
    """Takes up to ``limit`` due deliveries to these sinks, oldest first, skipping
    those another worker holds, and leases them: they are due again after ``lease``
    unless acknowledged. The payload says who the row names now (a person
    forgotten since is not named)."""
    if not sink_ids:
        return []
    due = (
        select(OutboxDelivery.id)
        .where(
            OutboxDelivery.status == "pending",
            OutboxDelivery.next_attempt_at <= func.now(),
            OutboxDelivery.sink_id.in_(sink_ids),
        )
        .order_by(OutboxDelivery.next_attempt_at, OutboxDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    leased = session.execute(
        update(OutboxDelivery)
        .where(OutboxDelivery.id.in_(due.scalar_subquery()))
        .values(
            attempts=OutboxDelivery.attempts + 1,
            next_attempt_at=func.now() + lease,
        )
        .returning(OutboxDelivery.id, OutboxDelivery.message_id, OutboxDelivery.sink_id)
    ).all()
    if not leased:
        return []
    claimed: list[Claimed] = []
    details = session.execute(
        select(
            OutboxDelivery.id,
            OutboxDelivery.attempts,
            OutboxMessage.event_id,
            OutboxMessage.payload,
            Attendance.user_id,
            Attendance.claimed_user_id,
            EventSink,
        )
        .join(OutboxMessage, OutboxMessage.id == OutboxDelivery.message_id)
        .join(Attendance, Attendance.event_id == OutboxMessage.event_id)
        .join(EventSink, EventSink.id == OutboxDelivery.sink_id)
        .where(OutboxDelivery.id.in_([row.id for row in leased]))
        .order_by(OutboxMessage.id)
    ).all()
    for delivery_id, attempts, event_id, payload, user_id, claimed_id, sink in details:
        claimed.append(
            Claimed(
                delivery_id, _sink(sink), event_id, _current(payload, user_id, claimed_id), attempts
            )
        )
    return claimed


def _current(
    payload: dict[str, Any], user_id: int | None, claimed_id: int | None
) -> dict[str, Any]:
    data = dict(payload)
    if data.get("user_id") != user_id:
        data["user_id"], data["person"] = user_id, None
    if data.get("claimed_user_id") != claimed_id:
        data["claimed_user_id"], data["claimed_person"] = claimed_id, None
    return data


def acknowledge(session: Session, delivery_id: int) -> None:
    session.execute(
        update(OutboxDelivery)
        .where(OutboxDelivery.id == delivery_id)
        .values(status="delivered", delivered_at=func.now(), last_error=None)
    )


def fail(session: Session, delivery_id: int, error: str, retry_in: timedelta | None) -> None:
    """Records a failed attempt: due again after ``retry_in``, or dead when None."""
    values: dict[str, Any] = {"last_error": error[:ERROR_MAX_LENGTH]}
    if retry_in is None:
        values["status"] = "dead"
    else:
        values["next_attempt_at"] = func.now() + retry_in
    session.execute(update(OutboxDelivery).where(OutboxDelivery.id == delivery_id).values(values))


def replay(
    session: Session, sink_id: int | None = None, *, event_id: uuid.UUID | None = None
) -> int:
    """Makes dead deliveries (of one sink, or of one event) due now, with a fresh
    count of attempts; with ``event_id``, delivered ones are sent again too.
    Returns how many."""
    query = update(OutboxDelivery).values(
        status="pending", attempts=0, next_attempt_at=func.now(), delivered_at=None
    )
    if event_id is not None:
        query = query.where(
            OutboxDelivery.message_id.in_(
                select(OutboxMessage.id).where(OutboxMessage.event_id == event_id)
            ),
            OutboxDelivery.status != "pending",
        )
    else:
        query = query.where(OutboxDelivery.status == "dead")
    if sink_id is not None:
        query = query.where(OutboxDelivery.sink_id == sink_id)
    return len(session.execute(query.returning(OutboxDelivery.id)).all())


def status(session: Session) -> list[SinkStatus]:
    counts = {
        sink_id: (pending, delivered, dead, oldest)
        for sink_id, pending, delivered, dead, oldest in session.execute(
            select(
                OutboxDelivery.sink_id,
                func.count().filter(OutboxDelivery.status == "pending"),
                func.count().filter(OutboxDelivery.status == "delivered"),
                func.count().filter(OutboxDelivery.status == "dead"),
                func.min(case((OutboxDelivery.status == "pending", OutboxMessage.created_at))),
            )
            .join(OutboxMessage, OutboxMessage.id == OutboxDelivery.message_id)
            .group_by(OutboxDelivery.sink_id)
        )
    }

    def last_error(sink_id: int) -> str | None:
        return session.execute(
            select(OutboxDelivery.last_error)
            .where(
                OutboxDelivery.sink_id == sink_id,
                OutboxDelivery.last_error.is_not(None),
                OutboxDelivery.status != "delivered",
            )
            .order_by(OutboxDelivery.next_attempt_at.desc())
            .limit(1)
        ).scalar_one_or_none()

    result = []
    for sink in list_sinks(session):
        pending, delivered, dead, oldest = counts.get(sink.id, (0, 0, 0, None))
        result.append(
            SinkStatus(sink, int(pending), int(delivered), int(dead), oldest, last_error(sink.id))
        )
    return result


def pending_and_dead(session: Session) -> tuple[int, int]:
    """Deliveries pending and dead-lettered, every sink together (one query)."""
    pending, dead = session.execute(
        select(
            func.count().filter(OutboxDelivery.status == "pending"),
            func.count().filter(OutboxDelivery.status == "dead"),
        )
    ).one()
    return int(pending), int(dead)


def prune(
    session: Session, older_than: timedelta, undelivered_older_than: timedelta | None = None
) -> int:
    """Deletes messages older than ``older_than`` whose every delivery is done, and,
    with ``undelivered_older_than``, those older than that whatever their deliveries
    (dead letters and pending ones a sink never took: personal data is not kept
    forever for a sink that is gone); returns how many."""
    undelivered = select(OutboxDelivery.message_id).where(OutboxDelivery.status != "delivered")
    done = and_(
        OutboxMessage.created_at < func.now() - older_than,
        OutboxMessage.id.not_in(undelivered),
    )
    condition = (
        done
        if undelivered_older_than is None
        else or_(done, OutboxMessage.created_at < func.now() - undelivered_older_than)
    )
    result = session.execute(delete(OutboxMessage).where(condition).returning(OutboxMessage.id))
    return len(result.all())


def forget_person(session: Session, user_id: int) -> int:
    """Strikes a forgotten person from the stored payloads (their id and name, as the
    person or as the one claimed), so that no message names them again, whatever is
    replayed; returns how many messages changed."""
    changed = 0
    for id_key, name_key in (("user_id", "person"), ("claimed_user_id", "claimed_person")):
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.payload[id_key].astext == str(user_id))
            .values(
                payload=OutboxMessage.payload.op("||")(
                    func.jsonb_build_object(id_key, None, name_key, None)
                )
            )
            .returning(OutboxMessage.id)
        )
        changed += len(result.all())
    return changed
