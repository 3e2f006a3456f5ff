"""Who was forgotten: the tombstones that every replay path honours (a kiosk's
spooled events and evidence files, outbox payloads), so that an erasure is final
even when a kiosk that was offline comes back with what it decided before or after.

A person's id is never reused (an identity column), so an id that ``users`` no longer
holds is a person removed or forgotten. A person forgotten with ``--attendance keep``
stays in ``users`` (inactive, with no face) and carries the moment of the erasure in
``users.meta`` (``forgotten_at``): their attendance rows stay theirs, but nothing
decided by their face after that moment is linked to them, and no face of theirs is
kept again.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from facedb.store.tables.core import User

FORGOTTEN_AT = "forgotten_at"


def mark_forgotten(session: Session, user_id: int) -> None:
    """The tombstone of a person who stays in ``users`` (``forget --attendance keep``)."""
    now = session.execute(select(func.now())).scalar_one()
    session.execute(
        update(User)
        .where(User.id == user_id)
        .values(meta=User.meta.op("||")(func.jsonb_build_object(FORGOTTEN_AT, now)))
    )


def of(session: Session, user_ids: Collection[int]) -> dict[int, datetime | None]:
    """The tombstones among these ids: id -> the moment a kept person was forgotten,
    or None for a person who is gone (removed or forgotten)."""
    if not user_ids:
        return {}
    rows = session.execute(
        select(User.id, User.meta[FORGOTTEN_AT].astext).where(User.id.in_(list(user_ids)))
    ).all()
    present = {user_id: moment for user_id, moment in rows}
    tombs: dict[int, datetime | None] = {i: None for i in user_ids if i not in present}
    for user_id, moment in present.items():
        if moment is not None:
            tombs[user_id] = datetime.fromisoformat(moment)
    return tombs


def erased(tombs: dict[int, datetime | None], user_id: int | None, when: datetime) -> bool:
    """Whether an event of ``when`` may no longer name ``user_id``: they are gone, or
    were forgotten before it (their face should not have been recognised then)."""
    if user_id is None or user_id not in tombs:
        return False
    moment = tombs[user_id]
    return moment is None or when >= moment
