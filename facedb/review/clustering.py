"""Unknown faces grouped: average-linkage agglomerative clustering of unit embeddings
at a strict cosine similarity, in numpy. Pure: no database, no models.

Two groups merge while the mean similarity over all their cross pairs is at least
``threshold`` (UPGMA), so one odd photo cannot chain two strangers together as
single linkage would. With FACEDB_CLUSTER_SIMILARITY 0.45 (default) a pair of
different people's faces that close is far rarer than the 1:1 threshold's FAR of
1e-3 at 0.25 (weights/manifest.toml), while most of one person's photos are above it.
"""

from __future__ import annotations

import numpy as np

# The most faces clustered at once (the newest are kept): the merge loop is
# O(n^2) a step, about a second at this size on one core.
MAX_FACES = 2000


def average_linkage(vectors: np.ndarray, threshold: float) -> list[list[int]]:
    """Groups of the rows of ``vectors`` (float32 [N, D], L2-normalised): lists of
    row indices, each ascending, the groups ordered by their first row."""
    n = len(vectors)
    if n == 0:
        return []
    if vectors.ndim != 2:
        raise ValueError("vectors is an [N, D] array")
    sums = (vectors @ vectors.T).astype(np.float64)  # summed similarity between groups
    sizes = np.ones(n, dtype=np.float64)
    alive = np.ones(n, dtype=bool)
    members: list[list[int]] = [[i] for i in range(n)]
    while True:
        means = sums / np.outer(sizes, sizes)
        means[~alive, :] = -np.inf
        means[:, ~alive] = -np.inf
        np.fill_diagonal(means, -np.inf)
        flat = int(np.argmax(means))
        a, b = divmod(flat, n)
        if not np.isfinite(means[a, b]) or means[a, b] < threshold:
            break
        a, b = min(a, b), max(a, b)
        # Lance-Williams for average linkage: the sums of similarities just add.
        sums[a, :] += sums[b, :]
        sums[:, a] += sums[:, b]
        sizes[a] += sizes[b]
        alive[b] = False
        members[a].extend(members[b])
        members[b] = []
    groups = [sorted(m) for m, live in zip(members, alive, strict=True) if live]
    return sorted(groups, key=lambda g: g[0])
