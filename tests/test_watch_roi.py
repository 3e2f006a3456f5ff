"""`facedb watch --roi`: searching only around the tracks (watch/search.py) on most
detection frames makes the same decisions as searching the whole frame every time,
on the shared-faces scenes of tests/test_watch.py (people walking past, coming and
going) and tests/test_watch_decisions.py (a queue at one spot), with a real
PostgreSQL and real models; and the search looks at the whole frame when it must."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_watch import ENROL, IN_VIDEO, scene  # noqa: F401 (fixture)
from test_watch_decisions import QUEUE, queue_video  # noqa: F401 (fixture)

from benchmarks.scenes import background, face_crop
from facedb.config import Settings
from facedb.errors import ConfigError
from facedb.service import FaceService
from facedb.vision.pipeline import FacePipeline
from facedb.watch.events import WatchEvent, WatchFrame
from facedb.watch.loop import WatchOptions, watch
from facedb.watch.search import FULL_EVERY, FaceSearch


def _run(
    service: FaceService, video: Path, roi: bool, every: int
) -> tuple[list[tuple[str, str]], int, int]:
    events: list[WatchEvent] = []
    frames: list[WatchFrame] = []
    options = WatchOptions(source=str(video), detect_every=every, roi=roi)
    summary = watch(service, options, on_event=events.append, on_frame=frames.append)
    assert summary.frames == len(frames)
    detected = sum(f.detected for f in frames)
    in_regions = sum(f.in_regions for f in frames)
    decisions = sorted((e.name or "", e.decision) for e in events)
    return decisions, detected, in_regions


@pytest.mark.parametrize(("scene_name", "every"), [("hall", 1), ("hall", 2), ("queue", 1)])
def test_regions_make_the_same_decisions_as_full_searches(
    settings: Settings,
    faces_dir: Path,
    request: pytest.FixtureRequest,
    scene_name: str,
    every: int,
) -> None:
    if scene_name == "hall":
        video, _ = request.getfixturevalue("scene")
        shown = IN_VIDEO
    else:
        video = request.getfixturevalue("queue_video")
        shown = dict(QUEUE)
    service = FaceService(settings.replace(liveness="off", cooldown=0.0))
    try:
        for name, path in ENROL.items():
            service.enrol(name, str(faces_dir / path))
        full, detected_full, none = _run(service, video, False, every)
        near, detected_near, in_regions = _run(service, video, True, every)
    finally:
        service.close()
    assert none == 0
    assert detected_near == detected_full
    # At most 3 detections in 4 looked only around the tracks. The queue (one face at
    # a time) did most of the time; the hall has two to four faces in view most of the
    # time, whose regions cover more than ROI_MAX_SHARE: mostly full searches there.
    assert 0 < in_regions <= detected_near * (FULL_EVERY - 1) // FULL_EVERY
    if scene_name == "queue":
        assert in_regions > detected_near // 2
    assert near == full
    assert {n for n, d in full if d == "accepted"} == {n for n in ENROL if n in shown}
    assert ("", "unknown") in full


def test_the_whole_frame_is_searched_every_few_detections_and_when_it_must(
    faces_dir: Path,
) -> None:
    pipeline = FacePipeline(Settings.load({"device": "cpu", "det_size": 640}))
    frame = background().copy()
    crop = face_crop(pipeline, faces_dir / IN_VIDEO["Joe Biden"])
    frame[150 : 150 + crop.shape[0], 60 : 60 + crop.shape[1]] = crop
    (face,) = [f for f in pipeline.detect(frame) if f.score >= 0.6]
    here = face.box.astype(np.float64)[None, :]
    search = FaceSearch(pipeline, roi=True)
    turns = [search.detect(frame, here) for _ in range(2 * FULL_EVERY)]
    assert [near for _, near in turns] == [i % FULL_EVERY != 0 for i in range(2 * FULL_EVERY)]
    for faces, _ in turns:  # the same face either way
        (same,) = [f for f in faces if f.score >= 0.6]
        assert float(np.abs(same.box - face.box).max()) < 3.0
    # No track: nothing to look around.
    assert not search.detect(frame, np.zeros((0, 4)))[1]
    # Regions over most of the frame: the whole frame is cheaper.
    assert search.searches % FULL_EVERY != 0
    assert not search.detect(frame, np.array([[100.0, 80.0, 540.0, 400.0]]))[1]
    # Off, or a detector with a fixed input size: always the whole frame.
    assert not FaceSearch(pipeline, roi=False).detect(frame, here)[1]
    fixed = FacePipeline(Settings.load({"device": "cpu", "detector": "scrfd_500m_bnkps"}))
    assert not FaceSearch(fixed, roi=True).roi


def test_the_setting_is_on_or_off() -> None:
    assert Settings.load({"watch_roi": "off"}).watch_roi == "off"
    with pytest.raises(ConfigError, match="watch_roi must be on or off"):
        Settings.load({"watch_roi": "auto"})
