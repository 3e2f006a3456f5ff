"""Small numeric helpers shared by the layers that handle embeddings."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# A norm below this counts as this: a zero vector stays zero instead of becoming NaN.
NORM_EPSILON = 1e-12


def l2_normalize(vectors: npt.ArrayLike, axis: int = -1) -> npt.NDArray[np.float32]:
    """``vectors`` divided by their L2 norm along ``axis`` (the last: each row of an
    [N, D] array, or one [D] vector), as a new float32 array. Computed in the input's
    own precision (float64 input is divided in float64, then rounded)."""
    x = np.asarray(vectors)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    norms = np.linalg.norm(x, axis=axis, keepdims=True)
    unit: npt.NDArray[np.float32] = (x / np.maximum(norms, NORM_EPSILON)).astype(
        np.float32, copy=False
    )
    return unit
