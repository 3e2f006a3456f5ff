"""The faces a person has stored for one model, read back for enrolment's choice of
which to keep (usecases/enrolment.py), and those it lets go."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from facedb.store.gallery import unpack_vectors
from facedb.store.tables.core import FaceEmbedding


@dataclass(frozen=True)
class StoredEmbedding:
    id: int
    vector: np.ndarray  # float32 [512], unit length
    quality: float


def stored_embeddings(session: Session, user_id: int, model: str) -> list[StoredEmbedding]:
    """The person's faces of ``model``, oldest first."""
    rows = session.execute(
        select(FaceEmbedding.id, func.vector_send(FaceEmbedding.embedding), FaceEmbedding.quality)
        .where(FaceEmbedding.user_id == user_id, FaceEmbedding.model == model)
        .order_by(FaceEmbedding.id)
    ).all()
    _, vectors = unpack_vectors([(r[0], r[1]) for r in rows])
    return [
        StoredEmbedding(int(r[0]), vectors[i], float(r[2]) if r[2] is not None else 0.0)
        for i, r in enumerate(rows)
    ]


def delete_embedding_ids(session: Session, ids: Sequence[int]) -> None:
    if ids:
        session.execute(delete(FaceEmbedding).where(FaceEmbedding.id.in_(list(ids))))
