"""`facedb watch` decides like verify (facedb/decision.py through the Matcher), with a
real PostgreSQL, real models and real faces:

- a queue at a door: four people (three enrolled, a stranger) shown one after another
  at the same spot with no empty frame between them are one box track, yet each
  enrolled person is logged once and the stranger as unknown;
- the database stopped in the middle of the watch (the separate embedded server of
  tests/test_outage.py, stopped and started again): the watch goes on from the
  gallery cache, spools, and after the restart every event is in attendance exactly
  once, with the same (decision, person) events as with the database up;
- a photo held up to the camera (a shared spoof sample) is logged as a spoof, with
  its liveness score; a live face is logged with its score too.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import select, text
from test_outage import Server, _kiosk, server, server_root  # noqa: F401 (fixtures)

from benchmarks.scenes import face_crop, queue, write_stills, write_video
from facedb.cli.main import main
from facedb.config import Settings
from facedb.matching import SqlMatcher
from facedb.media.images import read_image
from facedb.offline.spool import Spool
from facedb.policy import GalleryStateCache
from facedb.service import FaceService
from facedb.store.engine import make_engine
from facedb.store.tables.core import Attendance
from facedb.vision.pipeline import FacePipeline
from facedb.watch.events import WatchEvent, WatchFrame
from facedb.watch.loop import WatchOptions, watch

KNN = "face_recognition/examples/knn_examples/train"
ENROL = {  # enrolled from other photos than those in the video
    "Barack Obama": f"{KNN}/obama/obama.jpg",
    "Joe Biden": f"{KNN}/biden/biden.jpg",
    "Eric Clapton": "openface/examples/clapton-1.jpg",
}
QUEUE = [  # in this order, at one spot
    ("Barack Obama", f"{KNN}/obama/obama2.jpg"),
    ("amy adams", "openface/examples/adams.jpg"),  # not enrolled
    ("Joe Biden", f"{KNN}/biden/biden2.jpg"),
    ("Eric Clapton", "openface/examples/clapton-2.jpg"),
]
FRAMES_EACH = 14  # 1.4 s each at 10 frames/s
EXPECTED = [
    ("accepted", "Barack Obama"),
    ("unknown", None),
    ("accepted", "Joe Biden"),
    ("accepted", "Eric Clapton"),
]
# The outage: from the frame after Obama's (decided on the first frames) to the
# middle of Biden's turn; Clapton is decided after the restart.
STOP_AT, START_AT = 8, 3 * FRAMES_EACH - 4


@pytest.fixture(scope="module")
def queue_video(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Path:
    pipeline = FacePipeline(Settings.load())
    people = [(name, face_crop(pipeline, faces_dir / path)) for name, path in QUEUE]
    actors = queue(people, FRAMES_EACH, 230, 150)
    path = tmp_path_factory.mktemp("queue") / "door.avi"
    return write_video(path, actors, FRAMES_EACH * len(QUEUE))


def _rows(database: Server) -> list[tuple[str, str, bool, str | None]]:
    engine = make_engine(database.url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT a.event_id::text, a.decision, a.offline, u.name FROM attendance a "
                    "LEFT JOIN users u ON u.id = a.user_id"
                )
            ).all()
    finally:
        engine.dispose()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def test_a_queue_at_one_spot_and_a_database_outage_in_the_middle(
    server: Server,  # noqa: F811
    faces_dir: Path,
    queue_video: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Cooldown 0: the second run's acceptances are not repeats of the first run's.
    settings = _kiosk(server.url, tmp_path / "kiosk", liveness="off")
    service = FaceService(settings)
    for name, path in ENROL.items():
        service.enrol(name, str(faces_dir / path))

    # 1. The database up: one box track, four people, each decided once.
    # The gallery's size (what the 1:N policy follows) is read once, through the
    # runtime's one cache of it, not per frame or probe.
    service.galleries = GalleryStateCache(ttl_s=3600.0)
    size_reads: list[bool] = []
    read_size = SqlMatcher.gallery_size

    def counted(matcher: SqlMatcher, model: str, scope: Sequence[int] | None = None) -> Any:
        size_reads.append(matcher.offline)
        return read_size(matcher, model, scope)

    monkeypatch.setattr(SqlMatcher, "gallery_size", counted)
    online: list[WatchEvent] = []
    summary = watch(service, WatchOptions(source=str(queue_video)), on_event=online.append)
    assert size_reads == [False]
    monkeypatch.undo()
    assert [(e.decision, e.name) for e in online] == EXPECTED
    assert summary.tracks == 1 and summary.handovers == len(QUEUE) - 1
    assert (summary.accepted, summary.unknown, summary.outages) == (3, 1, 0)
    for event in online:  # verify's 1:N policy, recorded with each decision
        assert event.logged and not event.offline
        assert event.threshold is not None and event.threshold_source is not None
        assert event.gallery_persons == len(ENROL)
        assert event.similarity is not None
        if event.decision == "accepted":
            assert event.similarity >= event.threshold + 0.05
        else:
            assert event.similarity <= event.threshold - 0.05
    assert service.cache_files(), "the watch wrote no gallery cache for an outage"

    # 2. The database stopped in the middle, and started again.
    def outage(frame: WatchFrame) -> None:
        if frame.index == STOP_AT:
            server.stop()
        elif frame.index == START_AT:
            server.start()

    events: list[WatchEvent] = []
    summary = watch(
        service,
        WatchOptions(source=str(queue_video), retry_s=0.0),
        on_event=events.append,
        on_frame=outage,
    )
    service.close()
    assert {(e.decision, e.name) for e in events} == set(EXPECTED)
    assert len(events) == len(EXPECTED) and all(e.logged for e in events)
    assert summary.outages == 1
    offline = [e for e in events if e.offline]
    assert ("unknown", None) in {(e.decision, e.name) for e in offline}
    first, last = events[0], events[-1]
    assert (first.offline, first.name) == (False, "Barack Obama")
    assert (last.offline, last.name) == (False, "Eric Clapton")
    assert summary.offline == len(offline)
    for event in offline:  # decided from the cache with the offline policy, recorded
        assert event.threshold is not None and event.gallery_persons == len(ENROL)

    # Back online, the watch itself sent the spool: every event once in attendance.
    assert Spool(settings.home).status().pending == 0
    rows = _rows(server)
    assert len(rows) == len({r[0] for r in rows}) == len(online) + len(events)
    ids = {str(e.event_id): e for e in events}
    second = [r for r in rows if r[0] in ids]
    assert len(second) == len(events)
    for event_id, decision, was_offline, name in second:
        assert (decision, was_offline, name) == (
            ids[event_id].decision,
            ids[event_id].offline,
            ids[event_id].name,
        )

    # 3. `facedb watch` started while the database is down (it used to exit 12).
    server.stop()
    for key, value in (("DATABASE_URL", server.url), ("HOME", str(settings.home))):
        monkeypatch.setenv(f"FACEDB_{key}", value)
    monkeypatch.setenv("FACEDB_COOLDOWN", "0")
    result = CliRunner().invoke(
        main, ["watch", "--source", str(queue_video), "--max-frames", "6", "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    told = [(e["decision"], e["name"], e["offline"]) for e in lines if e["type"] == "event"]
    assert told == [("accepted", "Barack Obama", True)]
    assert lines[-1]["type"] == "summary" and lines[-1]["outages"] == 1
    assert Spool(settings.home).status().pending == 1


def _canvas(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The image at the top left of a mid-grey frame of the given size."""
    frame = np.full((height, width, 3), 128, dtype=np.uint8)
    frame[: image.shape[0], : image.shape[1]] = image
    return frame


def test_a_photo_held_up_is_logged_as_spoof_with_its_score(
    settings: Settings, faces_dir: Path, tmp_path: Path
) -> None:
    samples = faces_dir / "liveness"
    service = FaceService(settings.replace(liveness="on"))
    service.enrol("T1", str(samples / "real_T1.jpg"))
    live, photo = read_image(samples / "real_T1.jpg"), read_image(samples / "spoof_F1.jpg")
    height = max(live.shape[0], photo.shape[0])
    width = max(live.shape[1], photo.shape[1])
    live_video = write_stills(tmp_path / "live.avi", _canvas(live, height, width), 10)
    photo_video = write_stills(tmp_path / "photo.avi", _canvas(photo, height, width), 10)

    events: list[WatchEvent] = []
    watch(service, WatchOptions(source=str(live_video)), on_event=events.append)
    assert [(e.decision, e.name) for e in events] == [("accepted", "T1")]
    threshold = service.settings.liveness_threshold
    assert events[0].liveness is not None and events[0].liveness > threshold + 0.3
    # The photo, through the command line.
    result = CliRunner().invoke(
        main, ["watch", "--source", str(photo_video), "--liveness", "on", "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    spoofs = [e for e in lines if e["type"] == "event"]
    assert [(e["decision"], e["name"], e["similarity"]) for e in spoofs] == [("spoof", None, None)]
    assert spoofs[0]["liveness"] < threshold - 0.3 and spoofs[0]["logged"]
    assert lines[-1]["spoofs"] == 1
    with service.transaction() as session:
        rows = session.execute(
            select(Attendance.event_id, Attendance.decision, Attendance.liveness)
        ).all()
    service.close()
    logged = {str(r.event_id): (r.decision, r.liveness) for r in rows}
    assert logged == {
        str(events[0].event_id): ("accepted", pytest.approx(events[0].liveness)),
        spoofs[0]["event_id"]: ("spoof", pytest.approx(spoofs[0]["liveness"])),
    }
