"""facedb's 1:N decision applied to benchmark galleries: the threshold facedb uses for
a gallery of that size and the margin (facedb.decision.judge_search), so that an
approximate search is judged by the decisions it gives, against exact search."""

from __future__ import annotations

import time

import faiss
import numpy as np

from benchmarks.synth import Gallery
from benchmarks.targets import manifest_threshold
from facedb import policy
from facedb.config import Settings
from facedb.decision import ThresholdChoice, judge_search
from facedb.domain.people import Match
from facedb.identification import selfsearch
from facedb.store import gallery as gallery_store
from facedb.store.calibration import GallerySize
from facedb.vision.models import load_manifest

Decision = tuple[str, int]  # (decision, person id or -1)


def policy_threshold(g: Gallery) -> tuple[float, str]:
    """facedb's 1:N threshold for this gallery (facedb.policy.search_policy, the default
    settings), from the model's impostor tail and the gallery's own self-search on a
    sample of its faces, as facedb.policy.refresh_gallery_calibration makes it."""
    spec = next(s for s in load_manifest().values() if s.role == "embedder" and s.default)
    rng = np.random.default_rng(1)
    sample = rng.choice(len(g.vectors), min(policy.SAMPLE_FACES, len(g.vectors)), replace=False)
    own = selfsearch.impostor_tail(g.vectors[sample], g.person[sample])
    state = policy.GalleryState(
        GallerySize(g.people, len(g.vectors)), own.to_json() if own is not None else None
    )
    chosen = policy.search_policy(
        Settings.load({}),
        state,
        spec.impostor_tail,
        ThresholdChoice(manifest_threshold(), "default"),
    ).open_set
    assert chosen is not None
    return chosen.value, chosen.calibration


def decide(matches: list[Match], threshold: float, margin: float) -> Decision:
    verdict = judge_search(matches, threshold, margin)
    return verdict.decision, verdict.person.user_id if verdict.person is not None else -1


def exact_candidates(g: Gallery, probes: np.ndarray) -> tuple[list[list[Match]], list[float]]:
    """Per probe, the people of its NEAREST_K nearest faces by exact search (best score
    per person, most similar first), as identify groups them; and FAISS's ms a probe."""
    faiss.omp_set_num_threads(1)
    index = faiss.IndexFlatIP(g.vectors.shape[1])
    index.add(g.vectors)
    k = gallery_store.NEAREST_K
    similarity, ids = index.search(probes, k)
    out = [people_of(g, sims, rows) for sims, rows in zip(similarity, ids, strict=True)]
    times = []
    for probe in probes[:200]:
        t0 = time.perf_counter()
        index.search(probe[None, :], k)
        times.append((time.perf_counter() - t0) * 1000)
    return out, times


def people_of(g: Gallery, sims: np.ndarray, rows: np.ndarray) -> list[Match]:
    """The people of some faces, best score per person, most similar first."""
    best: dict[int, float] = {}
    for sim, row in zip(sims, rows, strict=True):
        person = int(g.person[row])
        best[person] = max(best.get(person, -1.0), float(sim))
    ranked = sorted(best.items(), key=lambda p: -p[1])
    return [Match(p, f"person-{p}", s) for p, s in ranked]
