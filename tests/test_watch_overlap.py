"""`facedb watch` embeds a detection frame's faces on a second core while the next
frame is read and detected (watch/loop.py ``_settle``): the events are the ones of
strict frame-by-frame processing, the same people, decisions, frames and track ids,
on the shared-faces scenes of tests/test_watch.py (people walking past) and
tests/test_watch_decisions.py (a queue at one spot), with a real PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_watch import ENROL, scene  # noqa: F401 (fixture)
from test_watch_decisions import queue_video  # noqa: F401 (fixture)

from facedb.config import Settings
from facedb.service import FaceService
from facedb.watch import loop
from facedb.watch.events import WatchEvent
from facedb.watch.loop import WatchOptions, watch, watch_settings


def _events(service: FaceService, video: Path) -> list[tuple[int, str, str, int, float]]:
    events: list[WatchEvent] = []
    watch(service, WatchOptions(source=str(video), detect_every=2), on_event=events.append)
    return [
        (e.frame, e.name or "", e.decision, e.track_id, round(e.similarity or 0, 4)) for e in events
    ]


@pytest.mark.parametrize("scene_name", ["hall", "queue"])
def test_overlapped_embeddings_make_the_frame_by_frame_events(
    settings: Settings,
    faces_dir: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    scene_name: str,
) -> None:
    video = request.getfixturevalue("scene")[0] if scene_name == "hall" else None
    if video is None:
        video = request.getfixturevalue("queue_video")
    service = FaceService(watch_settings(settings.replace(liveness="off", cooldown=0.0)))
    try:
        for name, path in ENROL.items():
            service.enrol(name, str(faces_dir / path))
        overlapped = _events(service, video)
        monkeypatch.setattr(loop.os, "cpu_count", lambda: 1)  # no second core: in turn
        in_turn = _events(service, video)
    finally:
        service.close()
    assert overlapped == in_turn
    assert any(decision == "accepted" for _, _, decision, _, _ in in_turn)
    assert len(in_turn) >= 2
