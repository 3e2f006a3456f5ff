"""Realistic galleries: the real embeddings of the shared faces, and synthetic identities
whose genuine and impostor similarities follow the real ones.

The model: identity centres c = normalise(a * m + sqrt(1 - a^2) * u), with m the
mean direction of the real embeddings and u a random unit vector; a face of that
identity is e = normalise(c + t * n), n a random unit vector and t drawn per face
from a log-normal law. Two faces of one identity then have a similarity near
1 / (1 + t^2), two faces of different identities near a^2 / (1 + t^2). The median
and spread of t are fitted (by simulation, on a grid) to the mean and standard
deviation of the real genuine similarities, and a to the mean of the real impostor
similarities. The random parts are isotropic in 512 dimensions, which is harder
for an approximate index than real embeddings (these lie closer to a
lower-dimensional set), so recall measured on them is a conservative estimate.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from benchmarks.common import CACHE, FACES

DIM = 512
FACES_PER_PERSON = 5  # facedb keeps up to five embeddings per person


@dataclass(frozen=True)
class RealEmbeddings:
    vectors: np.ndarray  # float32 [N, 512], L2-normalised
    identity: list[str]  # "" when the source names nobody


def _manifest(limit: int | None) -> list[tuple[str, str]]:
    with (FACES / "manifest.csv").open(newline="") as fh:
        rows = [(r["path"], r["identity"]) for r in csv.DictReader(fh)]
    if limit is not None:  # CelebA only, whole identities: for quick runs
        rows = [r for r in rows if r[0].startswith("celeba/")][:limit]
    return rows


def real_embeddings(limit: int | None = None) -> RealEmbeddings:
    """Embeddings of the shared faces (the largest face of a named image, every face of
    the others), computed once with facedb's pipeline and cached in benchmarks/cache."""
    name = "real_embeddings.npz" if limit is None else f"real_embeddings_{limit}.npz"
    cache = CACHE / name
    if cache.exists():
        data = np.load(cache)
        return RealEmbeddings(data["vectors"], [str(s) for s in data["identity"]])
    from facedb.config import Settings
    from facedb.errors import FacedbError
    from facedb.media.images import read_image
    from facedb.vision.pipeline import FacePipeline

    rows = _manifest(limit)
    print(f"benchmarks: embedding {len(rows)} shared images (cached after)", file=sys.stderr)
    pipeline = FacePipeline(Settings.load({"device": "cpu"}))
    vectors: list[np.ndarray] = []
    identity: list[str] = []
    for path, who in rows:
        try:
            faces = pipeline.analyse([read_image(FACES / path)])[0]
        except FacedbError:
            continue
        faces = sorted(faces, key=lambda f: f.face.area, reverse=True)
        for face in faces[:1] if who else faces:
            if face.embedding is not None:
                vectors.append(face.embedding)
                identity.append(who)
    CACHE.mkdir(parents=True, exist_ok=True)
    result = RealEmbeddings(np.stack(vectors).astype(np.float32), identity)
    np.savez(cache, vectors=result.vectors, identity=np.asarray(identity))
    return result


def similarity_pairs(real: RealEmbeddings, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) cosine similarities among the named real faces."""
    by_person: dict[str, list[int]] = {}
    for i, who in enumerate(real.identity):
        if who:
            by_person.setdefault(who, []).append(i)
    v = real.vectors
    genuine = [float(v[i] @ v[j]) for idx in by_person.values() for i, j in combinations(idx, 2)]
    named = [i for idx in by_person.values() for i in idx]
    rng = np.random.default_rng(seed)
    a, b = rng.choice(named, 20_000), rng.choice(named, 20_000)
    keep = [k for k in range(len(a)) if real.identity[a[k]] != real.identity[b[k]]]
    impostor = (v[a[keep]] * v[b[keep]]).sum(axis=1)
    return np.asarray(genuine), impostor


@dataclass(frozen=True)
class SynthModel:
    mean_direction: np.ndarray  # float32 [512], unit
    a: float  # weight of the mean direction in a centre
    t_median: float  # per-face noise scale: log-normal median ...
    t_sigma: float  # ... and sigma of its log
    # Shapes of the random directions (512 x 512, applied as z @ shape): the identity
    # matrix for isotropic ones, else square roots of covariances of real embeddings.
    centre_shape: np.ndarray
    noise_shape: np.ndarray

    @property
    def isotropic(self) -> bool:
        return bool(np.allclose(self.centre_shape, np.eye(DIM)))


# Shrinkage of the real covariances towards isotropic ones: 771 faces estimate a
# 512 x 512 covariance only roughly.
SHRINK = 0.2


def _unit(x: np.ndarray) -> np.ndarray:
    unit: np.ndarray = (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)
    return unit


def _shape(samples: np.ndarray) -> np.ndarray:
    """A square root of the shrunk, trace-normalised covariance of ``samples``."""
    cov = np.cov(samples, rowvar=False)
    cov = (1 - SHRINK) * cov / np.trace(cov) + SHRINK * np.eye(DIM) / DIM
    values, vectors = np.linalg.eigh(cov)
    root: np.ndarray = (vectors * np.sqrt(np.clip(values, 0, None))).T.astype(np.float32)
    return root


def participation_ratio(vectors: np.ndarray) -> float:
    """(sum of eigenvalues)^2 / sum of squares of the covariance: the effective number
    of dimensions the vectors spread over."""
    values = np.linalg.eigvalsh(np.cov(vectors, rowvar=False))
    return float(values.sum() ** 2 / (values**2).sum())


def isotropic_like(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """As many random unit vectors, isotropic, for comparison."""
    rng = np.random.default_rng(seed)
    return _unit(rng.standard_normal(vectors.shape).astype(np.float32))


def _directions(shape: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return _unit(rng.standard_normal((n, DIM)).astype(np.float32) @ shape)


def centres(model: SynthModel, n: int, rng: np.random.Generator) -> np.ndarray:
    u = _directions(model.centre_shape, n, rng)
    return _unit(model.a * model.mean_direction + np.sqrt(1 - model.a**2) * u)


def faces_of(
    model: SynthModel, centre: np.ndarray, per: int, rng: np.random.Generator
) -> np.ndarray:
    """``per`` faces of each centre (float32 [len(centre) * per, 512]), centre-major."""
    c = np.repeat(centre, per, axis=0)
    t = model.t_median * np.exp(model.t_sigma * rng.standard_normal((len(c), 1)))
    n = _directions(model.noise_shape, len(c), rng)
    return _unit(c + t.astype(np.float32) * n)


def _simulate(model: SynthModel, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    v = faces_of(model, centres(model, 400, rng), 2, rng)
    genuine = (v[0::2] * v[1::2]).sum(axis=1)
    impostor = (v[0::2] * np.roll(v[1::2], 1, axis=0)).sum(axis=1)
    return genuine, impostor


def _shapes(real: RealEmbeddings, isotropic: bool) -> tuple[np.ndarray, np.ndarray]:
    """(centre shape, noise shape): the covariance of all real faces, and that of the
    named faces around their person's mean."""
    if isotropic:
        return np.eye(DIM, dtype=np.float32), np.eye(DIM, dtype=np.float32)
    by_person: dict[str, list[int]] = {}
    for i, who in enumerate(real.identity):
        if who:
            by_person.setdefault(who, []).append(i)
    v = real.vectors
    residuals = [
        v[i] - v[idx].mean(axis=0) for idx in by_person.values() if len(idx) > 1 for i in idx
    ]
    return _shape(v), _shape(np.stack(residuals))


def fit(real: RealEmbeddings, seed: int = 0, isotropic: bool = False) -> SynthModel:
    """Fit a, t_median and t_sigma to the real similarities (see the module doc)."""
    genuine, impostor = similarity_pairs(real)
    direction = _unit(real.vectors.mean(axis=0))
    centre_shape, noise_shape = _shapes(real, isotropic)
    rng = np.random.default_rng(seed)
    g_mean, g_std = float(genuine.mean()), float(genuine.std())
    best: tuple[float, SynthModel] | None = None
    a = float(np.sqrt(max(impostor.mean(), 0.0) / max(g_mean, 1e-3)))
    for t_median in np.linspace(0.5, 2.5, 41):
        for t_sigma in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
            model = SynthModel(direction, a, float(t_median), t_sigma, centre_shape, noise_shape)
            sim_g, _ = _simulate(model, rng)
            error = abs(sim_g.mean() - g_mean) + abs(sim_g.std() - g_std)
            if best is None or error < best[0]:
                best = (float(error), model)
    assert best is not None
    model = best[1]
    # Impostor similarity grows as a^2: rescale a to the real impostor mean.
    _, sim_i = _simulate(model, rng)
    target = max(float(impostor.mean()), 0.0)
    a = a * float(np.sqrt(target / sim_i.mean())) if sim_i.mean() > 0 else a
    return SynthModel(
        direction, min(a, 0.95), model.t_median, model.t_sigma, centre_shape, noise_shape
    )


def distributions(real: RealEmbeddings, model: SynthModel, seed: int = 1) -> dict[str, list[float]]:
    """Genuine and impostor similarities, real and synthetic (for the report's plot)."""
    genuine, impostor = similarity_pairs(real)
    rng = np.random.default_rng(seed)
    sim_g, sim_i = _simulate(model, rng)
    return {
        "real_genuine": genuine.tolist(),
        "real_impostor": impostor[:4000].tolist(),
        "synthetic_genuine": sim_g.tolist(),
        "synthetic_impostor": sim_i.tolist(),
    }


@dataclass(frozen=True)
class Gallery:
    vectors: np.ndarray  # float32 [N, 512]; row k is stored with id k + 1
    person: np.ndarray  # int64 [N]: person id (1-based), users inserted in that order
    people: int
    genuine_probes: np.ndarray  # new faces of gallery people
    genuine_person: np.ndarray  # their person ids
    impostor_probes: np.ndarray  # faces of people not in the gallery


def build_gallery(
    real: RealEmbeddings, model: SynthModel, size: int, probes: int, seed: int = 0
) -> Gallery:
    """``size`` embeddings, five per person: the named real faces first (their own
    people), then synthetic people; ``probes`` genuine and ``probes`` impostor probes."""
    rng = np.random.default_rng(seed)
    named = sorted({w for w in real.identity if w})
    real_rows = [i for i, w in enumerate(real.identity) if w]
    real_person = np.asarray([named.index(real.identity[i]) + 1 for i in real_rows])
    n_real = min(len(real_rows), size // 2)
    synthetic_people = (size - n_real + FACES_PER_PERSON - 1) // FACES_PER_PERSON
    synth_centres = centres(model, synthetic_people, rng)
    step = 20_000  # people per block: bounds the temporaries at 1M faces
    blocks = [
        faces_of(model, synth_centres[k : k + step], FACES_PER_PERSON, rng)
        for k in range(0, synthetic_people, step)
    ]
    synth = np.concatenate(blocks)[: size - n_real]
    first_synthetic = len(named) + 1
    synth_person = first_synthetic + np.arange(len(synth)) // FACES_PER_PERSON
    vectors = np.concatenate([real.vectors[real_rows[:n_real]], synth]).astype(np.float32)
    person = np.concatenate([real_person[:n_real], synth_person]).astype(np.int64)
    chosen = rng.choice(synthetic_people, probes)
    genuine = faces_of(model, synth_centres[chosen], 1, rng)
    impostor = faces_of(model, centres(model, probes, rng), 1, rng)
    return Gallery(vectors, person, int(person.max()), genuine, first_synthetic + chosen, impostor)
