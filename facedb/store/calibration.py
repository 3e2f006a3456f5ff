"""What 1:N decisions are calibrated from, in SQL: the size of the gallery searched,
a sample of its faces for the self-search, the stored gallery calibration, and the
look-alikes recorded at enrolment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import distinct, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session, aliased

from facedb.store.gallery import unpack_vectors
from facedb.store.tables.core import FaceEmbedding, GalleryCalibration, Lookalike, User


@dataclass(frozen=True)
class GallerySize:
    persons: int  # active people with at least one face of the model
    faces: int  # their faces of the model


@dataclass(frozen=True)
class StoredCalibration:
    model: str
    persons: int
    faces: int
    pairs: int
    tail: dict[str, Any]
    computed_at: datetime


@dataclass(frozen=True)
class LookalikeRow:
    name: str
    other: str
    similarity: float
    model: str
    recorded_at: datetime


def gallery_size(
    session: Session, model: str, user_ids: Sequence[int] | None = None
) -> GallerySize:
    """How many active people, and faces of ``model``, a search of this scope compares
    the probe with (``user_ids`` None: everyone)."""
    query = (
        select(func.count(distinct(FaceEmbedding.user_id)), func.count())
        .join(User, User.id == FaceEmbedding.user_id)
        .where(FaceEmbedding.model == model, User.active)
    )
    if user_ids is not None:
        query = query.where(FaceEmbedding.user_id.in_(list(user_ids)))
    persons, faces = session.execute(query).one()
    return GallerySize(int(persons), int(faces))


def sample_faces(session: Session, model: str, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``limit`` faces of active people (all of them when there are fewer; else a
    random sample): float32 [F, 512] and the owner of each, int64 [F]."""
    query = (
        select(FaceEmbedding.user_id, func.vector_send(FaceEmbedding.embedding))
        .join(User, User.id == FaceEmbedding.user_id)
        .where(FaceEmbedding.model == model, User.active)
        .order_by(func.random())
        .limit(limit)
    )
    owners, vectors = unpack_vectors(session.execute(query).all())
    return vectors, owners


def load_calibration(session: Session, model: str) -> StoredCalibration | None:
    row = session.get(GalleryCalibration, model)
    if row is None:
        return None
    return StoredCalibration(
        row.model, row.persons, row.faces, row.pairs, dict(row.tail), row.computed_at
    )


def save_calibration(
    session: Session, model: str, size: GallerySize, pairs: int, tail: dict[str, Any]
) -> None:
    values = {
        "persons": size.persons,
        "faces": size.faces,
        "pairs": pairs,
        "tail": tail,
        "computed_at": func.now(),
    }
    session.execute(
        insert(GalleryCalibration)
        .values(model=model, **values)
        .on_conflict_do_update(index_elements=[GalleryCalibration.model], set_=values)
    )


def calibrated_models(session: Session) -> list[str]:
    """The models that have a stored gallery calibration."""
    return list(
        session.scalars(select(GalleryCalibration.model).order_by(GalleryCalibration.model))
    )


def delete_calibration(session: Session, model: str) -> None:
    row = session.get(GalleryCalibration, model)
    if row is not None:
        session.delete(row)


def record_lookalike(
    session: Session, user_id: int, other_user_id: int, similarity: float, model: str
) -> None:
    values = {"similarity": similarity, "recorded_at": func.now()}
    session.execute(
        insert(Lookalike)
        .values(user_id=user_id, other_user_id=other_user_id, model=model, **values)
        .on_conflict_do_update(constraint="lookalikes_pair_key", set_=values)
    )


def list_lookalikes(session: Session) -> list[LookalikeRow]:
    other = aliased(User)
    rows = session.execute(
        select(User.name, other.name, Lookalike.similarity, Lookalike.model, Lookalike.recorded_at)
        .join(User, User.id == Lookalike.user_id)
        .join(other, other.id == Lookalike.other_user_id)
        .order_by(Lookalike.similarity.desc())
    ).all()
    return [LookalikeRow(str(a), str(b), float(s), str(m), t) for a, b, s, m, t in rows]
