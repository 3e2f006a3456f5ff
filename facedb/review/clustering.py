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
    row indices, each ascending, the groups ordered by their first row.

    A merge needs a cross pair at ``threshold`` or above (a mean is never above the
    largest term), so the groups lie within the connected components of the graph of
    such pairs: each component is clustered on its own."""
    if vectors.ndim != 2:
        raise ValueError("vectors is an [N, D] array")
    n = len(vectors)
    if n == 0:
        return []
    similarity = (vectors @ vectors.T).astype(np.float64)
    groups: list[list[int]] = []
    for component in _components(similarity >= threshold):
        if len(component) == 1:
            groups.append(component)
            continue
        rows = np.asarray(component)
        for members in _upgma(similarity[np.ix_(rows, rows)], threshold):
            groups.append(sorted(component[i] for i in members))
    return sorted(groups, key=lambda g: g[0])


def _components(adjacent: np.ndarray) -> list[list[int]]:
    """Connected components of a boolean adjacency matrix (union-find)."""
    parent = list(range(len(adjacent)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in np.argwhere(np.triu(adjacent, 1)):
        ra, rb = root(int(a)), root(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    found: dict[int, list[int]] = {}
    for i in range(len(adjacent)):
        found.setdefault(root(i), []).append(i)
    return list(found.values())


def _upgma(similarity: np.ndarray, threshold: float) -> list[list[int]]:
    """Average linkage on a similarity matrix, merging while the best mean is at
    ``threshold`` or above; the mean matrix is updated a row at a time."""
    n = len(similarity)
    sums = similarity.copy()  # summed similarity between groups
    sizes = np.ones(n)
    alive = np.ones(n, dtype=bool)
    means = similarity.copy()
    np.fill_diagonal(means, -np.inf)
    members: list[list[int]] = [[i] for i in range(n)]
    while True:
        a, b = divmod(int(np.argmax(means)), n)
        if means[a, b] < threshold:
            break
        a, b = min(a, b), max(a, b)
        # Lance-Williams for average linkage: the sums of similarities just add.
        sums[a, :] += sums[b, :]
        sums[:, a] = sums[a, :]
        sizes[a] += sizes[b]
        alive[b] = False
        members[a].extend(members[b])
        members[b] = []
        row = np.where(alive, sums[a, :] / (sizes[a] * sizes), -np.inf)
        row[a] = -np.inf
        means[a, :] = row
        means[:, a] = row
        means[b, :] = -np.inf
        means[:, b] = -np.inf
    return [m for m in members if m]
