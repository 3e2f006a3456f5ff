"""The people enrolled: listing, renaming and removing them, the erasure of a
person's biometric data, and the retention of attendance rows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from facedb import policy
from facedb.domain.people import UserSummary
from facedb.errors import InvalidInputError
from facedb.offline import gallery_cache
from facedb.store import (
    attendance,
    calibration,
    erasure,
    evidence,
    gallery,
    outbox,
    templates,
    tombstones,
)
from facedb.store.corrections import refuse_purge_in_locked_period
from facedb.usecases.results import ForgetResult
from facedb.usecases.runtime import Runtime

log = logging.getLogger(__name__)

# What `facedb users forget` does with the person's attendance rows (README
# "Reliability and privacy"): keep them theirs, unlink them, or delete them.
ATTENDANCE_POLICIES = ("keep", "anonymise", "delete")


def users(rt: Runtime) -> list[UserSummary]:
    with rt.transaction() as session:
        return gallery.list_users(session)


def user(rt: Runtime, name: str) -> UserSummary:
    with rt.transaction() as session:
        person = gallery.get_user(session, name, loose=True)
        return gallery.summarise(person, gallery.count_embeddings(session, person.id))


def rename_user(rt: Runtime, old: str, new: str) -> UserSummary:
    with rt.transaction() as session:
        person = gallery.rename_user(session, old, new)
        return gallery.summarise(person, gallery.count_embeddings(session, person.id))


def remove_users(rt: Runtime, names: Sequence[str], *, shred: bool = True) -> list[tuple[str, int]]:
    """Removes these people, all or none (one transaction; an unknown name removes
    nobody): their stored faces, the evidence showing them, their name in other
    people's evidence and in outbox payloads (as with ``forget``: a removed person is a
    tombstone too, store/tombstones.py), and their part in the gallery calibration,
    which is computed again without them. Their attendance rows stay, unlinked;
    reports no longer count them as accepted. ``shred``: the vectors leave the disk
    (store/erasure.py). Returns (name, faces removed) per person."""
    removed: list[tuple[str, int]] = []
    ids: list[int] = []
    with rt.transaction() as session:
        for name in dict.fromkeys(names):
            person = gallery.get_user(session, name)
            _erase_traces(session, person.id, outbox_too=True)
            ids.append(person.id)
            removed.append((person.name, gallery.remove_user(session, name)))
        # The calibration sampled their faces: computed again from the people left.
        for model in calibration.calibrated_models(session):
            policy.refresh_gallery_calibration(session, model, force=True)
    for user_id in ids:
        gallery_cache.purge_user(rt.settings.home, user_id)
    rt.galleries.clear()
    if shred:
        erasure.shred(rt.database.engine)
    return removed


def _erase_traces(session: Session, user_id: int, *, outbox_too: bool) -> None:
    """What shows or names a person besides their faces and attendance rows."""
    evidence.forget_user(session, user_id)  # their faces kept for review
    evidence.strip_candidate(session, user_id)  # named beside someone else's face
    templates.forget_user(session, user_id)  # learned faces, known non-matches
    if outbox_too:
        outbox.forget_person(session, user_id)


def forget_user(rt: Runtime, name: str, attendance_policy: str, *, shred: bool) -> ForgetResult:
    """Erases a person's biometric data: every stored face (all models), in one
    transaction, then their copies in this kiosk's gallery caches. Their attendance
    rows are kept as theirs (``keep``: the person stays, inactive, with no face),
    unlinked from them (``anonymise``: the person is deleted), or deleted with them
    (``delete``). ``shred``: then rewrite the files that held the vectors and push
    the WAL past a checkpoint (store/erasure.py), so that the bytes leave the disk."""
    if attendance_policy not in ATTENDANCE_POLICIES:
        raise InvalidInputError(
            f"--attendance is one of {', '.join(ATTENDANCE_POLICIES)}, not {attendance_policy!r}"
        )
    with rt.transaction() as session:
        person = gallery.get_user(session, name)
        embeddings = gallery.delete_embeddings(session, person.id)
        # "keep": the payloads stay theirs, as their rows do.
        _erase_traces(session, person.id, outbox_too=attendance_policy != "keep")
        if attendance_policy == "keep":
            gallery.deactivate_user(session, person.id)
            tombstones.mark_forgotten(session, person.id)
            rows = attendance.count_for_user(session, person.id)
        else:
            if attendance_policy == "delete":
                rows = attendance.delete_for_user(session, person.id)
            else:
                rows = attendance.unlink_user(session, person.id)
            session.delete(person)
            session.flush()
    caches = gallery_cache.purge_user(rt.settings.home, person.id)
    rt.galleries.clear()
    shredded = erasure.shred(rt.database.engine) if shred else None
    log.info(
        "forgot person %d: %d face(s), attendance %s", person.id, embeddings, attendance_policy
    )
    return ForgetResult(
        person.name, person.id, embeddings, attendance_policy, rows, caches, shredded
    )


def purge_attendance(rt: Runtime, older_than: timedelta) -> int:
    """Deletes the attendance rows older than ``older_than`` (retention)."""
    if older_than <= timedelta(0):
        raise InvalidInputError("--older-than must be a positive duration, e.g. 365d")
    try:
        before = datetime.now(UTC) - older_than
    except OverflowError:
        raise InvalidInputError(
            f"--older-than {older_than.days}d is longer than any date"
        ) from None
    with rt.transaction() as session:
        # A locked pay period keeps its events (PeriodLockedError, exit code 21).
        refuse_purge_in_locked_period(session, before)
        kept_from = datetime.now(UTC) - timedelta(days=rt.settings.evidence_days)
        evidence.purge_before(session, min(before, kept_from))
        return attendance.purge_before(session, before)
