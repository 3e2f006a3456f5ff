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
from sqlalchemy.orm import Session

from facedb.domain.constants import SEARCH_STAGES
from facedb.domain.people import Match
from facedb.store.gallery import identify, is_exact_scope

# Which stage of a search decided (attendance.search_stage, domain/constants.py).
STAGE_INDEX, STAGE_EXACT = SEARCH_STAGES  # the index's clear accept; an exact scan


@dataclass(frozen=True)
class Search:
    """A decision's 1:N: the people found, most similar first, and the stage that
    found them."""

    matches: list[Match]
    stage: str  # STAGE_INDEX or STAGE_EXACT


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


def two_stage(
    session: Session,
    probe: np.ndarray,
    model: str,
    *,
    threshold: float,
    margin: float,
    clear: float,
    ef_search: int,
    user_ids: Sequence[int] | None = None,
    candidates: int = 0,
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
    exact = identify(session, probe, model, user_ids=user_ids, exact=True, candidates=candidates)[0]
    return Search(exact, STAGE_EXACT)
