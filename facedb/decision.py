"""The decision on one attempt, for every front end (verify, watch, the HTTP API and
the kiosk): the faces it used, the claim or none, the matcher's answer and the
policy in, the decision out. Pure: no database, no models, no clock.

The order is fixed: an attack is never matched (spoof), no usable face is no_face
or bad_quality, then a claim is judged against the 1:1 threshold and a search
against the 1:N threshold of the gallery searched, with a margin over the second
person (ambiguous when two people are too close to tell apart).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from facedb.domain.people import Match
from facedb.identification.policy import OpenSetThreshold

if TYPE_CHECKING:  # the vision stack is not loaded by commands that only read the database
    from facedb.vision.capture import CapturedFace


@dataclass(frozen=True)
class ThresholdChoice:
    value: float
    source: str  # option, setting, calibrated, default


@dataclass(frozen=True)
class Verdict:
    decision: str  # accepted, rejected, unknown, ambiguous, no_face, bad_quality, spoof
    person: Match | None  # who was recognised (accepted only)
    similarity: float | None  # of the best person (1:N) or of the claimed one (1:1)
    runner_up: float | None  # 1:N: the second person's similarity
    reasons: tuple[str, ...] = ()


def least_live(faces: Sequence[CapturedFace]) -> CapturedFace | None:
    """The face with the lowest liveness score; None when liveness was not checked."""
    scored = [f for f in faces if f.face.liveness is not None]
    return min(scored, key=lambda f: f.face.liveness or 0.0) if scored else None


def is_attack(captured: CapturedFace, threshold: float) -> bool:
    return captured.face.liveness is not None and captured.face.liveness < threshold


def attack_reason(captured: CapturedFace, threshold: float) -> str:
    return (
        f"presentation attack suspected in {captured.origin}: liveness "
        f"{captured.face.liveness:.3f} < threshold {threshold:.2f}"
    )


def screen(
    used: Sequence[CapturedFace],
    refused: Sequence[CapturedFace],
    refusal_reasons: tuple[str, ...],
    liveness_threshold: float,
) -> Verdict | None:
    """The decisions made before any matching (spoof, no_face, bad_quality), or None
    when the faces ``used`` are to be matched. Liveness judges the faces the decision
    is about: those used, else (none passed the quality gate) those ``refused``."""
    weakest = least_live(used or refused)
    if weakest is not None and is_attack(weakest, liveness_threshold):
        return Verdict("spoof", None, None, None, (attack_reason(weakest, liveness_threshold),))
    if not used:
        decision = "no_face" if not refused else "bad_quality"
        return Verdict(decision, None, None, None, refusal_reasons)
    return None


def judge_claim(claimed: Match | None, similarity: float | None, threshold: float) -> Verdict:
    """1:1: is it the claimed person? ``claimed`` carries the person (its similarity is
    ignored); ``similarity`` None when the person has no face of this model."""
    if claimed is not None and similarity is not None and similarity >= threshold:
        return Verdict(
            "accepted", Match(claimed.user_id, claimed.name, similarity), similarity, None
        )
    return Verdict("rejected", None, similarity, None)


def judge_search(candidates: Sequence[Match], threshold: float, margin: float) -> Verdict:
    """1:N: the best person if they reach ``threshold`` and beat the second by
    ``margin``; ``candidates`` are people, most similar first."""
    if not candidates:
        return Verdict("unknown", None, None, None)
    best = candidates[0]
    second = candidates[1].similarity if len(candidates) > 1 else None
    if best.similarity < threshold:
        return Verdict("unknown", None, best.similarity, second)
    if second is not None and best.similarity - second < margin:
        reason = (
            f"{best.name!r} ({best.similarity:.3f}) and {candidates[1].name!r} "
            f"({second:.3f}) are closer than the margin {margin:.2f}"
        )
        return Verdict("ambiguous", None, best.similarity, second, (reason,))
    return Verdict("accepted", best, best.similarity, second)


@dataclass(frozen=True)
class Policy:
    """The thresholds of one attempt: the 1:1 one, and for a search the 1:N one."""

    one_to_one: ThresholdChoice
    open_set: OpenSetThreshold | None
    margin: float

    @property
    def search_threshold(self) -> float:
        return self.open_set.value if self.open_set is not None else self.one_to_one.value

    @property
    def search_source(self) -> str:
        return self.open_set.source if self.open_set is not None else self.one_to_one.source
