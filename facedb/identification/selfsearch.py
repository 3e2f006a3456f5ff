"""The gallery searched against itself: every enrolled face (or a sample of them) is
compared with the faces of every other person. Those are impostor comparisons of the
site's own population, at no cost in extra data; their tail calibrates the 1:N
threshold (identification/policy.py)."""

from __future__ import annotations

import numpy as np

from facedb.identification.tail import ImpostorTail, TailAccumulator

# All pairs up to this many faces (4.5M comparisons); above it, a sample of probes
# against every face given.
ALL_PAIRS_UP_TO = 3000
MAX_PROBES = 2000
CHUNK = 512
# Below this many impostor pairs (a gallery of about 100 faces) the gallery's tail is
# too noisy to extrapolate (its scale rests on a dozen scores): the model's alone counts.
MIN_GALLERY_PAIRS = 5000


def impostor_tail(vectors: np.ndarray, owners: np.ndarray, *, seed: int = 0) -> ImpostorTail | None:
    """The tail of the similarities between faces of different people.

    ``vectors``: float32 [F, 512], L2-normalised; ``owners``: int [F], the person of
    each face. None with fewer than MIN_GALLERY_PAIRS impostor pairs."""
    x = np.asarray(vectors, dtype=np.float32)
    owner = np.asarray(owners)
    if x.ndim != 2 or x.shape[0] != owner.shape[0]:
        raise ValueError("one owner per face vector is needed")
    accumulator = TailAccumulator()
    count = x.shape[0]
    if count <= ALL_PAIRS_UP_TO:
        for start in range(0, count, CHUNK):
            block = x[start : start + CHUNK] @ x.T
            rows = np.arange(start, min(start + CHUNK, count))
            upper = np.arange(count)[None, :] > rows[:, None]  # each pair once
            different = owner[rows][:, None] != owner[None, :]
            accumulator.add(block[upper & different])
    else:
        rng = np.random.default_rng(seed)
        probes = rng.choice(count, size=MAX_PROBES, replace=False)
        for start in range(0, MAX_PROBES, CHUNK):
            rows = probes[start : start + CHUNK]
            block = x[rows] @ x.T
            accumulator.add(block[owner[rows][:, None] != owner[None, :]])
    if accumulator.pairs < MIN_GALLERY_PAIRS:
        return None
    return accumulator.fit()
