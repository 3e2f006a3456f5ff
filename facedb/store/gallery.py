"""People and their face embeddings; 1:1 and 1:N matching, done in SQL.

Similarity is cosine similarity, 1 - (embedding <=> probe), with stored
embeddings L2-normalised. 1:N runs over the HNSW index (hnsw.ef_search set per
transaction, iterative index scans so that the filter on model still returns k
rows), then keeps the best score per person. 1:1 is exact over the claimed
person's own embeddings.
A decision's 1:N is store/search.py's two-stage search over these queries.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from facedb.domain.names import clean_name
from facedb.domain.people import Match, UserSummary
from facedb.errors import DuplicateNameError, InvalidInputError, UnknownUserError
from facedb.store import person_lookup
from facedb.store.tables.base import EMBEDDING_DIM
from facedb.store.tables.core import FaceEmbedding, User
from facedb.store.unique import refused_as_duplicate

# How many nearest embeddings the 1:N query reads before grouping by person.
NEAREST_K = 20


@dataclass(frozen=True)
class NewEmbedding:
    vector: np.ndarray  # float32 [512], L2-normalised
    det_score: float | None
    quality: float | None
    source: str | None


# Nine significant digits give back every float32 exactly; one format operation for
# all 512 values is about three times faster than repr on each (a search formats one
# probe per stage, on the decision's critical path).
_VECTOR_FORMAT = "[" + ",".join(["%.9g"] * EMBEDDING_DIM) + "]"


def vector_literal(vector: np.ndarray) -> str:
    """pgvector's text form of one embedding, checked: 512 finite float32 values."""
    values = np.asarray(vector, dtype=np.float32).reshape(-1)
    if values.shape[0] != EMBEDDING_DIM or not np.isfinite(values).all():
        raise InvalidInputError(f"an embedding has {EMBEDDING_DIM} finite values")
    return _VECTOR_FORMAT % tuple(values.tolist())


def find_user(session: Session, name: str) -> User | None:
    # Both sides lower-cased by PostgreSQL, as the unique index on lower(name) does:
    # Python's str.lower() differs for some letters ("İ" becomes two characters).
    return session.scalars(
        select(User).where(func.lower(User.name) == func.lower(clean_name(name)))
    ).first()


def get_user(session: Session, name: str, *, loose: bool = False) -> User:
    """The person called ``name`` (any case); with ``loose``, else the only one it can
    mean (the unique start of a name, a first name only one person has:
    store/person_lookup.py). Otherwise UnknownUserError with the closest names. Claims
    and changes to people (verify --name, remove, merge) name people exactly."""
    user = find_user(session, name)
    if user is None:
        typed = clean_name(name)
        user = person_lookup.only_match(session, typed) if loose else None
        if user is None:
            raise UnknownUserError(person_lookup.not_found_message(session, typed))
    return user


def find_person(session: Session, name: str, external_id: str | None) -> User | None:
    """The enrolled person a record (an HR export row) names: by ``external_id``, else by
    name. A name enrolled under another external id is someone else: DuplicateNameError."""
    if external_id is not None:
        user = session.scalars(select(User).where(User.external_id == external_id)).first()
        if user is not None:
            return user
    user = find_user(session, name)
    if user is not None and external_id is not None and user.external_id is not None:
        raise DuplicateNameError(
            f"{user.name!r} is already enrolled with external id {user.external_id!r}, "
            f"not {external_id!r}"
        )
    return user


def update_user(
    session: Session,
    user: User,
    *,
    name: str | None = None,
    external_id: str | None = None,
    meta: dict[str, Any] | None = None,
) -> None:
    """Renames the person (a name taken by another: DuplicateNameError), sets the
    external id, and merges ``meta`` over the stored one; None leaves a field alone."""
    values: dict[str, Any] = {}
    if name is not None and clean_name(name) != user.name:
        values["name"] = clean_name(name)
    if external_id is not None and external_id != user.external_id:
        values["external_id"] = external_id
    if meta is not None and {**user.meta, **meta} != user.meta:
        values["meta"] = {**user.meta, **meta}
    if not values:
        return
    with refused_as_duplicate(
        session,
        f"{clean_name(name or user.name)!r} is already enrolled",
        external_id=f"external id {external_id!r} is already enrolled",
    ):
        session.execute(update(User).where(User.id == user.id).values(**values))
    session.refresh(user)


def create_user(
    session: Session, name: str, external_id: str | None = None, meta: dict[str, Any] | None = None
) -> User:
    """Adds a person; a name taken (in any letter case) is DuplicateNameError."""
    if external_id is not None and (
        not external_id.strip()
        or any(unicodedata.category(ch) in ("Cc", "Cs") for ch in external_id)
    ):
        raise InvalidInputError(f"an external id is printable text, not {external_id!r}")
    user = User(name=clean_name(name), external_id=external_id, meta=meta or {})
    session.add(user)
    with refused_as_duplicate(
        session,
        f"{user.name!r} is already enrolled (add the faces to that person instead, "
        "or choose another name)",
        external_id=f"external id {external_id!r} is already enrolled",
    ):
        session.flush()
    return user


def add_embeddings(
    session: Session, user_id: int, embeddings: Sequence[NewEmbedding], model: str
) -> None:
    session.add_all(
        FaceEmbedding(
            user_id=user_id,
            embedding=np.asarray(e.vector, dtype=np.float32),
            model=model,
            det_score=e.det_score,
            quality=e.quality,
            source=e.source,
        )
        for e in embeddings
    )
    session.flush()


def faces_by_model(session: Session, models: Sequence[str]) -> dict[str, int]:
    """How many faces are stored of each of ``models`` (those with none left out)."""
    rows = session.execute(
        select(FaceEmbedding.model, func.count())
        .where(FaceEmbedding.model.in_(list(models)))
        .group_by(FaceEmbedding.model)
    )
    return {str(model): int(count) for model, count in rows}


def replace_embeddings(
    session: Session, user_id: int, embeddings: Sequence[NewEmbedding], model: str
) -> None:
    session.execute(delete(FaceEmbedding).where(FaceEmbedding.user_id == user_id))
    add_embeddings(session, user_id, embeddings, model)


# Local to the transaction (as SET LOCAL), so a pooled connection never carries them
# into another query; sent with the query itself, one round trip (the last
# statement's rows are the result).
_SEARCH_OPTIONS = (
    "SELECT set_config('hnsw.ef_search', :ef_search, true),"
    " set_config('hnsw.iterative_scan', 'relaxed_order', true);"
)

# One round trip for any number of probes: each probe reads its k nearest
# embeddings of the model over the HNSW index (LATERAL), then the best score per
# person is kept and ordered. relaxed_order may return the k rows slightly out of
# order; the outer ORDER BY puts them right. {order} is the ORDER BY expression.
_IDENTIFY_TEMPLATE = """
    SELECT p.idx, u.id, u.name, 1 - min(n.distance) AS similarity
    FROM unnest(CAST(:probes AS vector[])) WITH ORDINALITY AS p(probe, idx)
    CROSS JOIN LATERAL (
        SELECT e.user_id, e.embedding <=> p.probe AS distance
        FROM face_embeddings e
        WHERE e.model = :model
          AND (CAST(:scope AS bigint[]) IS NULL OR e.user_id = ANY(CAST(:scope AS bigint[])))
        ORDER BY {order}
        LIMIT :k
    ) AS n
    JOIN users u ON u.id = n.user_id AND u.active
    GROUP BY p.idx, u.id, u.name
    ORDER BY p.idx, similarity DESC
    """
# The queries alone (benchmarks EXPLAIN them), then with the options before them.
IDENTIFY_QUERY = _IDENTIFY_TEMPLATE.format(order="e.embedding <=> p.probe")
_IDENTIFY_SQL = text(_SEARCH_OPTIONS + IDENTIFY_QUERY)
# A scope of a few people is searched exactly (the "+ 0" keeps the planner off the
# HNSW index, whose filtered walk can stop before it reaches them), through the
# user_id index: a few thousand distances, well under a millisecond's work each.
EXACT_QUERY = _IDENTIFY_TEMPLATE.format(order="(e.embedding <=> p.probe) + 0")
_IDENTIFY_EXACT_SQL = text(_SEARCH_OPTIONS + EXACT_QUERY)
EXACT_SCOPE_PEOPLE = 2000


def identify(
    session: Session,
    probes: np.ndarray,
    model: str,
    *,
    top: int = 5,
    ef_search: int = 100,
    user_ids: Sequence[int] | None = None,
    exact: bool = False,
) -> list[list[Match]]:
    """For each probe (float32 [P, 512]), the best-matching people, most similar first;
    ``user_ids``: only among these people (a site's or group's scope), else everyone.
    ``exact``: a scan of every face's float vector of the model in the scope, not the
    index (store/search.py has stage two's faster scan of binary codes)."""
    probes = np.asarray(probes, dtype=np.float32).reshape(-1, EMBEDDING_DIM)
    if probes.shape[0] == 0:
        return []
    small = is_exact_scope(user_ids)
    statement = _IDENTIFY_EXACT_SQL if exact or small else _IDENTIFY_SQL
    rows = session.execute(
        statement,
        {
            "probes": [vector_literal(p) for p in probes],
            "model": model,
            "k": NEAREST_K,
            "scope": None if user_ids is None else [int(i) for i in user_ids],
            # No floor at k: the iterative scan still returns k rows below it.
            "ef_search": str(int(ef_search)),
        },
    ).all()
    results: list[list[Match]] = [[] for _ in range(probes.shape[0])]
    for idx, user_id, name, similarity in rows:
        matches = results[int(idx) - 1]
        if len(matches) < top:
            matches.append(Match(int(user_id), str(name), float(similarity)))
    return results


def is_exact_scope(user_ids: Sequence[int] | None) -> bool:
    return user_ids is not None and len(user_ids) <= EXACT_SCOPE_PEOPLE


def similarity_to_user(
    session: Session, user_id: int, probe: np.ndarray, model: str
) -> float | None:
    """1:1: the best similarity of the probe to one person's embeddings of this model."""
    distance = FaceEmbedding.embedding.cosine_distance(np.asarray(probe, dtype=np.float32))
    best = session.execute(
        select(func.min(distance)).where(
            FaceEmbedding.user_id == user_id, FaceEmbedding.model == model
        )
    ).scalar()
    return None if best is None else 1.0 - float(best)


def list_users(session: Session) -> list[UserSummary]:
    counts = (
        select(FaceEmbedding.user_id, func.count().label("n"))
        .group_by(FaceEmbedding.user_id)
        .subquery()
    )
    rows = session.execute(
        select(User, func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.user_id == User.id)
        .order_by(func.lower(User.name))
    ).all()
    return [summarise(user, int(n)) for user, n in rows]


def summarise(user: User, embeddings: int) -> UserSummary:
    return UserSummary(
        id=user.id,
        name=user.name,
        external_id=user.external_id,
        active=user.active,
        created_at=user.created_at,
        embeddings=embeddings,
        meta=dict(user.meta),
    )


def count_embeddings(session: Session, user_id: int) -> int:
    return int(
        session.execute(select(func.count()).where(FaceEmbedding.user_id == user_id)).scalar_one()
    )


def rename_user(session: Session, old: str, new: str) -> User:
    user = get_user(session, old)
    with refused_as_duplicate(session, f"{clean_name(new)!r} is already enrolled"):
        session.execute(update(User).where(User.id == user.id).values(name=clean_name(new)))
    session.refresh(user)
    return user


def remove_user(session: Session, name: str) -> int:
    """Deletes a person and (by cascade, in the same transaction) their embeddings.

    Their attendance rows stay, with user_id set to NULL. Returns the embeddings deleted.
    """
    user = get_user(session, name)
    embeddings = count_embeddings(session, user.id)
    session.delete(user)
    session.flush()
    return embeddings


@dataclass(frozen=True)
class GalleryExport:
    """Every person, and every embedding of one model, for a kiosk's offline cache."""

    users: list[tuple[int, str, bool]]  # id, name, active
    owners: np.ndarray  # int64 [N]: user id of each embedding
    embeddings: np.ndarray  # float32 [N, 512]


def export_gallery(session: Session, model: str) -> GalleryExport:
    users = [
        (int(i), str(n), bool(a))
        for i, n, a in session.execute(select(User.id, User.name, User.active).order_by(User.id))
    ]
    rows = session.execute(
        select(FaceEmbedding.user_id, func.vector_send(FaceEmbedding.embedding))
        .where(FaceEmbedding.model == model)
        .order_by(FaceEmbedding.id)
    ).all()
    owners, embeddings = unpack_vectors(rows)
    return GalleryExport(users, owners, embeddings)


def unpack_vectors(rows: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(owner, vector_send(embedding)) rows as owners int64 [N] and float32 [N, 512].

    pgvector's binary form (vector_send: int16 dim, int16 unused, float4 big-endian
    values) is read five times faster than the text form."""
    owners = np.array([r[0] for r in rows], dtype=np.int64)
    vectors = np.zeros((len(rows), EMBEDDING_DIM), np.float32)
    for i, (_, packed) in enumerate(rows):
        vectors[i] = np.frombuffer(packed, dtype=">f4", count=EMBEDDING_DIM, offset=4)
    return owners, vectors


def existing_user_ids(session: Session, ids: set[int]) -> set[int]:
    """Those of ``ids`` that are still people (not removed or forgotten)."""
    if not ids:
        return set()
    return set(session.scalars(select(User.id).where(User.id.in_(sorted(ids)))))


def delete_embeddings(session: Session, user_id: int) -> int:
    """Deletes every stored face of one person (all models); returns how many."""
    result = session.execute(
        delete(FaceEmbedding).where(FaceEmbedding.user_id == user_id).returning(FaceEmbedding.id)
    )
    return len(result.all())


def deactivate_user(session: Session, user_id: int) -> None:
    session.execute(update(User).where(User.id == user_id).values(active=False))
