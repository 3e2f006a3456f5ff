"""Where annotated frames go: a video file, a window on the screen."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from facedb.errors import InvalidInputError

log = logging.getLogger(__name__)

# Container -> FourCC that OpenCV's bundled FFmpeg writes without extra codecs.
CODECS = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}
# Frame rate written when the source does not state one (a folder of images, a camera).
DEFAULT_FPS = 15.0
WINDOW_TITLE = "facedb watch (q or Esc to stop)"
_QUIT_KEYS = (ord("q"), ord("Q"), 27)


def check_output(path: Path) -> None:
    """Refuses an output path that cannot be written, before any frame is read."""
    if path.suffix.lower() not in CODECS:
        raise InvalidInputError(
            f"cannot write video {path}: use a name ending in {', '.join(sorted(CODECS))}"
        )
    if not path.parent.is_dir():
        raise InvalidInputError(f"cannot write video {path}: folder {path.parent} does not exist")


class VideoSink:
    """Writes frames to a video; opened on the first frame, whose size it keeps."""

    def __init__(self, path: Path, fps: float) -> None:
        check_output(path)
        self.path = path
        self.fps = fps if 0.0 < fps < 1000.0 else DEFAULT_FPS
        self.frames = 0
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None

    def write(self, image_bgr: np.ndarray) -> None:
        height, width = image_bgr.shape[:2]
        if self._writer is None:
            fourcc = cv2.VideoWriter.fourcc(*CODECS[self.path.suffix.lower()])
            writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (width, height))
            if not writer.isOpened():
                writer.release()
                raise InvalidInputError(f"cannot write video {self.path}: OpenCV refused it")
            self._writer, self._size = writer, (width, height)
        if (width, height) != self._size:  # a folder of images of several sizes
            image_bgr = cv2.resize(image_bgr, self._size)
        self._writer.write(np.ascontiguousarray(image_bgr))
        self.frames += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            log.info("wrote %d frames to %s", self.frames, self.path)


def has_display() -> bool:
    """Whether a window can be opened: always on Windows and macOS; elsewhere only
    with an X11 or Wayland display."""
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


class Window:
    """An OpenCV window showing the annotated frames."""

    def __init__(self) -> None:
        if not has_display():
            raise InvalidInputError(
                "--show needs a display, and none is set (no DISPLAY or WAYLAND_DISPLAY): "
                "use --output to write an annotated video instead"
            )
        self._open = False

    def show(self, image_bgr: np.ndarray) -> bool:
        """Shows the frame; False when the person pressed q or Esc, or closed the window."""
        try:
            if self._open and cv2.getWindowProperty(WINDOW_TITLE, cv2.WND_PROP_VISIBLE) < 1:
                return False
            cv2.imshow(WINDOW_TITLE, image_bgr)
            self._open = True
            key = cv2.waitKey(1) & 0xFF
        except cv2.error as exc:
            raise InvalidInputError(f"cannot open a window: {exc.err or exc}") from None
        return key not in _QUIT_KEYS

    def close(self) -> None:
        if self._open:
            cv2.destroyWindow(WINDOW_TITLE)
            cv2.waitKey(1)
            self._open = False
