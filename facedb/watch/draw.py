"""Drawing tracks onto a frame: a box per face, a label with the track id, the name
and the similarity, and a status line. Colours are BGR."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from facedb.watch.events import TrackView

ACCEPTED_BGR = (0, 200, 0)  # green: identified
UNKNOWN_BGR = (0, 0, 230)  # red: nobody enrolled matches
PENDING_BGR = (0, 200, 230)  # amber: not decided yet
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def label(track: TrackView) -> str:
    """'#3 Alice 0.62', '#4 unknown 0.12', '#5 ...'."""
    similarity = "" if track.similarity is None else f" {track.similarity:.2f}"
    if track.state == "accepted":
        return f"#{track.track_id} {track.name}{similarity}"
    if track.state == "unknown":
        return f"#{track.track_id} unknown{similarity}"
    if track.state == "spoof":
        return f"#{track.track_id} spoof"
    return f"#{track.track_id} ..."


def draw_tracks(
    image_bgr: np.ndarray, tracks: Sequence[TrackView], status: str | None = None
) -> np.ndarray:
    """A copy of the uint8 BGR frame with the tracks (and ``status``, top left) drawn."""
    out = image_bgr.copy()
    height, width = out.shape[:2]
    thickness = max(1, round(max(height, width) / 800))  # 1 up to 1200 px, then 2 ...
    scale = 0.5 * thickness
    for track in tracks:
        colours = {"accepted": ACCEPTED_BGR, "unknown": UNKNOWN_BGR, "spoof": UNKNOWN_BGR}
        colour = colours.get(track.state, PENDING_BGR)
        x1, y1, x2, y2 = (round(v) for v in track.box)
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness + 1)
        text = label(track)
        (tw, th), base = cv2.getTextSize(text, _FONT, scale, thickness)
        top = y1 - th - base - 4 if y1 - th - base - 4 >= 0 else y2 + 2
        left = min(max(0, x1), max(0, width - tw - 4))
        cv2.rectangle(out, (left, top), (left + tw + 4, top + th + base + 4), colour, -1)
        cv2.putText(
            out, text, (left + 2, top + th + 2), _FONT, scale, (255, 255, 255), thickness,
            cv2.LINE_AA,
        )  # fmt: skip
    if status:
        (tw, th), base = cv2.getTextSize(status, _FONT, scale, thickness)
        cv2.rectangle(out, (0, 0), (tw + 8, th + base + 8), (0, 0, 0), -1)
        cv2.putText(out, status, (4, th + 4), _FONT, scale, (255, 255, 255), thickness, cv2.LINE_AA)
    return out
