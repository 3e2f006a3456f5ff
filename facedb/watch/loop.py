"""The watch loop: frames in, tracks, decisions and attendance rows out.

For each frame:

1. detect every face (on every ``detect_every``-th frame; in between, the tracks'
   boxes move on by their velocity) and check each face's quality; with ``roi`` (the
   default) the detector searches only around the tracks most of the time, and the
   whole frame every few detections (search.py);
2. track the faces (IoU tracker): one person walking past is one track;
3. judge each track's liveness (a track whose faces are attacks is decided
   ``spoof``), and embed, in one call, the good faces of tracks that want a sample
   (undecided tracks; decided ones now and then, to notice a track taken over by
   someone else: see identity.py), at most ``embed_budget`` a frame, undecided
   tracks first;
4. decide the new probes (each track's template of its best faces) and log what was
   decided, in one transaction, through facedb/decision.py and the Matcher with the
   same 1:N policy as verify (deciding.py): ``accepted`` once per person per
   cooldown, ``unknown``/``ambiguous``/``spoof`` once per track (kind ``identify``).
   In a database outage the decisions are made from the gallery cache and spooled;
5. draw the tracks onto the frame for ``--output`` and ``--show``.

A file is processed frame by frame, every frame. A live source (camera, stream) is
read on its own thread that keeps only the newest frame: frames that arrive while
one is being processed are dropped and counted, and a source that drops is reopened
(see reader.py).

The cooldown runs on the source's clock: a file's position in the video, a live
source's time since the watch began (see deciding.py). Rows carry the wall-clock
time of the decision (for a file too: when it was watched, not when it was filmed).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facedb.config import Settings
from facedb.errors import InvalidInputError, SourceError
from facedb.media.frames import FrameSource, is_live_spec, open_source
from facedb.service import FaceService
from facedb.vision.types import AnalysedFace, Frame
from facedb.watch.deciding import RETRY_S, Decider, Request, request
from facedb.watch.draw import draw_tracks
from facedb.watch.events import TrackView, WatchEvent, WatchFrame, WatchSummary
from facedb.watch.identity import IdentityBook, TrackIdentity, TrackPolicy
from facedb.watch.reader import RECONNECT_ATTEMPTS, RECONNECT_BACKOFF_S, LatestFrameReader
from facedb.watch.search import FaceSearch
from facedb.watch.sinks import VideoSink, Window, check_output
from facedb.watch.tracker import IouTracker, TrackBox

log = logging.getLogger(__name__)

# Detector runs on a live source: every other frame. SCRFD is most of a frame's time
# (docs/BENCHMARKS.md, "Live watch"), and at 10+ frames/s a face moves little in one
# frame, so the tracker's predicted box is as good as a detection for drawing.
LIVE_DETECT_EVERY = 2
# A live source's detection frame is decided when the next frame comes (its
# embeddings run meanwhile), or after this many seconds without one.
SETTLE_WAIT_S = 0.5


@dataclass(frozen=True)
class WatchOptions:
    source: str = "0"
    output: Path | None = None  # annotated video (.mp4, .avi ...)
    show: bool = False  # a window with the annotated frames
    max_faces: int = 0  # faces per frame, highest detector score first; 0 = all
    # Run the detector on every n-th frame and move the boxes by tracking in between;
    # None: every frame of a file, every LIVE_DETECT_EVERY-th of a live source.
    detect_every: int | None = None
    max_frames: int | None = None  # stop after this many processed frames
    threshold: float | None = None  # None: the calibrated or default threshold
    iou_threshold: float = 0.3
    max_missed: int = 5  # detection frames a track may miss before it ends
    # Search only around the tracks on most detection frames (search.py); None: the
    # watch_roi setting (FACEDB_WATCH_ROI, on unless set).
    roi: bool | None = None
    reconnect_attempts: int = RECONNECT_ATTEMPTS  # reopenings in a row of a lost live source
    reconnect_backoff: float = RECONNECT_BACKOFF_S  # seconds before the first, doubling
    policy: TrackPolicy = field(default_factory=TrackPolicy)
    retry_s: float = RETRY_S  # in a database outage: seconds between two attempts to reach it

    def __post_init__(self) -> None:
        if self.max_faces < 0:
            raise InvalidInputError(f"--max-faces must be 0 (all) or more, not {self.max_faces}")
        if self.detect_every is not None and self.detect_every < 1:
            raise InvalidInputError(f"--detect-every must be at least 1, not {self.detect_every}")
        if self.retry_s < 0:
            raise InvalidInputError(f"the retry interval must be 0 or more, not {self.retry_s}")
        if self.max_frames is not None and self.max_frames < 1:
            raise InvalidInputError(f"--max-frames must be at least 1, not {self.max_frames}")


@dataclass
class _Samples:
    """A detection frame's identification, finished on the next one (``_settle``):
    the embeddings of ``chosen`` run on another core meanwhile."""

    chosen: list[tuple[TrackIdentity, AnalysedFace]]
    vectors: Future[np.ndarray] | None
    requests: list[Request]
    index: int
    clock: float


def watch_settings(settings: Settings) -> Settings:
    """The settings a watch runs on: with threads 0 (all cores), one onnxruntime thread
    a model, and a frame's embeddings beside the next detector on another core (two
    intra-op threads gain nothing on 640x480 frames and cost twice the CPU:
    docs/BENCHMARKS.md, "Live watch")."""
    return settings.replace(threads=1) if settings.threads == 0 else settings


EventCallback = Callable[[WatchEvent], None]
FrameCallback = Callable[[WatchFrame], None]


def watch(
    service: FaceService,
    options: WatchOptions,
    *,
    on_event: EventCallback | None = None,
    on_frame: FrameCallback | None = None,
    stop: threading.Event | None = None,
) -> WatchSummary:
    """Watches ``options.source`` until it ends, ``stop`` is set, ``max_frames`` are
    processed, or Ctrl-C; returns the summary. ``on_event`` is called after each
    decision is committed, ``on_frame`` after each frame."""
    window = Window() if options.show else None  # fails now when there is no display
    if options.output is not None:
        check_output(options.output)
    pipeline = service.pipeline
    if is_live_spec(options.source):  # before the camera delivers its first frame
        pipeline.warm_up(liveness=pipeline.liveness_enabled(is_live=True))
    else:
        pipeline.load()
    decider = Decider(service, options.threshold, retry_s=options.retry_s)
    decider.start()
    source = open_source(options.source)
    try:
        watcher = _Watcher(service, options, decider, source, window, on_event, on_frame, stop)
    except BaseException:
        source.close()
        raise
    return watcher.run()


class _Watcher:
    def __init__(
        self,
        service: FaceService,
        options: WatchOptions,
        decider: Decider,
        source: FrameSource,
        window: Window | None,
        on_event: EventCallback | None,
        on_frame: FrameCallback | None,
        stop: threading.Event | None,
    ) -> None:
        self.service = service
        self.options = options
        self.policy = options.policy
        self.decider = decider
        self.source = source
        self.live = source.is_live
        self.detect_every = options.detect_every or (LIVE_DETECT_EVERY if self.live else 1)
        self.window = window
        self.on_event = on_event
        self.on_frame = on_frame
        self.stop = stop
        self.model = service.pipeline.embedder_name
        self.liveness = service.pipeline.liveness_enabled(source.is_live)
        self.tracker = IouTracker(options.iou_threshold, options.max_missed)
        roi = options.roi if options.roi is not None else service.settings.watch_roi == "on"
        self.search = FaceSearch(service.pipeline, roi)
        self.book = IdentityBook(options.policy)
        self.reader: LatestFrameReader | None = None
        self.sink: VideoSink | None = None
        if options.output is not None:
            self.sink = VideoSink(options.output, float(getattr(source, "fps", 0.0)))
        self.frames = 0
        self.tracks = 0
        self.accepted = 0
        self.unknown = 0
        self.repeats = 0
        self.ambiguous = 0
        self.spoofs = 0
        self.offline = 0
        self.people: list[str] = []
        self.lost: str | None = None  # why a live source ended, when it was lost
        # The embeddings of one detection frame overlap the detector of the next on a
        # second core; every track and decision is updated in the same order as frame
        # by frame, a detection frame later (the labels drawn lag by as much).
        self._pending: _Samples | None = None
        self._embedding: ThreadPoolExecutor | None = None
        if (os.cpu_count() or 1) > 1:
            self._embedding = ThreadPoolExecutor(1, thread_name_prefix="facedb-watch-embed")
        self._started = time.monotonic()

    # -- the loop -----------------------------------------------------------------

    def run(self) -> WatchSummary:
        interrupted = False
        started: float | None = None
        try:
            for frame in self._frames():
                if started is None:
                    started = self._started = time.monotonic()
                if not self._process(frame):
                    interrupted = True
                    break
                if self.options.max_frames is not None and self.frames >= self.options.max_frames:
                    break
                if self.stop is not None and self.stop.is_set():
                    interrupted = True
                    break
            self._settle()
        except KeyboardInterrupt:
            interrupted = True
            log.info("interrupted after %d frames", self.frames)
            self._settle()
        finally:
            self._close()
        seconds = time.monotonic() - started if started is not None else 0.0
        self.book.forget(self.tracker.active_ids())
        return WatchSummary(
            source=self.source.description,
            frames=self.frames,
            dropped=self.reader.dropped if self.reader is not None else 0,
            seconds=seconds,
            fps=self.frames / seconds if seconds > 0 else 0.0,
            accepted=self.accepted,
            unknown=self.unknown,
            repeats=self.repeats,
            tracks=self.tracks,
            undecided=self.book.undecided_ended,
            handovers=self.book.handovers,
            people=tuple(self.people),
            reconnects=self.reader.reconnects if self.reader is not None else 0,
            interrupted=interrupted,
            output=str(self.options.output) if self.options.output is not None else None,
            lost=self.lost,
            ambiguous=self.ambiguous,
            spoofs=self.spoofs,
            offline=self.offline,
            outages=self.decider.outages,
        )

    def _frames(self) -> Iterator[Frame]:
        if not self.live:
            yield from self.source
            return
        spec = self.options.source
        self.reader = LatestFrameReader(
            self.source,
            lambda: open_source(spec),
            attempts=self.options.reconnect_attempts,
            backoff=self.options.reconnect_backoff,
        ).start()
        while True:
            if self._pending is not None and not self.reader.wait(SETTLE_WAIT_S):
                self._settle()  # a camera that stalls must not hold a decision back
            try:
                frame = self.reader.next()
            except SourceError as exc:  # lost for good: stop with a summary
                self.lost = exc.message
                return
            if frame is None:
                return
            yield frame

    def _close(self) -> None:
        if self._embedding is not None:
            self._embedding.shutdown(wait=True, cancel_futures=True)
        if self.reader is not None:
            self.reader.stop()
        else:
            self.source.close()
        if self.sink is not None:
            self.sink.close()
        if self.window is not None:
            self.window.close()

    def _clock(self, frame: Frame) -> float:
        """Seconds on the source's clock (see the module docstring)."""
        return time.monotonic() - self._started if self.live else frame.timestamp

    def _process(self, frame: Frame) -> bool:
        """One frame; False when the person closed the window."""
        index = self.frames
        clock = self._clock(frame)
        detected = index % self.detect_every == 0
        in_regions = False
        if detected:
            found, in_regions = self.search.detect(frame.image, self.tracker.expected())
            faces = self.service.pipeline.analyse(
                [frame.image], embed=False, liveness=self.liveness, live=True, detected=[found]
            )[0]
            if self.options.max_faces:
                faces = faces[: self.options.max_faces]
            self._settle()
            step = self.tracker.update(np.array([f.face.box for f in faces]).reshape(-1, 4))
            self.tracks += len(step.started)
            self.book.forget(step.ended)
            boxes = self.tracker.visible()
            self._identify(boxes, faces, index, clock)
        else:
            pending = self._pending
            if pending is not None and (pending.vectors is None or pending.vectors.done()):
                self._settle()  # as soon as its embeddings are there, not a detection later
            boxes = self.tracker.predict()
        self.frames += 1
        views = tuple(self._view(box) for box in boxes)
        if self.sink is not None or self.window is not None:
            image = draw_tracks(frame.image, views, self._status(index))
            if self.sink is not None:
                self.sink.write(image)
            if self.window is not None and not self.window.show(image):
                return False
        if self.on_frame is not None:
            self.on_frame(WatchFrame(index, clock, detected, views, in_regions))
        return True

    # -- identification -------------------------------------------------------------

    def _identify(
        self, boxes: list[TrackBox], faces: list[AnalysedFace], index: int, clock: float
    ) -> None:
        requests: list[Request] = []
        wanted: list[tuple[TrackIdentity, AnalysedFace]] = []
        liveness_threshold = self.service.settings.liveness_threshold
        for box in boxes:
            if box.detection is None or box.hits < self.policy.min_hits:
                continue
            face = faces[box.detection]
            track = self.book.get(box.track_id)
            if track.observe_liveness(face, index, liveness_threshold):
                requests.append(request(track, True, index, clock))
            # A face judged a presentation attack is never used to identify a track.
            if track.attacks or not face.quality.accepted or face.aligned is None:
                continue
            if track.wants_sample(index):
                wanted.append((track, face))
        # Undecided tracks first (fewest samples), then the best faces.
        wanted.sort(key=lambda p: (p[0].settled, len(p[0].samples), -p[1].quality.score))
        chosen = wanted[: self.policy.embed_budget]
        vectors: Future[np.ndarray] | None = None
        if chosen:
            crops = [face.aligned for _, face in chosen if face.aligned is not None]
            embed = self.service.pipeline.embed_aligned
            if self._embedding is not None:
                vectors = self._embedding.submit(embed, crops)
            else:
                vectors = Future()
                vectors.set_result(embed(crops))
        self._pending = _Samples(chosen, vectors, requests, index, clock)
        if self._embedding is None:
            self._settle()

    def _settle(self) -> None:
        """Adds the pending detection frame's embeddings to their tracks, then decides
        and tells what they (and its liveness verdicts) call for."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        requests = pending.requests
        if pending.vectors is not None:
            same_person = self.decider.same_person
            vectors = pending.vectors.result()
            for (track, face), vector in zip(pending.chosen, vectors, strict=True):
                if track.add(face, vector, pending.index, same_person=same_person):
                    requests.append(request(track, False, pending.index, pending.clock))
        if not requests:
            return
        for event in self.decider.decide(requests):  # committed: now they can be told
            self._count(event)
            if self.on_event is not None:
                self.on_event(event)

    def _count(self, event: WatchEvent) -> None:
        self.offline += event.offline
        if event.decision == "unknown":
            self.unknown += 1
        elif event.decision == "ambiguous":
            self.ambiguous += 1
        elif event.decision == "spoof":
            self.spoofs += 1
        elif not event.logged:
            self.repeats += 1
        else:
            self.accepted += 1
            if event.name is not None and event.name not in self.people:
                self.people.append(event.name)

    # -- display ----------------------------------------------------------------------

    def _view(self, box: TrackBox) -> TrackView:
        track = self.book.get(box.track_id)
        if track.person is not None:
            return TrackView(
                box.track_id, box.box, "accepted", track.person.name, track.person.similarity
            )
        similarity = track.best.similarity if track.best is not None else None
        state = "spoof" if track.spoofed else "unknown" if track.unknown_logged else "pending"
        return TrackView(box.track_id, box.box, state, None, similarity)

    def _status(self, index: int) -> str:
        status = f"frame {index}  accepted {self.accepted}  unknown {self.unknown}"
        if self.reader is not None:
            status += f"  dropped {self.reader.dropped}"
        return status
