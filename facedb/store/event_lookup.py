"""Events as people name them: a unique start of an event id (8 characters or more,
as the tables show them), and the checks a correction makes before it is written."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, union_all
from sqlalchemy.orm import Session

from facedb.errors import InvalidInputError
from facedb.store.tables.core import Attendance, User
from facedb.store.tables.time_attendance import Correction, attendance_effective

SHORT_ID = 8  # the characters of an event id the tables show
_HEX = re.compile(r"^[0-9a-f-]+$")
_SHOWN_CANDIDATES = 5


def resolve_event_id(session: Session, text_value: str) -> uuid.UUID:
    """The logged event or added punch whose id is ``text_value`` or starts with it
    (8 hex digits or more, dashes optional); an unknown id, or a start several ids
    share (naming them), is an InvalidInputError."""
    key = text_value.strip().lower()
    digits = key.replace("-", "")
    if not _HEX.match(key) or not SHORT_ID <= len(digits) <= 32:
        raise InvalidInputError(
            f"not an event id: {text_value!r} (the 8 characters or more of the id column "
            "of facedb attendance list)"
        )
    if len(digits) == 32:
        wanted = uuid.UUID(digits)
        logged = select(Attendance.event_id).where(Attendance.event_id == wanted)
        added = select(Correction.event_id).where(
            Correction.action == "add", Correction.event_id == wanted
        )
    else:
        # A range of ids is what the unique index on event_id serves; hex digits only
        # (checked above), so the bounds are well-formed.
        low = uuid.UUID(digits.ljust(32, "0"))
        high = uuid.UUID(digits.ljust(32, "f"))
        logged = select(Attendance.event_id).where(Attendance.event_id.between(low, high))
        added = select(Correction.event_id).where(
            Correction.action == "add", Correction.event_id.between(low, high)
        )
    found = sorted(set(session.scalars(union_all(logged, added).limit(_SHOWN_CANDIDATES + 1))))
    if not found:
        raise InvalidInputError(
            f"no attendance event has an id starting with {text_value.strip()!r} "
            "(see facedb attendance list)"
        )
    if len(found) > 1:
        shown = ", ".join(_describe(session, event_id) for event_id in found[:_SHOWN_CANDIDATES])
        more = " and more" if len(found) > _SHOWN_CANDIDATES else ""
        raise InvalidInputError(
            f"{text_value.strip()!r} is the start of several event ids: {shown}{more}; "
            "give more characters"
        )
    return found[0]


def _describe(session: Session, event_id: uuid.UUID) -> str:
    row = session.execute(
        select(attendance_effective.c.occurred_at, User.name)
        .outerjoin(User, User.id == attendance_effective.c.user_id)
        .where(attendance_effective.c.event_id == event_id)
        .limit(1)
    ).first()
    if row is None:
        row = session.execute(
            select(Attendance.occurred_at, User.name)
            .outerjoin(User, User.id == Attendance.user_id)
            .where(Attendance.event_id == event_id)
        ).first()
    if row is None:
        return str(event_id)
    when, name = row
    return f"{event_id} ({name or 'unknown'}, {when:%Y-%m-%d %H:%M%z})"


def arrived_before(session: Session, user_id: int, when: datetime, within: timedelta) -> bool:
    """Whether the person has a counted arrival (a punch on an in or both device, or
    added as such) in the ``within`` before ``when``, as the timesheet reads the log."""
    punches = attendance_effective.c
    found = session.execute(
        select(punches.event_id)
        .where(
            punches.user_id == user_id,
            punches.occurred_at < when,
            punches.occurred_at >= when - within,
            punches.direction != "out",
        )
        .limit(1)
    ).first()
    return found is not None
