"""One main-face rule (vision/capture.py main_face: the largest face nearest the
centre) for every command: verify's capture, the bulk import and `facedb eval` pick
the same face of a photo of several people, on the shared multi-face photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facedb.config import Settings
from facedb.evaluation.runner import _main_embedding
from facedb.media.frames import open_source
from facedb.media.images import read_image
from facedb.numeric import l2_normalize
from facedb.vision.capture import capture_faces, main_face
from facedb.vision.pipeline import FacePipeline

# Photos of several people where the largest face is not the most central one.
SEVERAL = (
    "face_recognition/examples/two_people.jpg",
    "openface/examples/longoria-cooper.jpg",
    "dlib/2008_001322.jpg",
)


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline(Settings.load())


@pytest.mark.parametrize("photo", SEVERAL)
def test_every_command_takes_the_same_face_of_a_group_photo(
    pipeline: FacePipeline, faces_dir: Path, photo: str
) -> None:
    image = read_image(faces_dir / photo)
    height, width = image.shape[:2]
    found = pipeline.analyse([image])[0]
    faces = [f for f in found if f.quality.accepted]
    assert len(faces) == len(found) >= 2  # eval ignores the gate: the same faces here
    chosen = main_face(faces, width, height)
    largest = max(faces, key=lambda f: f.face.area)
    assert chosen is not largest  # the rule is not "the largest face"
    # verify's capture (enrol, import: the same Capture)
    capture = capture_faces(open_source(str(faces_dir / photo)), pipeline, wanted=1)
    [used] = capture.best(1)
    assert np.allclose(used.face.face.box, chosen.face.box, atol=2.0)
    # facedb eval
    embedding = _main_embedding(found, width, height)
    assert embedding is not None and chosen.embedding is not None
    assert float(embedding @ l2_normalize(chosen.embedding)) > 0.99
