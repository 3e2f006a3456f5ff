"""The 1:N decision policy: a target false-positive identification rate (FPIR, the
share of searches by people who are not enrolled that return someone) turned into a
similarity threshold for the gallery being searched.

A search compares the probe with every enrolled face in its scope. With ``S(t)`` the
chance that one impostor comparison reaches ``t`` (identification/tail.py) and F faces
searched, a stranger is accepted as someone with probability

    FPIR(t, F) = 1 - (1 - S(t)) ** F

taking the comparisons as independent. They are not quite (a person's faces resemble
each other), which makes the true FPIR lower: the prediction is an upper bound. The
threshold for a target is the t at which FPIR(t, F) equals it, so it rises with the
gallery's size, about 0.03-0.05 for every tenfold (docs/ACCURACY.md).

``S`` mixes two calibrations: the model's own (fitted on development faces, shipped
in the weights manifest) and the gallery's (its enrolled faces searched against each
other, identification/selfsearch.py), weighted by how many impostor comparisons each
rests on, the model's counting as at most ``PRIOR_PAIRS``. A new site starts with the
model's and moves to its own as people enrol.

The threshold is never below the 1:1 threshold: a search is not accepted on weaker
evidence than a claim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from facedb.identification.tail import ImpostorTail

# The most weight the model's development calibration carries against the gallery's.
PRIOR_PAIRS = 50_000


@dataclass(frozen=True)
class Calibration:
    """What the 1:N threshold is derived from."""

    prior: ImpostorTail | None  # the model's, from the weights manifest
    gallery: ImpostorTail | None  # the enrolled gallery against itself

    @property
    def source(self) -> str:
        if self.gallery is not None and self.prior is not None:
            return "gallery+model"
        if self.gallery is not None:
            return "gallery"
        return "model" if self.prior is not None else "none"

    @property
    def usable(self) -> bool:
        return self.prior is not None or self.gallery is not None

    def gallery_weight(self) -> float:
        if self.gallery is None:
            return 0.0
        if self.prior is None:
            return 1.0
        prior_pairs = min(self.prior.pairs, PRIOR_PAIRS)
        return self.gallery.pairs / (self.gallery.pairs + prior_pairs)

    def survival_at(self, t: float) -> float:
        """P(one impostor comparison reaches t)."""
        w = self.gallery_weight()
        value = 0.0
        if self.gallery is not None and w > 0:
            value += w * self.gallery.survival_at(t)
        if self.prior is not None and w < 1:
            value += (1 - w) * self.prior.survival_at(t)
        return value


def predicted_fpir(calibration: Calibration, threshold: float, faces: int) -> float:
    """The share of strangers' searches of ``faces`` enrolled faces that would return
    someone at ``threshold`` (an upper bound, see the module docstring)."""
    if faces <= 0:
        return 0.0
    s = min(max(calibration.survival_at(threshold), 0.0), 1.0)
    if s >= 1.0:
        return 1.0
    return -math.expm1(faces * math.log1p(-s))


def threshold_for_fpir(calibration: Calibration, fpir: float, faces: int) -> float:
    """The lowest threshold whose predicted FPIR over ``faces`` faces is at most ``fpir``."""
    if not 0 < fpir < 1:
        raise ValueError(f"an FPIR target is in (0, 1), not {fpir}")
    lo, hi = -1.0, 1.0
    if predicted_fpir(calibration, lo, max(faces, 1)) <= fpir:
        return lo
    for _ in range(50):  # to ~1e-15
        mid = (lo + hi) / 2
        if predicted_fpir(calibration, mid, max(faces, 1)) > fpir:
            lo = mid
        else:
            hi = mid
    return hi


@dataclass(frozen=True)
class OpenSetThreshold:
    """The 1:N threshold of one search and what it was set from."""

    value: float
    source: str  # fpir (from the target), 1:1 floor, option, setting
    fpir_target: float | None
    predicted_fpir: float | None  # at this threshold and gallery size
    persons: int  # people in the scope searched
    faces: int  # their faces
    calibration: str  # gallery+model, model, gallery, none


def open_set_threshold(
    calibration: Calibration,
    *,
    fpir: float,
    persons: int,
    faces: int,
    one_to_one: float,
) -> OpenSetThreshold:
    """The threshold for a search of ``faces`` faces of ``persons`` people at the
    target ``fpir``, never below the 1:1 threshold ``one_to_one``."""
    if not calibration.usable:
        return OpenSetThreshold(one_to_one, "1:1 floor", fpir, None, persons, faces, "none")
    value = threshold_for_fpir(calibration, fpir, faces)
    source = "fpir"
    if value < one_to_one:
        value, source = one_to_one, "1:1 floor"
    predicted = predicted_fpir(calibration, value, faces)
    return OpenSetThreshold(value, source, fpir, predicted, persons, faces, calibration.source)
