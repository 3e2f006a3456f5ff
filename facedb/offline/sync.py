"""What a kiosk exchanges with the database when it reaches it: spooled events go
in (replay), a copy of the gallery comes out (the offline cache)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from facedb.domain.attendance import AttendanceEvent
from facedb.errors import first_line
from facedb.offline.gallery_cache import CachedUser, GalleryCache
from facedb.offline.spool import BatchOutcome
from facedb.store import attendance, calibration, gallery, org
from facedb.store.tables.core import Threshold


def write_spooled(session: Session, events: list[AttendanceEvent]) -> BatchOutcome:
    """Inserts spooled events in order, each once (ON CONFLICT (event_id) DO NOTHING),
    in the caller's transaction.

    A person removed or forgotten since the event was spooled is unlinked from it, as
    the database does to the rows it holds (ON DELETE SET NULL). An event the
    database refuses (a value the schema does not allow) is returned as refused with
    the reason, and the others go in."""
    known = gallery.existing_user_ids(
        session,
        {i for e in events for i in (e.user_id, e.claimed_user_id) if i is not None},
    )
    events = [
        dataclasses.replace(
            event,
            user_id=event.user_id if event.user_id in known else None,
            claimed_user_id=event.claimed_user_id if event.claimed_user_id in known else None,
        )
        for event in events
    ]
    try:
        with session.begin_nested():
            return BatchOutcome(attendance.log_events(session, events))
    except (IntegrityError, DataError):
        pass  # some event is refused: find which, one by one
    inserted = 0
    refused: list[tuple[AttendanceEvent, str]] = []
    for event in events:
        try:
            with session.begin_nested():
                inserted += attendance.log_event(session, event)
        except (IntegrityError, DataError) as exc:
            refused.append((event, first_line(exc)))
    return BatchOutcome(inserted, refused)


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
