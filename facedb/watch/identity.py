"""Who each track is: the faces embedded for it, its liveness, and what to log.

Pure numpy, no database. The decision itself is facedb/decision.py's, the same as
verify's: this module only says which faces a track's decision uses and when a
decision is to be logged.

A track collects its good-quality faces with their embeddings (at most
``max_samples``, at least ``sample_gap`` frames apart so that they differ); its
probe is the template of its best ones (facedb.vision.capture.mean_embedding of the
``faces_per_decision`` highest-quality faces), steadier than any single frame.
Given the decision on its probe (decision.judge_search):

- accepted: the track is that person from then on: its probe is not identified again;
- unknown or ambiguous: logged once per track, after ``unknown_after`` faces were
  embedded; the track keeps being sampled (up to ``max_samples``) and may still be
  accepted later, when a better face comes;
- otherwise (too few faces yet): wait for more.

Liveness: a face judged a presentation attack is never used to identify. A track
with ``spoof_after`` attack faces in a row is decided ``spoof`` (decision.screen on
those faces) and logged once, with the lowest liveness score.

Tracks follow people, not boxes. A box tracker links a box to the previous frame's
box at the same place, so when one person takes another's place (a queue at a door)
the track goes on. So every settled track is re-checked every ``recheck_every``
frames (and, after one unlike face, at the next sample): each new face is compared,
in memory, with the track's template; below the 1:1 threshold it is a strike, and
``strikes_to_reset`` strikes in a row mean that someone else now has the track. Its
identity starts again from the new face, and is decided and logged again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from facedb.decision import Verdict, is_attack
from facedb.domain.people import Match
from facedb.vision.capture import CapturedFace, mean_embedding
from facedb.vision.types import AnalysedFace

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TrackPolicy:
    """How tracks are sampled and decided (defaults suit 5-30 frames/s)."""

    min_hits: int = 3  # detection frames a track needs before its faces are used
    faces_per_decision: int = 3  # best faces averaged into the track's probe
    unknown_after: int = 3  # faces embedded without a match before "unknown"
    spoof_after: int = 3  # attack faces in a row before "spoof"
    max_samples: int = 5  # faces kept per track for its template
    sample_gap: int = 2  # frames between two samples of an undecided track
    recheck_every: int = 6  # frames between two checks of a settled track
    strikes_to_reset: int = 2  # faces in a row unlike the track's before it is reset
    embed_budget: int = 2  # faces embedded per frame at most (bounds the frame time)

    def __post_init__(self) -> None:
        for name in (
            "min_hits",
            "faces_per_decision",
            "unknown_after",
            "spoof_after",
            "max_samples",
            "sample_gap",
            "recheck_every",
            "strikes_to_reset",
            "embed_budget",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


@dataclass
class TrackIdentity:
    """The mutable state of one track's identification."""

    track_id: int
    policy: TrackPolicy
    samples: list[CapturedFace] = field(default_factory=list)  # embedded good faces
    attacks: list[CapturedFace] = field(default_factory=list)  # attack faces in a row
    last_sample_frame: int | None = None
    person: Match | None = None  # set once accepted
    unknown_logged: bool = False  # unknown or ambiguous logged
    spoof_logged: bool = False
    best: Match | None = None  # the nearest person so far, for display
    strikes: int = 0
    resets: int = 0  # times someone else took the track over

    @property
    def settled(self) -> bool:
        """Accepted, or all its samples taken: from now on only re-checked."""
        return self.person is not None or len(self.samples) >= self.policy.max_samples

    @property
    def spoofed(self) -> bool:
        """Its latest faces are attacks: it is not identified."""
        return len(self.attacks) >= self.policy.spoof_after

    def wants_sample(self, frame: int) -> bool:
        if self.last_sample_frame is None:
            return True
        gap = (
            self.policy.recheck_every
            if self.settled and not self.strikes
            else self.policy.sample_gap
        )
        return frame - self.last_sample_frame >= gap

    def observe_liveness(self, face: AnalysedFace, frame: int, threshold: float) -> bool:
        """Takes the liveness of the track's face on this frame. True when the track
        is to be decided ``spoof`` now (the faces are in ``attacks``)."""
        captured = CapturedFace(face, f"frame {frame}")
        if face.liveness is None or not is_attack(captured, threshold):
            self.attacks.clear()
            return False
        self.attacks.append(captured)
        del self.attacks[: -self.policy.faces_per_decision]
        return self.spoofed and not self.spoof_logged

    def add(self, face: AnalysedFace, vector: Vector, frame: int, same_person: float) -> bool:
        """Takes a newly embedded face. ``same_person``: the cosine similarity to the
        track's template below which the face counts as somebody else's (a strike).
        True when the track's probe changed and must be identified: a new sample of
        an unsettled track, or the first face after a reset."""
        vector = np.asarray(vector, dtype=np.float32)
        captured = CapturedFace(dataclasses.replace(face, embedding=vector), f"frame {frame}")
        self.last_sample_frame = frame
        if self.samples:
            similarity = float(np.dot(vector, self.template()))
            if similarity < same_person:
                self.strikes += 1
                if self.strikes < self.policy.strikes_to_reset:
                    return False
                self._reset()
            else:
                self.strikes = 0
        if self.settled:
            return False
        self.samples.append(captured)
        return True

    def _reset(self) -> None:
        self.samples.clear()
        self.attacks.clear()
        self.person = None
        self.unknown_logged = False
        self.spoof_logged = False
        self.best = None
        self.strikes = 0
        self.resets += 1

    def used(self) -> list[CapturedFace]:
        """The faces the track's decision uses: its ``faces_per_decision`` best."""
        if not self.samples:
            raise ValueError(f"track {self.track_id} has no embedded face")
        ranked = sorted(self.samples, key=lambda c: c.face.quality.score, reverse=True)
        return ranked[: self.policy.faces_per_decision]

    def template(self) -> Vector:
        """The probe: the template (mean_embedding) of the faces ``used``."""
        probe: Vector = mean_embedding(self.used())
        return probe


def to_log(track: TrackIdentity, verdict: Verdict) -> bool:
    """Whether the decision on the track's latest probe (or its attack faces) is to be
    logged now. Pure: :func:`settle` records it once it is committed."""
    if verdict.decision == "spoof":
        return not track.spoof_logged
    if verdict.decision == "accepted":
        return track.person is None
    if verdict.decision in ("unknown", "ambiguous"):
        return not track.unknown_logged and len(track.samples) >= track.policy.unknown_after
    return False


def settle(track: TrackIdentity, verdict: Verdict, nearest: Match | None, logged: bool) -> None:
    """Records a decision on the track: ``logged`` when :func:`to_log` said so (whether
    or not the cooldown let it into attendance)."""
    if nearest is not None and (track.best is None or nearest.similarity > track.best.similarity):
        track.best = nearest
    if not logged:
        return
    if verdict.decision == "spoof":
        track.spoof_logged = True
    elif verdict.decision == "accepted":
        track.person = verdict.person
    else:
        track.unknown_logged = True


class IdentityBook:
    """The identification state of every live track."""

    def __init__(self, policy: TrackPolicy) -> None:
        self.policy = policy
        self._tracks: dict[int, TrackIdentity] = {}
        self.undecided_ended = 0  # tracks that ended with faces but no decision
        self.handovers = 0  # tracks taken over by someone else (identity reset)

    def get(self, track_id: int) -> TrackIdentity:
        track = self._tracks.get(track_id)
        if track is None:
            track = self._tracks[track_id] = TrackIdentity(track_id, self.policy)
        return track

    def forget(self, track_ids: Iterable[int]) -> None:
        for track_id in track_ids:
            track = self._tracks.pop(track_id, None)
            if track is None:
                continue
            self.handovers += track.resets
            decided = track.person is not None or track.unknown_logged or track.spoof_logged
            if track.samples and not decided:
                self.undecided_ended += 1
