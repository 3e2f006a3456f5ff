"""`facedb watch` on a video of real faces walking past, with a real PostgreSQL.

The scene (80 frames, 10 frames/s, 640x480) pastes head-and-shoulders crops of shared
photos onto a wall. Three of the people in it are enrolled from *other* photos of
them; two are not; a fourth enrolled person never appears. Obama walks past twice.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from benchmarks.scenes import Actor, face_crop, mjpeg_server, read_frames, write_video
from facedb.cli.main import main
from facedb.config import Settings
from facedb.decision import judge_search, screen
from facedb.domain.people import Match
from facedb.errors import InvalidInputError, SourceError
from facedb.media.frames import FrameSource, open_source
from facedb.service import FaceService
from facedb.store.tables.core import Attendance, User
from facedb.vision.pipeline import FacePipeline
from facedb.vision.types import AnalysedFace, DetectedFace, QualityVerdict
from facedb.watch.events import WatchEvent, WatchFrame
from facedb.watch.identity import TrackIdentity, TrackPolicy, settle, to_log
from facedb.watch.loop import WatchOptions, watch
from facedb.watch.reader import LatestFrameReader

FRAMES = 80
KNN = "face_recognition/examples/knn_examples/train"
ENROL = {
    "Barack Obama": f"{KNN}/obama/obama.jpg",
    "Joe Biden": f"{KNN}/biden/biden.jpg",
    "Eric Clapton": "openface/examples/clapton-1.jpg",
    "John Lennon": "openface/examples/lennon-1.jpg",  # enrolled, never in the video
}
IN_VIDEO = {
    "Barack Obama": f"{KNN}/obama/obama2.jpg",
    "Joe Biden": f"{KNN}/biden/biden2.jpg",
    "Eric Clapton": "openface/examples/clapton-2.jpg",
    "amy adams": "openface/examples/adams.jpg",  # not enrolled
    "steve carell": "openface/examples/carell.jpg",  # not enrolled
}


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> tuple[Path, list[Actor]]:
    pipeline = FacePipeline(Settings.load())
    crops = {name: face_crop(pipeline, faces_dir / path) for name, path in IN_VIDEO.items()}
    actors = [
        Actor("Barack Obama", crops["Barack Obama"], 0, 35, 10, 40, dx=3),
        Actor("amy adams", crops["amy adams"], 5, 40, 440, 30, dx=-1),
        Actor("Joe Biden", crops["Joe Biden"], 25, 60, 230, 270, dx=2),
        Actor("steve carell", crops["steve carell"], 40, 75, 440, 280, dy=-2),
        Actor("Eric Clapton", crops["Eric Clapton"], 45, 80, 20, 250, dx=2),
        Actor("Barack Obama", crops["Barack Obama"], 62, 80, 230, 30, dx=-1),
    ]
    path = write_video(tmp_path_factory.mktemp("watch") / "hall.avi", actors, FRAMES)
    return path, actors


@pytest.fixture
def service(
    settings: Settings, faces_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaceService]:
    # The scenes are photos pasted on a wall: on a live stream, liveness (on by
    # default for streams) would rightly refuse them. These tests are about
    # tracking, streams and logging, so liveness is off; tests/test_liveness.py
    # covers it.
    monkeypatch.setenv("FACEDB_LIVENESS", "off")
    service = FaceService(settings.replace(liveness="off"))
    for name, path in ENROL.items():
        service.enrol(name, str(faces_dir / path))
    yield service
    service.close()


def test_watch_logs_each_person_once_and_each_unknown_track_once(
    service: FaceService, scene: tuple[Path, list[Actor]], tmp_path: Path
) -> None:
    video, actors = scene
    output = tmp_path / "annotated.mp4"
    result = CliRunner().invoke(
        main, ["watch", "--source", str(video), "--output", str(output), "--json"]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    events = [line for line in lines if line["type"] == "event"]
    summary = lines[-1]
    assert summary["type"] == "summary"

    logged = [e for e in events if e["logged"]]
    accepted = sorted(e["name"] for e in logged if e["decision"] == "accepted")
    assert accepted == ["Barack Obama", "Eric Clapton", "Joe Biden"]
    assert [e["name"] for e in logged if e["decision"] == "unknown"] == [None, None]
    # Obama's second walk is a new track, recognised but within the cooldown.
    repeats = [e for e in events if not e["logged"]]
    assert [(e["decision"], e["name"]) for e in repeats] == [("accepted", "Barack Obama")]
    assert repeats[0]["frame"] >= 62
    for event in events:
        if event["decision"] == "accepted":
            assert event["similarity"] >= event["threshold"]
        else:
            assert event["similarity"] < event["threshold"]
    assert summary["frames"] == FRAMES
    assert summary["dropped"] == 0
    assert (summary["accepted"], summary["unknown"], summary["repeats"]) == (3, 2, 1)
    assert summary["tracks"] == len(actors)

    with service.transaction() as session:
        rows = session.execute(
            select(Attendance.decision, Attendance.kind, User.name, Attendance.device)
            .outerjoin(User, User.id == Attendance.user_id)
            .order_by(Attendance.occurred_at)
        ).all()
    assert sorted((d, n or "") for d, _, n, _ in rows) == [
        ("accepted", "Barack Obama"),
        ("accepted", "Eric Clapton"),
        ("accepted", "Joe Biden"),
        ("unknown", ""),
        ("unknown", ""),
    ]
    assert {kind for _, kind, _, _ in rows} == {"identify"}
    assert {device for _, _, _, device in rows} == {service.settings.device_name}

    # The annotated video: same frames and size, boxes drawn where the faces are.
    source_frames, drawn_frames = read_frames(video), read_frames(output)
    assert len(drawn_frames) == len(source_frames) == FRAMES
    assert drawn_frames[0].shape == source_frames[0].shape == (480, 640, 3)
    k = 30  # Obama (decided), Adams (decided) and Biden (new) are in view
    diff = np.abs(drawn_frames[k].astype(np.int16) - source_frames[k].astype(np.int16)).max(axis=2)
    for actor in actors:
        rect = actor.rect(k)
        if rect is None:
            continue
        x1, y1, x2, y2 = rect
        region = diff[max(y1, 0) : y2, max(x1, 0) : x2]
        assert (region > 80).mean() > 0.01, f"nothing drawn on {actor.name} at frame {k}"
    empty_wall = diff[240:260, 250:400]  # between the people: nothing drawn there
    assert (empty_wall > 80).mean() < 0.01


def test_watch_library_tracks_and_stops(
    service: FaceService, scene: tuple[Path, list[Actor]]
) -> None:
    video, _ = scene
    events: list[WatchEvent] = []
    frames: list[WatchFrame] = []
    summary = watch(
        service,
        WatchOptions(source=str(video), max_frames=30, detect_every=2),
        on_event=events.append,
        on_frame=frames.append,
    )
    assert summary.frames == 30 and not summary.interrupted
    assert [f.detected for f in frames[:4]] == [True, False, True, False]
    # Obama walks right 3 px a frame: one track, whose box follows him.
    obama = [t for f in frames for t in f.tracks if t.track_id == frames[0].tracks[0].track_id]
    assert len(obama) == 30
    assert obama[-1].box[0] - obama[0].box[0] == pytest.approx(3 * 29, abs=12)
    assert [e.name for e in events if e.decision == "accepted"] == ["Barack Obama"]
    assert obama[-1].state == "accepted" and obama[-1].name == "Barack Obama"


def test_watch_ctrl_c_stops_with_a_summary(
    service: FaceService, scene: tuple[Path, list[Actor]]
) -> None:
    video, _ = scene

    def interrupt(frame: WatchFrame) -> None:
        if frame.index == 4:
            raise KeyboardInterrupt

    summary = watch(service, WatchOptions(source=str(video)), on_frame=interrupt)
    assert summary.interrupted
    assert summary.frames == 5


def _default_sigint() -> None:
    # A job started with & in a script ignores SIGINT, and so would its children:
    # the watch must get Ctrl-C as a terminal gives it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_on_a_live_stream_exits_cleanly_with_a_summary(
    service: FaceService, scene: tuple[Path, list[Actor]], stop: signal.Signals
) -> None:
    """Ctrl-C, or a service manager's SIGTERM, ends a live watch with its summary."""
    video, _ = scene
    with mjpeg_server(read_frames(video) * 2, fps=10, connections=1) as url:
        process = subprocess.Popen(
            [sys.executable, "-m", "facedb.cli", "watch", "--source", url, "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_default_sigint,
        )
        assert process.stdout is not None
        first = process.stdout.readline()  # the first decision: the watch is running
        process.send_signal(stop)
        rest, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors
    assert json.loads(first)["type"] == "event"
    summary = json.loads(rest.splitlines()[-1])
    assert summary["type"] == "summary" and summary["interrupted"] is True
    assert summary["frames"] > 0 and summary["lost"] is None
    assert "Traceback" not in errors


def test_a_live_watch_runs_its_models_before_the_first_frame(
    service: FaceService, scene: tuple[Path, list[Actor]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """onnxruntime's first runs cost 100-150 ms: on a live source they would be frames
    dropped on the first faces, so a live watch pays them before opening the source;
    a file (nothing to drop) does not."""
    video, _ = scene
    calls: list[str] = []
    warm_up = service.pipeline.warm_up

    def warming(**kwargs: bool) -> None:
        calls.append("warm")
        warm_up(**kwargs)

    def opening(spec: str) -> FrameSource:
        calls.append("open")
        return open_source(spec)

    monkeypatch.setattr(service.pipeline, "warm_up", warming)
    monkeypatch.setattr("facedb.watch.loop.open_source", opening)
    with mjpeg_server(read_frames(video)[:10], fps=30, connections=1) as url:
        watch(service, WatchOptions(source=url, reconnect_attempts=0, max_frames=3))
    assert calls[:2] == ["warm", "open"]
    calls.clear()
    watch(service, WatchOptions(source=str(video), max_frames=3))
    assert calls == ["open"]


def test_a_stalled_camera_does_not_hold_a_decision_back(
    service: FaceService, scene: tuple[Path, list[Actor]]
) -> None:
    """A live detection frame is decided when the next frame comes (its embeddings run
    meanwhile); a camera that then stalls must not hold the decision until it delivers
    again. Obama is in view from the first frame: his first sample is taken on the
    third detection (frame 4), and the stream stalls right after it for 8 s."""
    video, _ = scene
    frames: list[float] = []
    events: list[tuple[float, WatchEvent]] = []
    with mjpeg_server(read_frames(video)[:7], fps=10, connections=1, stall=(5, 8.0)) as url:
        watch(
            service,
            WatchOptions(source=url, reconnect_attempts=0),
            on_event=lambda e: events.append((time.monotonic(), e)),
            on_frame=lambda f: frames.append(time.monotonic()),
        )
    accepted = [(t, e) for t, e in events if e.decision == "accepted"]
    assert accepted and accepted[0][1].name == "Barack Obama"
    stalled_at = frames[4]  # the fifth frame, the last before the stall
    assert accepted[0][0] - stalled_at < 4.0  # not 8 s later, when the stream went on


def test_warm_up_runs_the_liveness_model_only_when_asked(settings: Settings) -> None:
    pipeline = FacePipeline(settings)
    pipeline.warm_up(liveness=False)
    assert pipeline._detector is not None and pipeline._liveness is None
    pipeline.warm_up(liveness=True)
    assert pipeline._liveness is not None


def test_watch_refuses_bad_sources_and_outputs(settings: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["watch", "--source", str(tmp_path / "nope.mp4")])
    assert missing.exit_code == SourceError.exit_code
    assert "cannot open" in missing.output and "Traceback" not in missing.output
    nobody = runner.invoke(main, ["watch", "--source", "http://127.0.0.1:1/stream.mjpg"])
    assert nobody.exit_code == SourceError.exit_code
    assert "cannot open http://127.0.0.1:1/stream.mjpg: no answer from the server" in nobody.output
    bad_output = runner.invoke(main, ["watch", "--output", str(tmp_path / "out.gif")])
    assert bad_output.exit_code == InvalidInputError.exit_code
    assert "use a name ending in" in bad_output.output


def test_show_without_a_display_is_a_clear_error(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = CliRunner().invoke(main, ["watch", "--show"])
    assert result.exit_code == InvalidInputError.exit_code
    assert "--show needs a display" in result.output


def test_watch_a_live_stream_drops_frames_reconnects_and_stops_when_lost(
    service: FaceService, scene: tuple[Path, list[Actor]]
) -> None:
    video, _ = scene
    frames = read_frames(video)
    events: list[WatchEvent] = []
    # 100 frames/s is faster than faces are analysed on a CPU: frames must be dropped.
    with mjpeg_server(frames, fps=100, connections=2) as url:
        summary = watch(
            service,
            WatchOptions(source=url, reconnect_attempts=2, reconnect_backoff=0.1),
            on_event=events.append,
        )
    assert summary.reconnects == 1  # the stream dropped once and came back
    assert summary.lost is not None and "could not reopen it after 2 attempts" in summary.lost
    assert summary.frames + summary.dropped == 2 * FRAMES
    assert summary.dropped > 0 and summary.frames > 0
    assert not summary.interrupted
    assert {e.name for e in events if e.decision == "accepted"} <= set(ENROL) - {"John Lennon"}


def test_reader_drops_frames_it_cannot_keep_up_with_and_gives_up_on_a_dead_source(
    scene: tuple[Path, list[Actor]],
) -> None:
    video, _ = scene
    opened = []

    def reopen() -> FrameSource:
        opened.append(1)
        if len(opened) > 1:
            raise SourceError("cannot open stream: no answer")
        return open_source(str(video))

    reader = LatestFrameReader(open_source(str(video)), reopen, attempts=3, backoff=0.01).start()
    taken = 0
    with pytest.raises(SourceError, match="could not reopen it after 3 attempts"):
        while reader.next() is not None:
            taken += 1
            time.sleep(0.02)  # slower than the file decodes
    reader.stop()
    assert reader.reconnects == 1  # the first reopening worked, then the source died
    assert reader.read == 2 * FRAMES
    assert taken + reader.dropped == reader.read
    assert reader.dropped > 0


# -- per-track decisions, on synthetic unit vectors -------------------------------------


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(512, dtype=np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


def seen(quality: float = 0.9, liveness: float | None = None, good: bool = True) -> AnalysedFace:
    """A face as the pipeline reports it (not embedded: watch embeds the aligned crop)."""
    box = np.array([0, 0, 100, 100], dtype=np.float32)
    verdict = QualityVerdict(good, (), 100, 0.9, 100.0, 0.0, 0.0, quality)
    return AnalysedFace(
        DetectedFace(box, 0.9, np.zeros((5, 2), np.float32)), verdict, None, liveness
    )


def judged(track: TrackIdentity, matches: list[Match], threshold: float = 0.3) -> str | None:
    """What the loop does with a track's new probe: decision.judge_search, then
    logged if identity.to_log says so (returns the decision logged)."""
    verdict = judge_search(matches, threshold, margin=0.05)
    logged = to_log(track, verdict)
    settle(track, verdict, matches[0] if matches else None, logged)
    return verdict.decision if logged else None


def test_a_track_is_decided_on_the_template_of_its_best_faces() -> None:
    policy = TrackPolicy(faces_per_decision=2, unknown_after=3)
    track = TrackIdentity(1, policy)
    alice = Match(7, "Alice", 0.25)
    assert track.wants_sample(0)
    assert track.add(seen(0.9), unit(1, 0.2), 0, same_person=0.3)
    assert not track.wants_sample(1) and track.wants_sample(2)  # sample_gap 2
    assert judged(track, [alice]) is None  # below threshold, 1 face
    assert track.add(seen(0.5), unit(1, -0.2), 2, same_person=0.3)
    assert track.add(seen(0.8), unit(1, 0.0), 4, same_person=0.3)
    # The template: the two best-quality faces (0.9 and 0.8), averaged, unit length.
    expected = unit(1, 0.2) + unit(1, 0.0)
    np.testing.assert_allclose(track.template(), expected / np.linalg.norm(expected), atol=1e-6)
    assert judged(track, [alice]) == "unknown"
    assert judged(track, [alice]) is None  # unknown is said once
    assert judged(track, [Match(7, "Alice", 0.41)]) == "accepted"
    assert track.person == Match(7, "Alice", 0.41)
    assert not track.wants_sample(6) and track.wants_sample(4 + policy.recheck_every)


def test_two_people_too_close_are_ambiguous_never_accepted() -> None:
    track = TrackIdentity(1, TrackPolicy(unknown_after=1))
    track.add(seen(), unit(1), 0, same_person=0.3)
    close = [Match(7, "Alice", 0.62), Match(8, "Bea", 0.60)]
    assert judged(track, close) == "ambiguous"
    assert track.person is None and track.unknown_logged
    # A later probe that tells them apart is accepted.
    assert judged(track, [Match(7, "Alice", 0.70), Match(8, "Bea", 0.40)]) == "accepted"


def test_a_track_taken_over_by_someone_else_starts_again() -> None:
    track = TrackIdentity(1, TrackPolicy(strikes_to_reset=2))
    for frame in (0, 2, 4):
        track.add(seen(), unit(1, 0.1 * frame), frame, same_person=0.3)
    assert judged(track, [Match(7, "Alice", 0.8)]) == "accepted"
    # A settled track still takes faces to re-check, but they change nothing...
    assert not track.add(seen(), unit(1, 0.3), 20, same_person=0.3)
    # ...until two faces in a row are somebody else's; after the first, the next
    # face is taken at the sampling gap, not the re-check interval.
    assert not track.add(seen(), unit(0, 1), 40, same_person=0.3)
    assert track.person is not None and track.strikes == 1
    assert track.wants_sample(40 + track.policy.sample_gap)
    assert track.add(seen(), unit(0, 1), 42, same_person=0.3)
    assert track.person is None and track.resets == 1 and len(track.samples) == 1
    np.testing.assert_allclose(track.template(), unit(0, 1), atol=1e-6)


def test_attack_faces_in_a_row_make_one_spoof_decision() -> None:
    track = TrackIdentity(1, TrackPolicy(spoof_after=3))
    assert not track.observe_liveness(seen(liveness=0.02), 0, 0.5)
    assert not track.observe_liveness(seen(liveness=0.9), 1, 0.5)  # a live face: start again
    assert not track.observe_liveness(seen(liveness=0.02, good=False), 2, 0.5)
    assert not track.observe_liveness(seen(liveness=0.01), 3, 0.5)
    assert track.observe_liveness(seen(liveness=0.03, good=False), 4, 0.5)
    verdict = screen(
        [c for c in track.attacks if c.face.quality.accepted],
        [c for c in track.attacks if not c.face.quality.accepted],
        (),
        0.5,
    )
    assert verdict is not None and verdict.decision == "spoof"
    assert "liveness 0.010" in verdict.reasons[0]  # the lowest score
    assert to_log(track, verdict)
    settle(track, verdict, None, True)
    assert track.spoofed and not to_log(track, verdict)  # said once per track
    assert not track.observe_liveness(seen(liveness=0.02), 5, 0.5)


def test_an_empty_gallery_makes_every_track_unknown() -> None:
    track = TrackIdentity(1, TrackPolicy(unknown_after=1))
    track.add(seen(), unit(1), 0, same_person=0.3)
    assert judged(track, []) == "unknown"
    assert track.best is None
