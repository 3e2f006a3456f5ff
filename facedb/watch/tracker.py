"""A small multi-object tracker for face boxes: one person walking past is one track.

Pure numpy, no models and no database. Each call of :meth:`IouTracker.update` is one
frame with detections, each call of :meth:`IouTracker.predict` one frame without
(skip-frame detection). Boxes are float pixels ``x1, y1, x2, y2``.

Matching, per detection frame:

1. every live track predicts where its face is now: its last observed box moved by
   its velocity (pixels per frame, smoothed) times the frames since it was observed;
2. pairs (track, detection) are taken greedily, highest IoU first, while the IoU is
   at least ``iou_threshold``;
3. what is left is matched greedily by the distance between box centres, when it is
   under ``max_centre_shift`` times the track's box size and the two boxes are of
   similar size (a face that moved fast between two detections);
4. unmatched detections start new tracks; a track unmatched for more than
   ``max_missed`` detection frames ends.

Greedy matching is enough here: faces of different people rarely overlap, and the
Hungarian algorithm would add a dependency for no visible gain.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Boxes = npt.NDArray[np.float64]

# Weight of the newest measurement in the smoothed velocity.
VELOCITY_SMOOTHING = 0.5
# Centre-distance fallback: at most this many box sizes away, and sizes within this ratio.
MAX_CENTRE_SHIFT = 0.6
MAX_SIZE_RATIO = 1.5


@dataclass(frozen=True)
class TrackBox:
    """Where one track is on the current frame."""

    track_id: int
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 pixels
    hits: int  # detection frames on which the track was matched, this one included
    detection: int | None  # index of its detection on this frame; None when predicted


@dataclass(frozen=True)
class TrackerStep:
    """The outcome of one detection frame."""

    assigned: tuple[int, ...]  # the track id of each detection, in detection order
    started: tuple[int, ...]  # tracks created on this frame
    ended: tuple[int, ...]  # tracks that ended on this frame (lost too long)


@dataclass
class _Track:
    track_id: int
    box: Boxes  # last observed, float64 [4]
    velocity: Boxes  # pixels per frame, float64 [4]
    hits: int = 1
    missed: int = 0  # detection frames in a row without a match
    since: int = 0  # frames since last observed (detection and predicted frames)
    seen_now: bool = True  # matched on the latest detection frame

    def predicted(self, frames_ahead: int) -> Boxes:
        moved: Boxes = self.box + self.velocity * frames_ahead
        return moved


def iou_matrix(a: Boxes, b: Boxes) -> Boxes:
    """IoU of every box of ``a`` [N, 4] with every box of ``b`` [M, 4]: float64 [N, M]."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0.0, None) * np.clip(y2 - y1, 0.0, None)
    area_a = np.clip(a[:, 2] - a[:, 0], 0.0, None) * np.clip(a[:, 3] - a[:, 1], 0.0, None)
    area_b = np.clip(b[:, 2] - b[:, 0], 0.0, None) * np.clip(b[:, 3] - b[:, 1], 0.0, None)
    union = area_a[:, None] + area_b[None, :] - inter
    result: Boxes = np.where(union > 0.0, inter / np.maximum(union, 1e-12), 0.0)
    return result


def _sizes(boxes: Boxes) -> Boxes:
    """sqrt(area) of each box: a size in pixels that a centre shift is compared to."""
    widths = np.clip(boxes[:, 2] - boxes[:, 0], 1e-6, None)
    heights = np.clip(boxes[:, 3] - boxes[:, 1], 1e-6, None)
    sizes: Boxes = np.sqrt(widths * heights)
    return sizes


def _greedy(score: Boxes, minimum: float, higher_is_better: bool) -> list[tuple[int, int]]:
    """Pairs (row, column), best score first, each row and column used once."""
    rows, cols = np.nonzero(score >= minimum if higher_is_better else score <= minimum)
    values = score[rows, cols]
    order = np.argsort(-values if higher_is_better else values, kind="stable")
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for k in order:
        r, c = int(rows[k]), int(cols[k])
        if r not in used_rows and c not in used_cols:
            pairs.append((r, c))
            used_rows.add(r)
            used_cols.add(c)
    return pairs


class IouTracker:
    """Tracks boxes across frames; see the module docstring for the rules."""

    def __init__(
        self,
        iou_threshold: float = 0.3,
        max_missed: int = 5,
        max_centre_shift: float = MAX_CENTRE_SHIFT,
    ) -> None:
        if not 0.0 < iou_threshold <= 1.0:
            raise ValueError(f"iou_threshold must be in (0, 1], not {iou_threshold}")
        if max_missed < 0:
            raise ValueError(f"max_missed must be at least 0, not {max_missed}")
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.max_centre_shift = max_centre_shift
        self._tracks: list[_Track] = []
        self._ids = itertools.count(1)
        self._last_detection: dict[int, int] = {}  # track id -> detection index

    def update(self, boxes: npt.ArrayLike) -> TrackerStep:
        """One frame with detections (float [N, 4]; N may be 0)."""
        detections = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        pairs = self._match(self.expected(), detections)
        assigned = [0] * len(detections)
        matched_tracks = set()
        for t_index, d_index in pairs:
            track = self._tracks[t_index]
            observed = detections[d_index]
            step_velocity = (observed - track.box) / (track.since + 1)
            track.velocity = (
                VELOCITY_SMOOTHING * step_velocity + (1.0 - VELOCITY_SMOOTHING) * track.velocity
                if track.hits > 1
                else step_velocity
            )
            track.box = observed.copy()
            track.hits += 1
            track.missed = 0
            track.since = 0
            track.seen_now = True
            assigned[d_index] = track.track_id
            matched_tracks.add(t_index)
        ended: list[int] = []
        kept: list[_Track] = []
        for t_index, track in enumerate(self._tracks):
            if t_index not in matched_tracks:
                track.missed += 1
                track.since += 1
                track.seen_now = False
                if track.missed > self.max_missed:
                    ended.append(track.track_id)
                    continue
            kept.append(track)
        started: list[int] = []
        matched_detections = {d for _, d in pairs}
        for d_index, box in enumerate(detections):
            if d_index in matched_detections:
                continue
            track = _Track(next(self._ids), box.copy(), np.zeros(4, dtype=np.float64))
            kept.append(track)
            assigned[d_index] = track.track_id
            started.append(track.track_id)
        self._tracks = kept
        self._last_detection = {tid: i for i, tid in enumerate(assigned)}
        return TrackerStep(tuple(assigned), tuple(started), tuple(ended))

    def predict(self) -> list[TrackBox]:
        """One frame without detections: tracks seen on the last detection frame move
        on by their velocity. Returns their predicted boxes."""
        for track in self._tracks:
            track.since += 1
        return [
            TrackBox(t.track_id, _as_tuple(t.predicted(t.since)), t.hits, None)
            for t in self._tracks
            if t.seen_now
        ]

    def visible(self) -> list[TrackBox]:
        """The tracks matched on the latest detection frame, with their detections."""
        return [
            TrackBox(t.track_id, _as_tuple(t.box), t.hits, self._last_detection.get(t.track_id))
            for t in self._tracks
            if t.seen_now
        ]

    def expected(self) -> Boxes:
        """Where every track not yet ended (seen now or not) is expected on the next
        frame, as ``update`` predicts it: float64 [N, 4]. Changes nothing."""
        expected: Boxes = np.array(
            [t.predicted(t.since + 1) for t in self._tracks], dtype=np.float64
        ).reshape(-1, 4)
        return expected

    def active_ids(self) -> list[int]:
        """Every track not yet ended, seen now or not."""
        return [t.track_id for t in self._tracks]

    def _match(self, predicted: Boxes, detections: Boxes) -> list[tuple[int, int]]:
        if len(predicted) == 0 or len(detections) == 0:
            return []
        pairs = _greedy(iou_matrix(predicted, detections), self.iou_threshold, True)
        free_t = [i for i in range(len(predicted)) if i not in {t for t, _ in pairs}]
        free_d = [j for j in range(len(detections)) if j not in {d for _, d in pairs}]
        if not free_t or not free_d:
            return pairs
        # Fallback for fast motion: centre distance in units of the track's box size.
        tracks, dets = predicted[free_t], detections[free_d]
        t_size, d_size = _sizes(tracks), _sizes(dets)
        t_centre = (tracks[:, :2] + tracks[:, 2:]) / 2.0
        d_centre = (dets[:, :2] + dets[:, 2:]) / 2.0
        shift = np.linalg.norm(t_centre[:, None, :] - d_centre[None, :, :], axis=2)
        shift /= t_size[:, None]
        ratio = np.maximum(t_size[:, None] / d_size[None, :], d_size[None, :] / t_size[:, None])
        shift = np.where(ratio <= MAX_SIZE_RATIO, shift, np.inf)
        for r, c in _greedy(shift, self.max_centre_shift, False):
            pairs.append((free_t[r], free_d[c]))
        return pairs


def _as_tuple(box: Boxes) -> tuple[float, float, float, float]:
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
