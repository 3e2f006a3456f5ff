"""Evidence of doubtful decisions and their review, in SQL (docs/REVIEW.md).

An evidence row belongs to one attendance event (deleted with it: ON DELETE
CASCADE) and is deleted after the retention (purge_before), when its person is
forgotten (forget_user), or never read by the reporter role (it is not granted)."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import String, and_, cast, delete, exists, func, or_, select, text
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, aliased

from facedb.domain.evidence import STATUSES, Candidate, EvidenceInfo
from facedb.errors import InvalidInputError
from facedb.store.tables.core import Attendance, User
from facedb.store.tables.evidence import REVIEW_ACTIONS, Evidence, ReviewAction
from facedb.store.tables.time_attendance import Correction

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NewEvidence:
    """What is kept of one doubtful decision."""

    event_id: uuid.UUID
    occurred_at: datetime
    model: str
    embedding: np.ndarray | None  # float32 [512], L2-normalised
    thumbnail: bytes  # JPEG
    quality_ok: bool
    quality: float | None
    det_score: float | None
    liveness: float | None
    reasons: tuple[str, ...]
    candidates: tuple[Candidate, ...]


@dataclass(frozen=True)
class StoredFace:
    """The face of one evidence row, as it was judged when it was seen."""

    event_id: uuid.UUID
    occurred_at: datetime
    device: str | None
    embedding: np.ndarray | None
    quality_ok: bool
    quality: float | None
    det_score: float | None
    liveness: float | None
    reasons: tuple[str, ...]


def insert_evidence(session: Session, item: NewEvidence) -> bool:
    """Inserts the evidence of a logged event once (a replay is ignored)."""
    statement = (
        insert(Evidence)
        .values(
            event_id=item.event_id,
            occurred_at=item.occurred_at,
            model=item.model,
            embedding=item.embedding.tolist() if item.embedding is not None else None,
            thumbnail=item.thumbnail,
            quality_ok=item.quality_ok,
            quality=item.quality,
            det_score=item.det_score,
            liveness=item.liveness,
            reasons=list(item.reasons),
            candidates=[
                {"user_id": c.user_id, "name": c.name, "similarity": c.similarity}
                for c in item.candidates
            ],
        )
        .on_conflict_do_nothing(index_elements=[Evidence.event_id])
        .returning(Evidence.id)
    )
    return session.execute(statement).first() is not None


def keep(session: Session, item: NewEvidence, days: float) -> bool:
    """Inserts the evidence in a savepoint of the decision's transaction and purges what
    is past the retention (``days``). A failure is logged and leaves the decision be
    (False), except a lost connection, which fails the transaction."""
    try:
        with session.begin_nested():
            stored = insert_evidence(session, item)
            purge_before(session, datetime.now(UTC) - timedelta(days=days))
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise
        log.warning("could not keep the evidence of event %s: %s", item.event_id, exc)
        return False
    except SQLAlchemyError as exc:
        log.warning("could not keep the evidence of event %s: %s", item.event_id, exc)
        return False
    return stored


def logged_event_ids(session: Session, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these events are in the attendance log."""
    if not event_ids:
        return set()
    return set(
        session.scalars(select(Attendance.event_id).where(Attendance.event_id.in_(event_ids)))
    )


def unlinked_event_ids(session: Session, event_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these logged events lost their person: accepted with no person, or a
    claim (verify) with no claimed person. Only an erasure makes such a row (the person
    was removed or forgotten, and the row or its replay unlinked)."""
    if not event_ids:
        return set()
    return set(
        session.scalars(
            select(Attendance.event_id).where(
                Attendance.event_id.in_(event_ids),
                or_(
                    and_(Attendance.decision == "accepted", Attendance.user_id.is_(None)),
                    and_(Attendance.kind == "verify", Attendance.claimed_user_id.is_(None)),
                ),
            )
        )
    )


def strip_candidate(session: Session, user_id: int) -> int:
    """Removes a forgotten person from the candidates (name, similarity) kept with
    other people's evidence; returns how many rows changed."""
    result = session.execute(
        text(
            "UPDATE evidence SET candidates = coalesce(("
            " SELECT jsonb_agg(c) FROM jsonb_array_elements(candidates) AS c"
            " WHERE (c->>'user_id')::bigint IS DISTINCT FROM :u), '[]'::jsonb)"
            " WHERE candidates @> jsonb_build_array(jsonb_build_object('user_id', :u))"
        ),
        {"u": user_id},
    )
    return int(getattr(result, "rowcount", 0) or 0)


def purge_before(session: Session, before: datetime) -> int:
    """Deletes the evidence of events that occurred before ``before``."""
    result = session.execute(
        delete(Evidence).where(Evidence.occurred_at < before).returning(Evidence.id)
    )
    return len(result.all())


def forget_user(session: Session, user_id: int) -> int:
    """Deletes every evidence row showing the person: of events that were theirs
    (recognised or claimed), reassigned or added to them by a correction, or whose
    face a review enrolled into them. Returns how many."""
    theirs = select(Attendance.event_id).where(
        or_(Attendance.user_id == user_id, Attendance.claimed_user_id == user_id)
    )
    corrected = select(Correction.event_id).where(Correction.user_id == user_id)
    reviewed = select(ReviewAction.event_id).where(ReviewAction.user_id == user_id)
    result = session.execute(
        delete(Evidence)
        .where(
            or_(
                Evidence.event_id.in_(theirs),
                Evidence.event_id.in_(corrected),
                Evidence.event_id.in_(reviewed),
            )
        )
        .returning(Evidence.id)
    )
    return len(result.all())


def add_action(
    session: Session,
    event_id: uuid.UUID,
    action: str,
    *,
    created_by: str,
    user_id: int | None = None,
    correction_id: int | None = None,
    note: str | None = None,
) -> int:
    if action not in REVIEW_ACTIONS:
        raise InvalidInputError(f"a review action is one of {', '.join(REVIEW_ACTIONS)}")
    row = ReviewAction(
        event_id=event_id,
        action=action,
        user_id=user_id,
        correction_id=correction_id,
        note=note,
        created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row.id


def _last_actions() -> Any:
    """The latest review action of each event (DISTINCT ON), as a subquery."""
    return (
        select(
            ReviewAction.event_id,
            ReviewAction.action,
            ReviewAction.created_by,
            ReviewAction.user_id,
        )
        .ext(distinct_on(ReviewAction.event_id))
        .order_by(ReviewAction.event_id, ReviewAction.id.desc())
        .subquery("last_action")
    )


def list_evidence(
    session: Session,
    *,
    status: str = "open",
    decisions: Sequence[str] | None = None,
    since: datetime | None = None,
    event_ids: Sequence[uuid.UUID] | None = None,
    limit: int = 100,
) -> list[EvidenceInfo]:
    """Doubtful events with their evidence, newest first."""
    if status not in STATUSES:
        raise InvalidInputError(f"--status is one of {', '.join(STATUSES)}, not {status!r}")
    person, claimed, reviewed = aliased(User), aliased(User), aliased(User)
    last = _last_actions()
    query = (
        select(
            Evidence,
            Attendance,
            person.name,
            claimed.name,
            last.c.action,
            last.c.created_by,
            reviewed.name,
        )
        .join(Attendance, Attendance.event_id == Evidence.event_id)
        .outerjoin(person, person.id == Attendance.user_id)
        .outerjoin(claimed, claimed.id == Attendance.claimed_user_id)
        .outerjoin(last, last.c.event_id == Evidence.event_id)
        .outerjoin(reviewed, reviewed.id == last.c.user_id)
        .order_by(Evidence.occurred_at.desc(), Evidence.id.desc())
        .limit(limit)
    )
    if status == "open":
        query = query.where(last.c.action.is_(None))
    elif status == "reviewed":
        query = query.where(last.c.action.is_not(None))
    if decisions:
        query = query.where(Attendance.decision.in_(list(decisions)))
    if since is not None:
        query = query.where(Evidence.occurred_at >= since)
    if event_ids is not None:
        query = query.where(Evidence.event_id.in_(list(event_ids)))
    rows = session.execute(query).all()
    mentioned = {int(c["user_id"]) for e, *_ in rows for c in e.candidates}
    # Candidates are stored with the event; a person removed since is not one any more.
    present = set(session.scalars(select(User.id).where(User.id.in_(mentioned))))
    return [
        EvidenceInfo(
            event_id=e.event_id,
            occurred_at=e.occurred_at,
            kind=a.kind,
            decision=a.decision,
            name=name,
            claimed=claimed_name,
            similarity=a.similarity,
            threshold=a.threshold,
            runner_up=a.runner_up,
            device=a.device,
            quality_ok=e.quality_ok,
            liveness=e.liveness,
            reasons=tuple(e.reasons),
            candidates=tuple(
                Candidate(int(c["user_id"]), str(c["name"]), float(c["similarity"]))
                for c in e.candidates
                if int(c["user_id"]) in present
            ),
            thumbnail_bytes=len(e.thumbnail),
            status=action or "open",
            reviewed_by=by,
            reviewed_person=reviewed_name,
        )
        for e, a, name, claimed_name, action, by, reviewed_name in rows
    ]


def thumbnail(session: Session, event_id: uuid.UUID) -> bytes | None:
    return session.scalar(select(Evidence.thumbnail).where(Evidence.event_id == event_id))


def stored_faces(session: Session, event_ids: Sequence[uuid.UUID]) -> list[StoredFace]:
    """The faces of these events' evidence (those that have evidence), oldest first."""
    rows = session.execute(
        select(Evidence, Attendance.device)
        .join(Attendance, Attendance.event_id == Evidence.event_id)
        .where(Evidence.event_id.in_(list(event_ids)))
        .order_by(Evidence.occurred_at, Evidence.id)
    )
    return [_stored(e, device) for e, device in rows]


def open_unknowns(
    session: Session, model: str, since: datetime | None = None, *, limit: int
) -> list[StoredFace]:
    """The newest ``limit`` faces of unknown events of this model that nobody reviewed,
    oldest first. Paged in the database and without the thumbnails: 30,000 open
    unknowns cost 13 s and 1.3 GB when every row was read to keep the last 2,000."""
    reviewed = exists().where(ReviewAction.event_id == Evidence.event_id)
    query = (
        select(
            Evidence.event_id,
            Evidence.occurred_at,
            Attendance.device,
            Evidence.embedding,
            Evidence.quality_ok,
            Evidence.quality,
            Evidence.det_score,
            Evidence.liveness,
            Evidence.reasons,
        )
        .join(Attendance, Attendance.event_id == Evidence.event_id)
        .where(
            Attendance.decision == "unknown",
            Evidence.model == model,
            Evidence.embedding.is_not(None),
            ~reviewed,
        )
        .order_by(Evidence.occurred_at.desc(), Evidence.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(Evidence.occurred_at >= since)
    faces = [
        StoredFace(
            row.event_id,
            row.occurred_at,
            row.device,
            np.asarray(row.embedding, dtype=np.float32),
            row.quality_ok,
            row.quality,
            row.det_score,
            row.liveness,
            tuple(row.reasons),
        )
        for row in session.execute(query)
    ]
    return faces[::-1]


def _stored(e: Evidence, device: str | None) -> StoredFace:
    vector = np.asarray(e.embedding, dtype=np.float32) if e.embedding is not None else None
    return StoredFace(
        e.event_id,
        e.occurred_at,
        device,
        vector,
        e.quality_ok,
        e.quality,
        e.det_score,
        e.liveness,
        tuple(e.reasons),
    )


_HEX = re.compile(r"^[0-9a-f-]{8,36}$")


def find_event(session: Session, text_value: str) -> uuid.UUID:
    """An event with evidence, by its id or the unique start of it (8 hex digits or more)."""
    key = text_value.strip().lower()
    hex_digits = key.replace("-", "")
    if not _HEX.match(key) or not 8 <= len(hex_digits) <= 32:
        raise InvalidInputError(
            f"not an event id: {text_value!r} (see facedb review list; 8 hex digits or more)"
        )
    if len(hex_digits) == 32:
        query = select(Evidence.event_id).where(Evidence.event_id == uuid.UUID(hex_digits))
    else:  # hex digits only (the pattern above): nothing to escape in LIKE
        as_hex = func.replace(cast(Evidence.event_id, String), "-", "")
        query = select(Evidence.event_id).where(as_hex.like(hex_digits + "%"))
    found = list(session.scalars(query.limit(2)))
    if len(found) != 1:
        what = "no event" if not found else "several events"
        raise InvalidInputError(f"{what} with kept evidence match {text_value!r}")
    return found[0]


def event_at(session: Session, event_id: uuid.UUID) -> tuple[str, datetime, str | None]:
    """The decision, time and device of a logged event."""
    decision, occurred_at, device = session.execute(
        select(Attendance.decision, Attendance.occurred_at, Attendance.device).where(
            Attendance.event_id == event_id
        )
    ).one()
    return str(decision), occurred_at, device
