"""What a kiosk exchanges with the database when it reaches it: spooled events go
in (replay), a copy of the gallery comes out (the offline cache)."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from facedb.domain.attendance import AttendanceEvent
from facedb.domain.constants import DECISIONS
from facedb.errors import PeriodLockedError, first_line
from facedb.offline.gallery_cache import CachedUser, GalleryCache
from facedb.offline.spool import BatchOutcome
from facedb.store import attendance, calibration, corrections, gallery, locks, org, tombstones
from facedb.store.tables.core import KINDS, Threshold
from facedb.store.tables.time_attendance import PayPeriod
from facedb.timezones import FIRST_DAY

# How far ahead of the replaying machine's clock a kiosk's event may be dated.
FUTURE_SKEW = timedelta(hours=1)
# The scores of a decision: cosine similarities, a liveness probability, a rate
# (with room for float32 rounding: a cosine of a vector with itself is 1.0000001).
_SLACK = 1e-3
_RANGES = (
    ("similarity", -1.0 - _SLACK, 1.0 + _SLACK),
    ("threshold", -1.0 - _SLACK, 1.0 + _SLACK),
    ("runner_up", -1.0 - _SLACK, 1.0 + _SLACK),
    ("liveness", 0.0, 1.0 + _SLACK),
    ("fpir_target", 0.0, 1.0),
)


def write_spooled(session: Session, events: list[AttendanceEvent]) -> BatchOutcome:
    """Inserts spooled events in order, each once (ON CONFLICT (event_id) DO NOTHING),
    in the caller's transaction.

    A person removed or forgotten since the event was spooled is unlinked from it, as
    the database does to the rows it holds (ON DELETE SET NULL), and so is a person
    forgotten with their attendance kept, from the events decided after the erasure
    (store/tombstones.py). An event out of range (``out_of_range``) or that the
    database refuses (a value the schema does not allow) is returned as refused with
    the reason, and the others go in. An accepted event that would change a work day
    of a locked pay period (store/locks.py) is logged and voided at once with the
    reason (``set_aside``): never counted silently, never lost."""
    refused: list[tuple[AttendanceEvent, str]] = []
    checked = []
    now = datetime.now(UTC)
    for event in events:
        problem = out_of_range(event, now)
        if problem is None:
            checked.append(event)
        else:
            refused.append((event, problem))
    events = checked
    tombs = tombstones.of(
        session, {i for e in events for i in (e.user_id, e.claimed_user_id) if i is not None}
    )
    events = [_unlink(event, tombs) for event in events]
    periods = locks.locked_periods(session, None, None)
    if not any(_near(e, periods) for e in events):
        try:
            with session.begin_nested():
                return BatchOutcome(attendance.log_events(session, events), refused)
        except (IntegrityError, DataError):
            pass  # some event is refused: find which, one by one
    inserted = 0
    aside: list[tuple[AttendanceEvent, str]] = []
    for event in events:
        try:
            with session.begin_nested():
                if _near(event, periods) and event.user_id is not None:
                    day = event.occurred_at.date()
                    what = f"offline event {event.event_id}"
                    with locks.guarded(session, what, [event.user_id], day, day):
                        new = attendance.log_event(session, event)
                else:
                    new = attendance.log_event(session, event)
            inserted += new
        except PeriodLockedError as exc:
            with session.begin_nested():
                inserted += attendance.log_event(session, event)
                corrections.set_aside(session, event.event_id, exc.message)
            aside.append((event, exc.message))
        except (IntegrityError, DataError) as exc:
            refused.append((event, first_line(exc)))
    return BatchOutcome(inserted, refused, aside)


def _unlink(event: AttendanceEvent, tombs: dict[int, datetime | None]) -> AttendanceEvent:
    """The event without the people it may no longer name (store/tombstones.py)."""
    when = event.occurred_at
    return dataclasses.replace(
        event,
        user_id=None if tombstones.erased(tombs, event.user_id, when) else event.user_id,
        claimed_user_id=(
            None if tombstones.erased(tombs, event.claimed_user_id, when) else event.claimed_user_id
        ),
    )


def out_of_range(event: AttendanceEvent, now: datetime) -> str | None:
    """Why a spooled event cannot be a kiosk's decision (the spool is a file: anyone
    with the kiosk's disk can write one), or None. Its time is between FIRST_DAY and
    a little after now (a kiosk's clock may run ahead: FUTURE_SKEW), its scores are
    those a model gives, its counts are not negative."""
    if event.occurred_at.date() < FIRST_DAY or event.occurred_at > now + FUTURE_SKEW:
        return (
            f"its time {event.occurred_at.isoformat()} is not between {FIRST_DAY} and "
            f"{FUTURE_SKEW} after now"
        )
    if event.kind not in KINDS or event.decision not in DECISIONS:
        return f"{event.kind!r}/{event.decision!r} is not a kind and a decision facedb logs"
    for name, low, high in _RANGES:
        value = getattr(event, name)
        if value is not None and not (math.isfinite(value) and low <= value <= high):
            return f"its {name} {value!r} is not between {low} and {high}"
    for name in ("gallery_persons", "gallery_faces"):
        count = getattr(event, name)
        if count is not None and not 0 <= count < 2**31:
            return f"its {name} {count!r} is not a count"
    return None


def _near(event: AttendanceEvent, periods: list[PayPeriod]) -> bool:
    """Whether a counting event's day is within reach of a locked period's work days."""
    if event.decision != "accepted" or event.user_id is None:
        return False
    day = event.occurred_at.date()
    return any(p.day_from - locks.MARGIN <= day <= p.day_to + locks.MARGIN for p in periods)


def snapshot(session: Session, model: str) -> GalleryCache:
    """The gallery of one embedding model as the database holds it now."""
    taken_at = datetime.now(UTC)
    exported = gallery.export_gallery(session, model)
    calibrated = session.get(Threshold, model)
    own = calibration.load_calibration(session, model)
    return GalleryCache(
        model=model,
        written_at=taken_at,
        calibrated_threshold=None if calibrated is None else calibrated.threshold,
        users=tuple(CachedUser(i, n, a) for i, n, a in exported.users),
        owners=exported.owners,
        embeddings=exported.embeddings,
        gallery_tail=None if own is None else own.tail,
        memberships=org.memberships(session),
    )
