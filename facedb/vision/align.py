"""5-point face alignment to the ArcFace 112x112 template.

A similarity transform (rotation, uniform scale, translation) maps the detector's
five key points onto ``ARCFACE_TEMPLATE``, estimated by Umeyama's least-squares
method (pure numpy, no scikit-image). The template is insightface's ``arcface_dst``
(``python-package/insightface/utils/face_align.py``, MIT).
"""

from __future__ import annotations

import cv2
import numpy as np

ALIGNED_SIZE = 112
# (x, y) in the 112x112 crop: left eye, right eye, nose, mouth left, mouth right.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform taking points ``src`` [N, 2] to ``dst`` [N, 2].

    Returns the float64 [2, 3] affine matrix (Umeyama 1991, with scaling), as
    scikit-image's ``SimilarityTransform.estimate`` computes it.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    n, dim = src.shape
    src_mean = src.mean(axis=0)
    dst_mean = dst.mean(axis=0)
    src_c = src - src_mean
    dst_c = dst - dst_mean
    cov = dst_c.T @ src_c / n
    d = np.ones(dim)
    if np.linalg.det(cov) < 0:
        d[dim - 1] = -1
    u, s, vt = np.linalg.svd(cov)
    rank = np.linalg.matrix_rank(cov)
    if rank == 0:
        return np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    if rank == dim - 1:
        if np.linalg.det(u) * np.linalg.det(vt) > 0:
            rotation = u @ vt
        else:
            saved = d[dim - 1]
            d[dim - 1] = -1
            rotation = u @ np.diag(d) @ vt
            d[dim - 1] = saved
    else:
        rotation = u @ np.diag(d) @ vt
    variance = src_c.var(axis=0).sum()
    scale = float(s @ d) / variance if variance > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * (rotation @ src_mean)
    return matrix


def alignment_matrix(landmarks: np.ndarray) -> np.ndarray:
    """float64 [2, 3] matrix taking image pixels to the 112x112 ArcFace crop."""
    return umeyama(np.asarray(landmarks, dtype=np.float64).reshape(5, 2), ARCFACE_TEMPLATE)


def align_face(image_bgr: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The face warped to the ArcFace template: uint8 [112, 112, 3], same colour order
    as the input (BGR for facedb images). ``landmarks`` float [5, 2] (x, y) pixels."""
    matrix = alignment_matrix(landmarks)
    crop: np.ndarray = cv2.warpAffine(
        image_bgr, matrix, (ALIGNED_SIZE, ALIGNED_SIZE), borderValue=(0.0, 0.0, 0.0)
    )
    return crop
