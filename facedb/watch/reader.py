"""Reading a live source on its own thread, keeping only the newest frame.

A camera or a stream delivers frames at its own pace. When processing a frame takes
longer than the gap between frames, the frames in between are dropped (and counted),
so the watch always works on what the camera sees now instead of falling behind.

A live source that stops delivering (a stream that drops, a camera unplugged) is
reopened with exponential backoff: ``backoff``, 2x, 4x ... up to ``max_backoff``
seconds, at most ``attempts`` tries in a row. When every try fails the reader gives
up and :meth:`LatestFrameReader.next` raises a SourceError.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from facedb.errors import FacedbError, SourceError
from facedb.media.frames import FrameSource
from facedb.vision.types import Frame

log = logging.getLogger(__name__)

RECONNECT_ATTEMPTS = 5
RECONNECT_BACKOFF_S = 1.0
RECONNECT_MAX_BACKOFF_S = 30.0
# How often a waiting consumer wakes up (so that Ctrl-C is seen promptly).
_POLL_S = 0.2


class LatestFrameReader:
    """Reads ``source`` on a daemon thread; ``reopen`` opens it again after a drop."""

    def __init__(
        self,
        source: FrameSource,
        reopen: Callable[[], FrameSource],
        *,
        attempts: int = RECONNECT_ATTEMPTS,
        backoff: float = RECONNECT_BACKOFF_S,
        max_backoff: float = RECONNECT_MAX_BACKOFF_S,
    ) -> None:
        self.description = source.description
        self._source: FrameSource | None = source
        self._reopen = reopen
        self._attempts = attempts
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._latest: Frame | None = None
        self._finished = False
        self._error: FacedbError | None = None
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="facedb-frame-reader", daemon=True)
        self.read = 0  # frames delivered by the source
        self.dropped = 0  # frames replaced by a newer one before they were taken
        self.reconnects = 0  # successful reopenings

    def start(self) -> LatestFrameReader:
        self._thread.start()
        return self

    def wait(self, timeout: float) -> bool:
        """Waits up to ``timeout`` seconds for a frame (or the source's end); True when
        ``next`` would answer at once."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._latest is None and not self._finished:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(min(left, _POLL_S))
            return True

    def next(self) -> Frame | None:
        """The newest frame not yet taken; waits for one. None when the source has
        ended for good; raises SourceError when it was lost and could not be reopened."""
        with self._changed:
            while self._latest is None and not self._finished:
                self._changed.wait(_POLL_S)
            frame, self._latest = self._latest, None
            if frame is None and self._error is not None:
                raise self._error
            return frame

    def stop(self) -> None:
        """Stops reading; the thread closes the source when its current read returns
        (waits up to 2 s for that: a stalled stream read is left to its own timeout)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)

    # -- the reading thread ------------------------------------------------------

    def _run(self) -> None:
        try:
            self._read_until_stopped()
        except FacedbError as exc:
            self._error = exc
        except Exception as exc:  # a decoder failure must not vanish with the thread
            log.exception("frame reader of %s failed", self.description)
            self._error = SourceError(f"reading {self.description} failed: {exc}")
        finally:
            if self._source is not None:
                self._source.close()
            with self._changed:
                self._finished = True
                self._changed.notify_all()

    def _read_until_stopped(self) -> None:
        failures = 0  # reopenings in a row that delivered no frame
        last = "it delivered no frames"
        while not self._stop.is_set():
            if self._source is None:
                if failures >= self._attempts:
                    raise SourceError(
                        f"lost {self.description} and could not reopen it after "
                        f"{self._attempts} attempts ({last})"
                    )
                delay = min(self._backoff * 2.0**failures, self._max_backoff)
                failures += 1
                log.warning(
                    "reopening %s in %.1f s (attempt %d of %d)",
                    self.description,
                    delay,
                    failures,
                    self._attempts,
                )
                if self._stop.wait(delay):
                    return
                try:
                    self._source = self._reopen()
                except SourceError as exc:
                    last = exc.message
                    continue
                self.reconnects += 1
            if self._drain(self._source):
                failures = 0
            self._source.close()
            self._source = None
            if not self._stop.is_set():
                log.warning("%s stopped delivering frames", self.description)

    def _drain(self, source: FrameSource) -> int:
        """Reads frames until the source ends or the reader stops; returns how many."""
        delivered = 0
        for frame in source:
            if self._stop.is_set():
                break
            delivered += 1
            with self._changed:
                self.read += 1
                if self._latest is not None:
                    self.dropped += 1
                self._latest = frame
                self._changed.notify_all()
        return delivered
