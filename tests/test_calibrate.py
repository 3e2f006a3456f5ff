"""`facedb calibrate` stores a threshold per model, and verify decides with it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from facedb.cli.main import main
from facedb.config import Settings
from facedb.evaluation.metrics import CalibrationResult
from facedb.service import FaceService


def _calibration(threshold: float) -> CalibrationResult:
    return CalibrationResult(
        threshold=threshold, far=1e-3, achieved_far=1e-3, tar=0.9, n_genuine=10, n_impostor=1000
    )


def test_a_stored_threshold_changes_a_borderline_decision(
    settings: Settings, faces_dir: Path
) -> None:
    photos = sorted((faces_dir / "celeba" / "7207").glob("*.jpg"))
    service = FaceService(settings.replace(cooldown=0.0))
    service.enrol("Person", str(photos[0]))
    # The calibrated threshold is the 1:1 one (a claim); a search uses it as its floor.
    first = service.verify(str(photos[4]), name="Person")
    assert first.threshold_source == "default"
    assert first.accepted
    similarity = first.similarity
    assert similarity is not None

    service.save_calibration(_calibration(similarity + 0.01), source="test")
    stricter = service.verify(str(photos[4]), name="Person")
    assert stricter.threshold_source == "calibrated"
    assert stricter.threshold == pytest.approx(similarity + 0.01)
    assert stricter.decision == "rejected"
    search = service.verify(str(photos[4]))
    assert search.threshold >= similarity + 0.01 - 1e-9
    assert search.decision == "unknown"

    service.save_calibration(_calibration(similarity - 0.01), source="test")
    looser = service.verify(str(photos[4]), name="Person")
    assert looser.decision == "accepted"
    assert [c.threshold for c in service.calibrations()] == [pytest.approx(similarity - 0.01)]

    # An explicit threshold still wins over the calibrated one.
    override = service.verify(str(photos[4]), name="Person", threshold=similarity + 0.05)
    assert (override.threshold_source, override.decision) == ("option", "rejected")
    service.close()


def test_calibrate_command_stores_the_threshold_for_the_embedder(
    settings: Settings, faces_dir: Path, tmp_path: Path
) -> None:
    people = ["7203", "7206", "7207", "7209"]
    photos = {p: sorted((faces_dir / "celeba" / p).glob("*.jpg"))[:3] for p in people}
    rows = []
    for person in people:
        a, b, c = photos[person]
        rows += [(a, b, 1), (a, c, 1), (b, c, 1)]
    for i, person in enumerate(people):
        for other in people[i + 1 :]:
            rows += [(x, y, 0) for x in photos[person] for y in photos[other][:2]]
    pairs = tmp_path / "pairs.csv"
    with pairs.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path1", "path2", "same"])
        writer.writerows((str(a), str(b), same) for a, b, same in rows)

    result = CliRunner().invoke(main, ["calibrate", str(pairs), "--far", "0.1", "--json"])
    assert result.exit_code == 0, result.output
    calibration = json.loads(result.stdout)
    assert calibration["stored"] is True
    assert calibration["model"] == "w600k_mbf_int8"
    assert calibration["achieved_far"] <= 0.1

    stored = FaceService(settings).calibrations()
    assert [(c.model, c.threshold) for c in stored] == [
        ("w600k_mbf_int8", pytest.approx(calibration["threshold"]))
    ]


def test_calibrating_with_too_few_impostors_is_refused(
    settings: Settings, faces_dir: Path, tmp_path: Path
) -> None:
    photos = sorted((faces_dir / "celeba" / "7207").glob("*.jpg"))
    other = sorted((faces_dir / "celeba" / "7209").glob("*.jpg"))
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"path1,path2,same\n{photos[0]},{photos[1]},1\n{photos[0]},{other[0]},0\n")
    result = CliRunner().invoke(main, ["calibrate", str(pairs), "--far", "1e-3"])
    assert result.exit_code == 2
    assert "needs at least 1000 impostor pairs" in result.output
    assert FaceService(settings).calibrations() == []


def test_the_pairs_are_counted_before_anything_is_embedded(
    settings: Settings, tmp_path: Path
) -> None:
    """Too few impostors is said at once: the images (here not even images) are never
    read, so the refusal is the count's, not an unreadable image's."""
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not an image")
    pairs = tmp_path / "pairs.csv"
    pairs.write_text(f"path1,path2,same\n{junk},{junk},1\n{junk},{junk},0\n")
    result = CliRunner().invoke(main, ["calibrate", str(pairs), "--far", "1e-3", "--dry-run"])
    assert result.exit_code == 2, result.output
    assert "needs at least 1000 impostor pairs" in result.output and "has 1" in result.output
