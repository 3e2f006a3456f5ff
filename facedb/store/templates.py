"""Queries of guarded template updates and known non-matches (store/template_schema.py,
facedb/usecases/template_updates.py)."""

from __future__ import annotations

import uuid
from datetime import datetime

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from facedb.domain.templates import AddedFace
from facedb.store.tables.core import Attendance, FaceEmbedding, User
from facedb.store.tables.evidence import Evidence
from facedb.store.tables.templates import NonMatch, TemplateAddition


def person_vectors(session: Session, user_id: int, model: str) -> np.ndarray:
    """The person's stored faces of the model, float32 [n, 512] (n may be 0)."""
    rows = session.scalars(
        select(FaceEmbedding.embedding).where(
            FaceEmbedding.user_id == user_id, FaceEmbedding.model == model
        )
    ).all()
    if not rows:
        return np.zeros((0, 512), np.float32)
    return np.stack([np.asarray(r, dtype=np.float32) for r in rows])


def added_faces_now(session: Session, user_id: int, model: str) -> int:
    """The person's faces of the model that were learned (not removed since)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(TemplateAddition)
            .where(
                TemplateAddition.user_id == user_id,
                TemplateAddition.model == model,
                TemplateAddition.face_id.is_not(None),
            )
        )
        or 0
    )


def additions_since(session: Session, user_id: int, since: datetime) -> int:
    """Faces learned for the person since ``since``, removed ones included (a removed
    face does not free its place in the period)."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(TemplateAddition)
            .where(TemplateAddition.user_id == user_id, TemplateAddition.added_at >= since)
        )
        or 0
    )


def non_matches_since(session: Session, user_id: int, since: datetime) -> int:
    """Reviews since ``since`` that found a decision accepting the person was not them."""
    return int(
        session.scalar(
            select(func.count())
            .select_from(NonMatch)
            .where(NonMatch.user_id == user_id, NonMatch.created_at >= since)
        )
        or 0
    )


def add_face(
    session: Session,
    *,
    user_id: int,
    event_id: uuid.UUID,
    model: str,
    vector: np.ndarray,
    det_score: float | None,
    quality: float,
    similarity: float,
    threshold: float,
    runner_up: float | None,
    liveness: float | None,
    nearest: float,
    added_at: datetime,
) -> int:
    """Adds the face to the person's template and records why; the addition's id."""
    face = FaceEmbedding(
        user_id=user_id,
        embedding=np.asarray(vector, dtype=np.float32),
        model=model,
        det_score=det_score,
        quality=quality,
        source=f"event {event_id}",
    )
    session.add(face)
    session.flush()
    addition = TemplateAddition(
        user_id=user_id,
        face_id=face.id,
        event_id=event_id,
        model=model,
        added_at=added_at,
        similarity=similarity,
        threshold=threshold,
        runner_up=runner_up,
        liveness=liveness,
        quality=quality,
        nearest=nearest,
    )
    session.add(addition)
    session.flush()
    return int(addition.id)


def list_added(session: Session, user_id: int) -> list[AddedFace]:
    rows = session.execute(
        select(TemplateAddition, User.name)
        .join(User, User.id == TemplateAddition.user_id)
        .where(TemplateAddition.user_id == user_id)
        .order_by(TemplateAddition.added_at, TemplateAddition.id)
    ).all()
    return [_added(a, name) for a, name in rows]


def remove_added(
    session: Session, addition_ids: list[int], *, by: str, why: str, at: datetime
) -> int:
    """Takes the additions' faces out of the template (the records stay, marked
    removed); the number of faces removed."""
    faces = list(
        session.scalars(
            select(TemplateAddition.face_id).where(
                TemplateAddition.id.in_(addition_ids), TemplateAddition.face_id.is_not(None)
            )
        )
    )
    session.execute(
        update(TemplateAddition)
        .where(TemplateAddition.id.in_(addition_ids), TemplateAddition.removed_at.is_(None))
        .values(removed_at=at, removed_by=by, removed_why=why)
    )
    if faces:
        session.execute(delete(FaceEmbedding).where(FaceEmbedding.id.in_(faces)))
    session.flush()
    return len(faces)


def added_from_event(session: Session, event_id: uuid.UUID) -> list[int]:
    """The additions (still in a template) learned from the event."""
    return list(
        session.scalars(
            select(TemplateAddition.id).where(
                TemplateAddition.event_id == event_id, TemplateAddition.face_id.is_not(None)
            )
        )
    )


def add_non_match(
    session: Session,
    *,
    user_id: int,
    event_id: uuid.UUID,
    model: str,
    vector: np.ndarray,
    action: str,
    created_by: str,
) -> None:
    session.add(
        NonMatch(
            user_id=user_id,
            event_id=event_id,
            model=model,
            embedding=np.asarray(vector, dtype=np.float32),
            action=action,
            created_by=created_by,
        )
    )
    session.flush()


def closest_non_match(
    session: Session, user_id: int, model: str, probe: np.ndarray
) -> float | None:
    """The probe's highest similarity to a known non-match of the person; None: none."""
    distance = NonMatch.embedding.cosine_distance(np.asarray(probe, dtype=np.float32))
    best = session.scalar(
        select(func.min(distance)).where(NonMatch.user_id == user_id, NonMatch.model == model)
    )
    return None if best is None else 1.0 - float(best)


def _added(a: TemplateAddition, name: str) -> AddedFace:
    return AddedFace(
        id=a.id,
        person=name,
        event_id=a.event_id,
        model=a.model,
        added_at=a.added_at,
        similarity=a.similarity,
        threshold=a.threshold,
        runner_up=a.runner_up,
        liveness=a.liveness,
        quality=a.quality,
        nearest=a.nearest,
        removed_at=a.removed_at,
        removed_by=a.removed_by,
        removed_why=a.removed_why,
    )


def forget_user(session: Session, user_id: int) -> None:
    """The person's learned-face records and known non-matches go (their erasure: a
    non-match holds the vector of a face that was taken for theirs)."""
    session.execute(delete(TemplateAddition).where(TemplateAddition.user_id == user_id))
    session.execute(delete(NonMatch).where(NonMatch.user_id == user_id))


def accepted_event(session: Session, event_id: uuid.UUID) -> tuple[int, str | None] | None:
    """(person, model) of an accepted event; None for any other decision."""
    row = session.execute(
        select(Attendance.decision, Attendance.user_id, Attendance.model).where(
            Attendance.event_id == event_id
        )
    ).one_or_none()
    if row is None or row.decision != "accepted" or row.user_id is None:
        return None
    return int(row.user_id), row.model


def evidence_probe(session: Session, event_id: uuid.UUID) -> np.ndarray | None:
    """The face vector kept as the event's evidence (None: none was kept)."""
    probe = session.scalar(select(Evidence.embedding).where(Evidence.event_id == event_id))
    return None if probe is None else np.asarray(probe, dtype=np.float32)
