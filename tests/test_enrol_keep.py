"""Enrolment keeps a diverse set of at most KEEP_PER_PERSON faces: enrol --add
chooses among the stored faces and the new ones instead of appending, and says why
a face was not stored. Real models, real faces, a real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
from click.testing import CliRunner

from facedb.cli.main import main
from facedb.config import Settings
from facedb.domain.constants import KEEP_PER_PERSON
from facedb.media.frames import FrameSource
from facedb.vision.capture import NEAR_COPY_SIMILARITY, capture_faces, most_different, pose_hint
from facedb.vision.types import Frame

IDENTITY = "7263"  # a celeba identity with five photos


def _video(path: Path, photos: list[Path]) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for photo in photos:
        image = cv2.imread(str(photo))
        canvas = np.full((480, 640, 3), 90, np.uint8)
        scale = 400 / image.shape[0]
        resized = cv2.resize(image, None, fx=scale, fy=scale)
        x = (640 - resized.shape[1]) // 2
        canvas[40 : 40 + resized.shape[0], x : x + resized.shape[1]] = resized
        for _ in range(3):
            writer.write(canvas)
    writer.release()


def test_adding_the_same_video_twice_keeps_at_most_five(
    settings: Settings, faces_dir: Path, tmp_path: Path
) -> None:
    photos = sorted((faces_dir / "celeba" / IDENTITY).glob("*.jpg"))
    video = tmp_path / "enrol.avi"
    _video(video, photos)
    runner = CliRunner()
    args = ["enrol", "--name", "Eve Video", "--source", str(video), "--frames", "15"]
    first = runner.invoke(main, [*args, "--json"])
    assert first.exit_code == 0, first.output
    totals = [json.loads(first.stdout)["total"]]
    for _ in range(2):
        again = runner.invoke(main, [*args, "--add", "--json"])
        assert again.exit_code == 0, again.output
        result = json.loads(again.stdout)
        totals.append(result["total"])
        # The same frames again: near-copies of faces kept, said so.
        assert result["not_stored"], result
    assert 1 <= totals[0] <= KEEP_PER_PERSON
    assert all(t <= KEEP_PER_PERSON for t in totals), totals
    assert totals[-1] == totals[1], totals  # a second identical add changes nothing
    shown = runner.invoke(main, ["users", "show", "Eve Video", "--json"])
    assert json.loads(shown.stdout)["embeddings"] == totals[-1]
    text = runner.invoke(main, [*args, "--add"])
    assert text.exit_code == 0 and "not stored: near-copies" in text.output, text.output


def test_most_different_keeps_the_farthest_and_no_near_copies() -> None:
    rng = np.random.default_rng(7)
    base = rng.standard_normal((6, 512)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    copy = base[0] + 0.005 * rng.standard_normal(512).astype(np.float32)
    copy /= np.linalg.norm(copy)
    assert float(copy @ base[0]) >= NEAR_COPY_SIMILARITY
    vectors = np.vstack([base, copy[None, :]])
    qualities = [0.9, 0.5, 0.5, 0.5, 0.5, 0.5, 0.95]  # the copy is the sharpest
    kept, near = most_different(vectors, qualities, 5)
    assert kept[0] == 6 and 0 not in kept and near == [0]
    assert len(kept) == 5 and len(set(kept)) == 5
    kept_all, near_all = most_different(vectors, qualities, 10)
    assert sorted(kept_all) == [1, 2, 3, 4, 5, 6] and near_all == [0]


class _Camera(FrameSource):
    """A live source showing, frame after frame, faces of these yaws and vectors."""

    is_live = True

    def __init__(self, count: int) -> None:
        super().__init__("camera test")
        self.count = count

    def _frames(self) -> Iterator[Frame]:
        for i in range(self.count):
            yield Frame(np.zeros((4, 4, 3), np.uint8), f"camera test#{i}", i, i / 10)


class _StillPerson:
    """Analyses every frame as the same face, head held still, until ``turns_after``
    frames; then a new pose (a different vector) each frame."""

    def __init__(self, turns_after: int) -> None:
        self.turns_after = turns_after
        self.seen = 0
        self.rng = np.random.default_rng(3)

    def analyse(self, images: list[np.ndarray], **_: object) -> list[list[SimpleNamespace]]:
        out = []
        for _image in images:
            self.seen += 1
            still = self.seen <= self.turns_after
            vector = np.ones(512, np.float32) if still else self.rng.standard_normal(512)
            vector = (vector / np.linalg.norm(vector)).astype(np.float32)
            quality = SimpleNamespace(accepted=True, score=0.8, yaw=0.0 if still else 0.3)
            face = SimpleNamespace(area=100.0, box=np.array([10.0, 10.0, 20.0, 20.0]))
            out.append([SimpleNamespace(embedding=vector, quality=quality, face=face)])
        return out


def test_a_camera_enrolment_waits_for_a_varied_set_and_says_how() -> None:
    still = capture_faces(_Camera(30), _StillPerson(30), wanted=5, varied=True)  # type: ignore[arg-type]
    assert still.frames == 30  # never five different faces: it went on to the end
    assert pose_hint(still) == "turn your head a little to the left"
    turning = capture_faces(_Camera(30), _StillPerson(8), wanted=5, varied=True)  # type: ignore[arg-type]
    assert turning.frames == 12  # 8 still frames count once, then 4 new poses
    assert pose_hint(turning) == "turn your head a little to the right"
    files = capture_faces(_Camera(30), _StillPerson(30), wanted=5)  # type: ignore[arg-type]
    assert files.frames == 5  # without varied: any five good faces
