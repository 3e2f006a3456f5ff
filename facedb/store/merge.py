"""`facedb users merge` in SQL: one person enrolled twice under two names becomes one
(usecases/merge.py is the use case).

In one transaction everything of OTHER moves to KEEP: stored faces (all models),
attendance rows (recognised and claimed), site and group memberships, evidence,
shift assignments and leave; look-alike pairs follow them (a pair of the two becomes
a self-pair and goes). Attendance corrections and review actions are append-only: a
correction that gave an event to OTHER gets a new ``reassign`` correction giving it
to KEEP (so the timesheet follows), and OTHER's review actions keep their history,
unlinked. Then OTHER is deleted.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    TIMESTAMP,
    BigInteger,
    ColumnElement,
    and_,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased
from sqlalchemy.sql import Executable

from facedb.errors import InvalidInputError, PeriodLockedError
from facedb.store import gallery
from facedb.store.tables.core import Attendance, FaceEmbedding, Lookalike
from facedb.store.tables.org import GroupMember, UserSite
from facedb.store.tables.templates import NonMatch, TemplateAddition
from facedb.store.tables.time_attendance import Correction, Leave, PayPeriod, ShiftAssignment

MERGED_BY = "facedb users merge"
# Why no merge record of its own: review_actions and attendance_corrections are
# per-event tables with fixed action lists (no person-level "merge").
NO_AUDIT = (
    "no merge record: review_actions and attendance_corrections are per event "
    "(the merge is in the log, and corrections that named the merged person are "
    "reassigned by new corrections)"
)


# Evidence follows its event; its candidates (a snapshot: [{"user_id", "name",
# "similarity"}, ...]) name KEEP where they named OTHER, so a review can act on them.
_CANDIDATES = text(
    """
UPDATE evidence SET candidates = (
    SELECT jsonb_agg(CASE WHEN (c->>'user_id')::bigint = :o
                     THEN c || jsonb_build_object('user_id', :k, 'name', :name)
                     ELSE c END ORDER BY n)
    FROM jsonb_array_elements(candidates) WITH ORDINALITY AS e(c, n))
WHERE candidates @> jsonb_build_array(jsonb_build_object('user_id', :o))
RETURNING id
"""
)


@dataclass(frozen=True)
class MergeResult:
    keep: str
    other: str
    faces: int
    attendance_rows: int
    claimed_rows: int
    corrections_added: int
    groups: int
    site_moved: bool
    evidence_rows: int
    shift_assignments: int
    leave: int
    lookalikes_dropped: int
    cache_files: int
    audit: str


def _count(session: Session, statement: Executable) -> int:
    return len(session.execute(statement).all())


def _in_locked_period(when: ColumnElement[object]) -> ColumnElement[bool]:
    start = func.timezone(PayPeriod.timezone, cast(PayPeriod.day_from, TIMESTAMP))
    end = func.timezone(PayPeriod.timezone, cast(PayPeriod.day_to + 1, TIMESTAMP))
    return and_(PayPeriod.unlocked_at.is_(None), start <= when, end > when)


def _refuse_if_locked(session: Session, other_id: int, other: str) -> None:
    """A merge changes whose punches they are: none may lie in a locked pay period."""
    logged = select(Attendance.occurred_at).where(
        Attendance.user_id == other_id, Attendance.decision == "accepted"
    )
    added = select(Correction.occurred_at).where(
        Correction.user_id == other_id, Correction.action == "add"
    )
    for times in (logged, added):
        when = times.subquery()
        hit = session.execute(
            select(when.c.occurred_at).join(PayPeriod, _in_locked_period(when.c.occurred_at))
        ).first()
        if hit is not None:
            raise PeriodLockedError(
                f"{other}'s punch at {hit[0].isoformat()} is in a locked pay period: "
                "unlock it before merging"
            )


def _events_owned_by_corrections(session: Session, user_id: int) -> list[uuid.UUID]:
    """Events the corrections give to the person: their latest reassign names them,
    or the person's added punch was never reassigned."""
    latest = (
        select(Correction.event_id, Correction.user_id)
        .where(Correction.action == "reassign")
        .ext(distinct_on(Correction.event_id))
        .order_by(Correction.event_id, Correction.id.desc())
        .subquery()
    )
    reassigned = select(latest.c.event_id).where(latest.c.user_id == user_id)
    added = select(Correction.event_id).where(
        Correction.action == "add",
        Correction.user_id == user_id,
        Correction.event_id.not_in(select(latest.c.event_id)),
    )
    return list(session.scalars(reassigned.union(added)))


def merge_in_session(session: Session, keep: str, other: str) -> tuple[MergeResult, int]:
    """The database part of the merge; returns the result and OTHER's id."""
    keep_user = gallery.get_user(session, keep)
    other_user = gallery.get_user(session, other)
    if keep_user.id == other_user.id:
        raise InvalidInputError(f"{keep_user.name!r} and {other!r} are one person already")
    k, o = keep_user.id, other_user.id
    _refuse_if_locked(session, o, other_user.name)

    events = _events_owned_by_corrections(session, o)
    for event_id in events:
        session.add(
            Correction(
                action="reassign",
                event_id=event_id,
                user_id=k,
                reason="wrong_person",
                note=f"merge of {other_user.name} into {keep_user.name}",
                created_by=MERGED_BY,
            )
        )
    session.flush()

    def move(column: InstrumentedAttribute[Any]) -> int:
        statement = update(column.class_).where(column == o).values({column.key: k})
        return _count(session, statement.returning(column))

    faces = move(FaceEmbedding.user_id)
    move(TemplateAddition.user_id)  # learned faces and known non-matches follow
    move(NonMatch.user_id)
    rows = move(Attendance.user_id)
    claimed = move(Attendance.claimed_user_id)
    evidence_rows = _count(session, _CANDIDATES.bindparams(o=o, k=k, name=keep_user.name))
    shifts = move(ShiftAssignment.user_id)
    leave = move(Leave.user_id)

    # Memberships: KEEP's own site wins; groups are the union (no duplicate key).
    keep_site = session.scalar(select(UserSite.site_id).where(UserSite.user_id == k))
    site_moved = False
    if keep_site is None:
        site_moved = (
            _count(
                session,
                update(UserSite)
                .where(UserSite.user_id == o)
                .values(user_id=k)
                .returning(UserSite.user_id),
            )
            > 0
        )
    groups = _count(
        session,
        insert(GroupMember)
        .from_select(
            ["group_id", "user_id"],
            select(GroupMember.group_id, literal(k, BigInteger)).where(GroupMember.user_id == o),
        )
        .on_conflict_do_nothing()
        .returning(GroupMember.group_id),
    )

    # Look-alikes: a pair of the two is now a self-pair; the others follow OTHER
    # unless KEEP already has the same pair (then the OTHER row goes with OTHER).
    dropped = _count(
        session,
        delete(Lookalike)
        .where(
            or_(
                and_(Lookalike.user_id == o, Lookalike.other_user_id == k),
                and_(Lookalike.user_id == k, Lookalike.other_user_id == o),
            )
        )
        .returning(Lookalike.id),
    )
    theirs = aliased(Lookalike)
    for mine, partner in (
        (Lookalike.user_id, Lookalike.other_user_id),
        (Lookalike.other_user_id, Lookalike.user_id),
    ):
        mine_t, partner_t = getattr(theirs, mine.key), getattr(theirs, partner.key)
        clash = (
            select(theirs.id)
            .where(mine_t == k, partner_t == partner, theirs.model == Lookalike.model)
            .exists()
        )
        session.execute(update(Lookalike).where(mine == o, ~clash).values({mine.key: k}))

    other_name = other_user.name
    session.delete(other_user)
    session.flush()
    result = MergeResult(
        keep=keep_user.name,
        other=other_name,
        faces=faces,
        attendance_rows=rows,
        claimed_rows=claimed,
        corrections_added=len(events),
        groups=groups,
        site_moved=site_moved,
        evidence_rows=evidence_rows,
        shift_assignments=shifts,
        leave=leave,
        lookalikes_dropped=dropped,
        cache_files=0,
        audit=NO_AUDIT,
    )
    return result, o
