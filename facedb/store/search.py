"""A decision's 1:N, in two stages, both SQL (docs/SCALING.md, "Two-stage search").

Stage one is the HNSW index (store/gallery.py identify). The index can only miss
people, never raise a similarity, so its answer can differ from exact search's only
by being worse: an unknown, an ambiguous, or an accept whose person is near the
threshold or the runner-up. Those answers go to stage two, an exact scan of every
face of the model in the scope (no index: it cannot miss anyone), whose answer is
exact search's by construction. A clear accept (``clear`` to spare over the threshold
and the margin) stands: it differs from exact search's only if the index missed a
person within the margin of the one it found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from facedb.domain.constants import SEARCH_STAGES
from facedb.domain.people import Match
from facedb.store.gallery import NEAREST_K, identify, is_exact_scope, vector_literal

# Which stage of a search decided (attendance.search_stage, domain/constants.py).
# The index's clear accept; a scan of every float vector; a scan of the binary codes.
STAGE_INDEX, STAGE_EXACT, STAGE_CODES = SEARCH_STAGES


@dataclass(frozen=True)
class Search:
    """A decision's 1:N: the people found, most similar first, and the stage that
    found them."""

    matches: list[Match]
    stage: str  # STAGE_INDEX, STAGE_EXACT or STAGE_CODES


def is_clear_accept(
    matches: Sequence[Match], threshold: float, margin: float, clear: float
) -> bool:
    """Whether the index's answer accepts with ``clear`` to spare over the threshold and
    over the margin. The index can only miss people, never raise a similarity, so an
    answer it finds doubtful is rechecked; a clear accept is what an exact search
    gives unless the index missed a person within the margin of the one it found.
    The rule is decision.judge_search's acceptance (which the store may not import,
    tests/test_layers.py) with ``clear`` added to both bounds."""
    if not matches or matches[0].similarity < threshold + clear:
        return False
    return len(matches) < 2 or matches[0].similarity - matches[1].similarity >= margin + clear


# Stage two over binary codes, for one probe: the Hamming scan of face_codes keeps the
# :candidates faces whose codes are nearest the probe's (an array computed once, so
# that the faces are then read through their primary key, never scanned), re-ranked
# by their exact distance; the NEAREST_K nearest are grouped by person as stage one
# does. One probe a statement, not a LATERAL join over several, so that the scan can
# run in parallel workers (a Gather Merge of per-worker top-N sorts).
_CODES_SQL = text(
    """
    SELECT u.id, u.name, 1 - min(n.distance) AS similarity
    FROM (
        SELECT e.user_id, e.embedding <=> CAST(:probe AS vector) AS distance
        FROM face_embeddings e
        WHERE e.id = ANY(ARRAY(
            SELECT c.embedding_id FROM face_codes c
            WHERE c.model = :model
              AND (CAST(:scope AS bigint[]) IS NULL OR c.user_id = ANY(CAST(:scope AS bigint[])))
            ORDER BY c.code <~> CAST(binary_quantize(CAST(:probe AS vector)) AS bit(512))
            LIMIT :candidates
        ))
          AND e.model = :model
        ORDER BY distance
        LIMIT :k
    ) AS n
    JOIN users u ON u.id = n.user_id AND u.active
    GROUP BY u.id, u.name
    ORDER BY similarity DESC
    """
)
# The planner's defaults start parallel workers only for scans far larger than the
# codes of a gallery of 100,000 faces (15 MB); a stage-two scan is worth them from
# about a megabyte. Transaction-local: the rest of a decision's transaction (index
# lookups, one insert) plans no scan they would change.
_PARALLEL_SQL = text(
    "SELECT set_config('parallel_setup_cost', '10', true),"
    " set_config('parallel_tuple_cost', '0.001', true),"
    " set_config('min_parallel_table_scan_size', '1MB', true)"
)


def scan_codes(
    session: Session,
    probe: np.ndarray,
    model: str,
    candidates: int,
    user_ids: Sequence[int] | None = None,
    top: int = 5,
) -> list[Match]:
    """Stage two over binary codes: the people of the NEAREST_K faces nearest the probe
    among the ``candidates`` whose codes are nearest its code, most similar first."""
    session.execute(_PARALLEL_SQL)
    rows = session.execute(
        _CODES_SQL,
        {
            "probe": vector_literal(np.asarray(probe, dtype=np.float32).reshape(-1)),
            "model": model,
            "k": NEAREST_K,
            "scope": None if user_ids is None else [int(i) for i in user_ids],
            "candidates": max(int(candidates), NEAREST_K),
        },
    ).all()
    return [Match(int(user_id), str(name), float(sim)) for user_id, name, sim in rows[:top]]


def two_stage(
    session: Session,
    probe: np.ndarray,
    model: str,
    *,
    threshold: float,
    margin: float,
    clear: float,
    ef_search: int,
    candidates: int,  # no default: the caller passes the setting (0 is the float scan)
    user_ids: Sequence[int] | None = None,
) -> Search:
    """1:N for a decision, in two stages: the index (HNSW), whose answer stands only
    when it is a clear accept (``is_clear_accept``); otherwise an exact scan of the
    scope, whose answer is exact search's by construction (``candidates`` 0), or of
    the binary codes of every face in the scope with the ``candidates`` nearest
    re-ranked exactly (exact search's unless a face that decides is not among them)."""
    if is_exact_scope(user_ids):
        return Search(identify(session, probe, model, user_ids=user_ids)[0], STAGE_EXACT)
    first = identify(session, probe, model, ef_search=ef_search, user_ids=user_ids)[0]
    if is_clear_accept(first, threshold, margin, clear):
        return Search(first, STAGE_INDEX)
    if candidates > 0:
        return Search(scan_codes(session, probe, model, candidates, user_ids), STAGE_CODES)
    return Search(identify(session, probe, model, user_ids=user_ids, exact=True)[0], STAGE_EXACT)
