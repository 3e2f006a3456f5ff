"""What a watch reports: one event per decision, and a summary at the end."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TrackView:
    """One track as it stands on a frame: what is drawn, and what on_frame sees."""

    track_id: int
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 pixels
    state: str  # accepted | unknown | spoof | pending
    name: str | None  # the person (accepted)
    similarity: float | None  # of the track's best match so far; None before any


@dataclass(frozen=True)
class WatchFrame:
    """One processed frame, for a progress display or a test."""

    index: int  # processed frame number, from 0
    media_time: float
    detected: bool  # False on a frame where boxes were only predicted (skip-frame)
    tracks: tuple[TrackView, ...]
    in_regions: bool = False  # detected only around the tracks (watch/search.py)


@dataclass(frozen=True)
class WatchEvent:
    """A decision about one track, as it happened."""

    decision: str  # accepted | unknown | ambiguous | spoof (facedb/decision.py)
    name: str | None  # who (accepted); None otherwise
    user_id: int | None
    similarity: float | None  # best similarity of the track's probe; None: empty gallery
    nearest: str | None  # the most similar enrolled person, even when below threshold
    threshold: float | None  # the 1:N threshold; None offline without a gallery cache
    track_id: int
    frame: int  # processed frame number of the source, from 0
    media_time: float  # seconds into the video (file) or since the watch began (live)
    occurred_at: datetime  # wall clock, timezone-aware (what the attendance row says)
    logged: bool  # False: the same person was logged within the cooldown
    event_id: uuid.UUID | None  # the attendance row's event_id; None when not logged
    liveness: float | None = None  # lowest liveness of the faces used; None: not checked
    offline: bool = False  # decided from the gallery cache and spooled (database down)
    runner_up: float | None = None  # the second person's similarity
    threshold_source: str | None = None  # calibrated, default, option, setting ...
    gallery_persons: int | None = None  # people searched (the threshold is for them)


@dataclass(frozen=True)
class WatchSummary:
    """How a watch went."""

    source: str
    frames: int  # frames processed
    dropped: int  # frames of a live source skipped to keep up
    seconds: float  # wall clock from the first frame to the end
    fps: float  # processed frames per second
    accepted: int  # attendance rows "accepted" written
    unknown: int  # attendance rows "unknown" written (one per unknown track)
    repeats: int  # acceptances not logged because of the cooldown
    tracks: int  # tracks started
    undecided: int  # tracks that ended with faces seen but no decision
    handovers: int  # tracks that someone else took over (identity started again)
    people: tuple[str, ...]  # names accepted, in order of first acceptance
    reconnects: int  # times a live source was reopened after it dropped
    interrupted: bool  # stopped by Ctrl-C (or the window's q / Esc)
    output: str | None  # the annotated video written, if any
    lost: str | None = None  # a live source lost for good (could not be reopened): why
    ambiguous: int = 0  # rows "ambiguous" (two people too close to tell apart)
    spoofs: int = 0  # rows "spoof" (a track whose faces are presentation attacks)
    offline: int = 0  # events decided from the gallery cache and spooled
    outages: int = 0  # times the database went away during the watch
