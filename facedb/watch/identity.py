"""Who each track is: the faces embedded for it and the decision made on them.

Pure numpy, no database. A track collects embeddings of its good-quality faces (at
most ``max_samples``, at least ``sample_gap`` frames apart so that they differ); its
probe is the template of its best ones (the mean of the ``faces_per_decision``
highest-quality unit embeddings, re-normalised), which is steadier than any single
frame. The loop identifies the probes of a frame in one SQL round trip and hands the
matches back to :func:`decide`:

- accepted: the best match reaches the threshold. The track is that person from then
  on: its probe is not identified again;
- unknown: ``unknown_after`` faces were embedded and none of their templates reached
  the threshold. Logged once per track; the track keeps being sampled (up to
  ``max_samples``) and may still be accepted later, when a better face comes;
- otherwise undecided: wait for more faces.

A box tracker can hand a track over to somebody else (one person leaves where another
comes in, two people cross). So a decided track is still re-checked every
``recheck_every`` frames, and every new face is compared, in memory, with the track's
template: below the accept threshold it is a strike, and ``strikes_to_reset`` strikes
in a row mean that someone else now has the track. Its identity starts again from
the new face (and is decided and logged again).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from facedb.store.gallery import Match

Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TrackPolicy:
    """How tracks are sampled and decided (defaults suit 5-30 frames/s)."""

    min_hits: int = 3  # detection frames a track needs before its faces are used
    faces_per_decision: int = 3  # best faces averaged into the track's probe
    unknown_after: int = 3  # faces embedded without a match before "unknown"
    max_samples: int = 5  # faces kept per track for its template
    sample_gap: int = 2  # frames between two samples of an undecided track
    recheck_every: int = 30  # frames between two checks of a settled track
    strikes_to_reset: int = 2  # faces in a row unlike the track's before it is reset
    embed_budget: int = 2  # faces embedded per frame at most (bounds the frame time)

    def __post_init__(self) -> None:
        for name in (
            "min_hits",
            "faces_per_decision",
            "unknown_after",
            "max_samples",
            "sample_gap",
            "recheck_every",
            "strikes_to_reset",
            "embed_budget",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")


@dataclass(frozen=True)
class Verdict:
    """A decision about one track, to be logged."""

    decision: str  # accepted | unknown
    match: Match | None  # the person (accepted), or the nearest one (unknown)
    similarity: float | None  # of the best match; None when the gallery is empty


@dataclass
class TrackIdentity:
    """The mutable state of one track's identification."""

    track_id: int
    policy: TrackPolicy
    samples: list[tuple[float, Vector]] = field(default_factory=list)  # (quality, vector)
    last_sample_frame: int | None = None
    person: Match | None = None  # set once accepted
    unknown_logged: bool = False
    best: Match | None = None  # the nearest person so far, for display
    strikes: int = 0
    resets: int = 0  # times someone else took the track over

    @property
    def settled(self) -> bool:
        """Accepted, or all its samples taken: from now on only re-checked."""
        return self.person is not None or len(self.samples) >= self.policy.max_samples

    def wants_sample(self, frame: int) -> bool:
        if self.last_sample_frame is None:
            return True
        gap = self.policy.recheck_every if self.settled else self.policy.sample_gap
        return frame - self.last_sample_frame >= gap

    def add(self, quality: float, vector: Vector, frame: int, same_person: float) -> bool:
        """Takes a newly embedded face. ``same_person``: the cosine similarity to the
        track's template below which the face counts as somebody else's (a strike).
        True when the track's probe changed and must be identified: a new sample of
        an unsettled track, or the first face after a reset."""
        vector = np.asarray(vector, dtype=np.float32)
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
        self.samples.append((quality, vector))
        return True

    def _reset(self) -> None:
        self.samples.clear()
        self.person = None
        self.unknown_logged = False
        self.best = None
        self.strikes = 0
        self.resets += 1

    def template(self) -> Vector:
        """Mean of the ``faces_per_decision`` best-quality unit embeddings, re-normalised."""
        if not self.samples:
            raise ValueError(f"track {self.track_id} has no embedded face")
        best = sorted(self.samples, key=lambda s: s[0], reverse=True)
        vectors = np.stack([v for _, v in best[: self.policy.faces_per_decision]])
        mean = vectors.mean(axis=0)
        result: Vector = (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)
        return result


def decide(track: TrackIdentity, matches: Sequence[Match], threshold: float) -> Verdict | None:
    """Updates ``track`` with the matches of its latest probe (most similar first) and
    returns what to log now, if anything."""
    top = matches[0] if matches else None
    if top is not None and (track.best is None or top.similarity > track.best.similarity):
        track.best = top
    if top is not None and top.similarity >= threshold:
        track.person = top
        return Verdict("accepted", top, top.similarity)
    if not track.unknown_logged and len(track.samples) >= track.policy.unknown_after:
        track.unknown_logged = True
        return Verdict("unknown", top, None if top is None else top.similarity)
    return None


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
            if track.samples and track.person is None and not track.unknown_logged:
                self.undecided_ended += 1
