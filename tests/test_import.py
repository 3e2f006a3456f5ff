"""`facedb import` on a manifest built from real faces: photos in every format, tight
crops, broken rows and bad files. The right people are enrolled, every broken row is
reported with its line and nothing is written for it, a second run changes nothing,
and --update replaces the faces."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from click.testing import CliRunner, Result
from PIL import Image
from sqlalchemy import func, select

from facedb.cli.main import main
from facedb.config import Settings
from facedb.importing.manifest import read_manifest
from facedb.media.images import read_image
from facedb.service import FaceService
from facedb.store.tables.core import FaceEmbedding, User
from facedb.vision.align import align_face
from facedb.vision.pipeline import FacePipeline

HEADER = ("name", "external_id", "photo", "department")


@dataclass(frozen=True)
class Row:
    name: str
    external_id: str
    photo: str
    department: str
    expect: str  # enrolled, or the reason of the rejection

    def cells(self) -> list[str]:
        return [self.name, self.external_id, self.photo, self.department]


ROWS = (
    Row("Alice Martin", "E1", "alice1.jpg;alice2.jpg", "Sales", "enrolled"),
    Row("Bob Stone", "E2", "bob_tight.png; bob2.webp", "Research, Paris", "enrolled"),
    Row("Carol King", "E3", "carol_grey16.tiff", "Sales", "enrolled"),
    Row("Dave Brown", "", "dave_alpha.png;dave_exif.jpg", "", "enrolled"),
    Row("Érin Wölfe", "E5", "erin.bmp;erin.gif", "HR", "enrolled"),
    Row("Nobody Here", "E6", "empty_room.jpg", "", "no face"),
    Row("Two People", "E7", "two.jpg", "", "several faces"),
    Row("Broken Photo", "E8", "truncated.jpg", "", "unreadable image"),
    Row("Alice Again", "E9", "alice3.jpg", "", "duplicate identity"),
    # Invalid rows: found before anything is written.
    Row("Missing Photo", "E10", "not_there.jpg", "", "invalid row"),
    Row("Grace Hopper", "E11", "grace.jpg", "", "invalid row"),
    Row(" grace HOPPER ", "E12", "grace2.jpg", "", "invalid row"),
    Row("Henry Ford", "E13", "henry.jpg", "", "invalid row"),
    Row("Ivan Petrov", "E13", "ivan.jpg", "", "invalid row"),
    Row("", "E15", "nobody.jpg", "", "invalid row"),
    Row("Zero Bytes", "E16", "zero.jpg", "", "invalid row"),
)
ENROLLED = [r for r in ROWS if r.expect == "enrolled"]
# Photos of the enrolled people (one embedding each: they are all different photos).
ENROLLED_PHOTOS = sum(len(r.photo.split(";")) for r in ENROLLED)


def line_of(name: str) -> int:
    return 2 + [r.name for r in ROWS].index(name)


def _celeba(faces: Path, identity: str, index: int) -> np.ndarray:
    return read_image(sorted((faces / "celeba" / identity).glob("*.jpg"))[index])


def _tight_crop(pipeline: FacePipeline, image: np.ndarray) -> np.ndarray:
    """The image cut to its face's box: a detector trained on scenes finds nothing."""
    face = max(pipeline.detect(image), key=lambda f: f.area)
    x1, y1, x2, y2 = (round(float(v)) for v in face.box)
    return np.ascontiguousarray(image[max(0, y1) : y2, max(0, x1) : x2])


def _save_rgb(path: Path, image_bgr: np.ndarray, **options: Any) -> None:
    Image.fromarray(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)).save(path, **options)


def _make_photos(folder: Path, faces: Path, pipeline: FacePipeline) -> None:
    folder.mkdir()
    cv2.imwrite(str(folder / "alice1.jpg"), _celeba(faces, "7203", 0))
    cv2.imwrite(str(folder / "alice2.jpg"), _celeba(faces, "7203", 1))
    cv2.imwrite(str(folder / "alice3.jpg"), _celeba(faces, "7203", 2))
    cv2.imwrite(str(folder / "bob_tight.png"), _tight_crop(pipeline, _celeba(faces, "7206", 0)))
    _save_rgb(folder / "bob2.webp", _celeba(faces, "7206", 1), quality=90)
    grey = cv2.cvtColor(_celeba(faces, "7207", 0), cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257
    cv2.imwrite(str(folder / "carol_grey16.tiff"), grey)
    alpha = cv2.cvtColor(_celeba(faces, "7209", 0), cv2.COLOR_BGR2BGRA)
    alpha[:20, :, 3] = 0  # a transparent band at the top
    cv2.imwrite(str(folder / "dave_alpha.png"), alpha)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned left: a viewer turns it right to show it upright
    _save_rgb(folder / "dave_exif.jpg", np.rot90(_celeba(faces, "7209", 1)), exif=exif)
    cv2.imwrite(str(folder / "erin.bmp"), _celeba(faces, "7210", 0))
    first, second = _celeba(faces, "7210", 1), np.zeros_like(_celeba(faces, "7210", 1))
    Image.fromarray(cv2.cvtColor(first, cv2.COLOR_BGR2RGB)).save(
        folder / "erin.gif", save_all=True, append_images=[Image.fromarray(second)]
    )
    for name, identity in (("grace", "7213"), ("grace2", "7217"), ("henry", "7218")):
        cv2.imwrite(str(folder / f"{name}.jpg"), _celeba(faces, identity, 0))
    cv2.imwrite(str(folder / "ivan.jpg"), _celeba(faces, "7230", 0))
    cv2.imwrite(str(folder / "nobody.jpg"), _celeba(faces, "7235", 0))
    for name, source in (
        ("empty_room.jpg", "compreface/sample_images/017_0.jpg"),
        ("two.jpg", "openface/examples/longoria-cooper.jpg"),
        ("truncated.jpg", "bad/truncated_1000_bytes.jpg"),
        ("zero.jpg", "bad/zero_bytes.jpg"),
    ):
        (folder / name).write_bytes((faces / source).read_bytes())


def _write_manifest(path: Path, rows: Sequence[Row], header: Sequence[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(r.cells() for r in rows)
    return path


@dataclass(frozen=True)
class Site:
    settings: Settings
    photos: Path
    manifest: Path  # every row of ROWS, in a folder of its own

    def run(self, *args: str) -> Result:
        return CliRunner().invoke(main, ["import", *args])

    def counts(self) -> tuple[int, int]:
        service = FaceService(self.settings)
        with service.transaction() as session:
            users = session.execute(select(func.count()).select_from(User)).scalar_one()
            faces = session.execute(select(func.count()).select_from(FaceEmbedding)).scalar_one()
        service.close()
        return int(users), int(faces)

    def embedding_ids(self) -> set[int]:
        service = FaceService(self.settings)
        with service.transaction() as session:
            ids = set(session.scalars(select(FaceEmbedding.id)))
        service.close()
        return ids

    def meta(self, name: str) -> tuple[str | None, dict[str, Any]]:
        service = FaceService(self.settings)
        person = service.user(name)
        service.close()
        return person.external_id, person.meta


@pytest.fixture
def site(settings: Settings, faces_dir: Path, tmp_path: Path) -> Site:
    pipeline = FacePipeline(settings)
    _make_photos(tmp_path / "photos", faces_dir, pipeline)
    (tmp_path / "hr").mkdir()
    manifest = _write_manifest(tmp_path / "hr" / "staff.csv", ROWS)
    return Site(settings, tmp_path / "photos", manifest)


def _outcomes(result: Result) -> dict[str, dict[str, Any]]:
    assert result.exit_code in (0, 1), result.output
    report = json.loads(result.stdout)
    return {o["name"]: o for o in report["outcomes"]}


def test_import_enrols_rejects_is_idempotent_and_updates(site: Site, tmp_path: Path) -> None:
    root = str(site.photos)
    manifest = str(site.manifest)

    # 1. Broken rows: every problem listed with its line, nothing written.
    result = site.run(manifest, "--root", root, "--json")
    assert result.exit_code == 2
    problems = json.loads(result.stdout)["problems"]
    lines = {p["line"] for p in problems}
    expected_invalid = {line_of(r.name) for r in ROWS if r.expect == "invalid row"}
    assert lines == expected_invalid
    text = " ".join(f"{p['line']}: {p['message']}" for p in problems)
    assert f"{line_of('Missing Photo')}: photo 'not_there.jpg' not found" in text
    assert f"duplicate name 'grace HOPPER' (also on line {line_of('Grace Hopper')})" in text
    assert f"duplicate external id 'E13' (also on line {line_of('Henry Ford')})" in text
    assert f"{line_of('')}: empty name" in text
    assert "photo 'zero.jpg' is empty (0 bytes)" in text
    assert "nothing was imported" in result.stderr
    assert site.counts() == (0, 0)

    # 2. --skip-invalid: the good rows are imported, every other row rejected.
    result = site.run(manifest, "--root", root, "--skip-invalid", "--json")
    assert result.exit_code == 1  # some rows were rejected
    outcomes = _outcomes(result)
    for row in ROWS:
        outcome = outcomes[row.name.strip()] if row.name.strip() else outcomes[""]
        got = outcome["status"] if outcome["status"] == "enrolled" else outcome["reason"]
        assert got == row.expect, (row.name, outcome)
        assert outcome["line"] == line_of(row.name)
    assert site.counts() == (len(ENROLLED), ENROLLED_PHOTOS)
    assert site.meta("Alice Martin") == ("E1", {"department": "Sales"})
    assert site.meta("Bob Stone") == ("E2", {"department": "Research, Paris"})
    assert site.meta("Dave Brown") == (None, {"department": ""})

    # The rejects file: the manifest's columns plus reason, each with its line.
    rejects = site.manifest.with_name("staff.rejects.csv")
    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        rejected = list(csv.DictReader(handle))
    assert list(rejected[0]) == [*HEADER, "reason"]
    assert {r["name"] for r in rejected} == {r.name for r in ROWS if r.expect != "enrolled"}
    for entry in rejected:
        assert entry["reason"].startswith(f"line {line_of(entry['name'])}: ")
    by_name = {r["name"]: r["reason"] for r in rejected}
    assert "no face found" in by_name["Nobody Here"]
    assert "already enrolled as 'Alice Martin'" in by_name["Alice Again"]
    assert "truncated" in by_name["Broken Photo"]

    # 3. The same file again: nothing changes.
    ids = site.embedding_ids()
    result = site.run(manifest, "--root", root, "--skip-invalid", "--json")
    outcomes = _outcomes(result)
    for row in ENROLLED:
        assert outcomes[row.name]["status"] == "skipped"
        assert outcomes[row.name]["reason"] == "already enrolled"
    assert site.counts() == (len(ENROLLED), ENROLLED_PHOTOS)
    assert site.embedding_ids() == ids

    # 4. --update, from a corrected export: faces replaced, metadata and names updated.
    update_rows = [
        Row("Alice Martin", "E1", "alice1.jpg;alice2.jpg", "Support", "updated"),
        Row("Bob Stone-Smith", "E2", "bob_tight.png;bob2.webp", "Research", "updated"),
        *ENROLLED[2:],
    ]
    corrected = _write_manifest(tmp_path / "hr" / "corrected.csv", update_rows)
    result = site.run(str(corrected), "--root", root, "--update", "--json")
    assert result.exit_code == 0, result.output
    outcomes = _outcomes(result)
    assert {o["status"] for o in outcomes.values()} == {"updated"}
    assert site.counts() == (len(ENROLLED), ENROLLED_PHOTOS)
    assert site.embedding_ids().isdisjoint(ids)
    assert site.meta("Alice Martin") == ("E1", {"department": "Support"})
    assert site.meta("Bob Stone-Smith") == ("E2", {"department": "Research"})
    assert not corrected.with_name("corrected.rejects.csv").exists()


def test_imported_people_are_recognised_from_tight_and_aligned_crops(
    site: Site, faces_dir: Path
) -> None:
    good = _write_manifest(site.manifest.with_name("good.csv"), ENROLLED)
    result = site.run(str(good), "--root", str(site.photos))
    assert result.exit_code == 0, result.output
    assert "enrolled" in result.output
    pipeline = FacePipeline(site.settings)
    probe = _celeba(faces_dir, "7206", 3)
    cv2.imwrite(str(site.photos / "probe_tight.png"), _tight_crop(pipeline, probe))
    result = CliRunner().invoke(
        main, ["verify", "--source", str(site.photos / "probe_tight.png"), "--json"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["name"] == "Bob Stone"
    photo = _celeba(faces_dir, "7203", 3)
    face = max(pipeline.detect(photo), key=lambda f: f.area)
    cv2.imwrite(str(site.photos / "probe_aligned.png"), align_face(photo, face.landmarks))
    args = ["verify", "--source", str(site.photos / "probe_aligned.png"), "--name"]
    result = CliRunner().invoke(main, [*args, "Alice Martin", "--aligned"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(main, ["verify", "--source", "0", "--aligned"])
    assert result.exit_code == 2 and "image files" in result.output


def test_manifest_problems_without_a_database(tmp_path: Path, faces_dir: Path) -> None:
    photo = tmp_path / "a.jpg"
    photo.write_bytes(sorted((faces_dir / "celeba" / "7203").glob("*.jpg"))[0].read_bytes())
    no_photo_column = tmp_path / "second.csv"
    no_photo_column.write_text("name,picture\nAlice,a.jpg\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["import", str(no_photo_column), "--dry-run"])
    assert result.exit_code == 2
    assert "line 1" not in result.stderr and "missing column(s) photo" in result.output
    assert "(the header has: name, picture)" in result.output

    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("name,photo\nAlice,a.jpg\nZoë,a.jpg\n".encode("latin-1"))
    manifest = read_manifest(latin1)
    assert [(p.line, p.message.split(" (")[0]) for p in manifest.problems] == [
        (3, "not UTF-8 text")
    ]

    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.jpg").write_bytes(photo.read_bytes())
    good = tmp_path / "good.csv"
    good.write_text(
        "\ufeffName,PHOTO,Site\nAlice,a.jpg,Lyon\n\nBob,a.jpg;a.jpg,Paris\nCarol,sub\\b.jpg,Nice\n",
        encoding="utf-8",
    )
    manifest = read_manifest(good)
    assert [p.message for p in manifest.problems] == [
        "duplicate photo 'a.jpg' (also on line 4)",
        "duplicate photo 'a.jpg' (also on line 2)",
    ]
    assert manifest.rows[0].meta == {"Site": "Lyon"} and manifest.rows[1].line == 4
    assert manifest.rows[2].photos == ((tmp_path / "sub" / "b.jpg").resolve(),)  # Windows path
    result = CliRunner().invoke(main, ["import", str(good), "--dry-run", "--skip-invalid"])
    assert result.exit_code == 0, result.output
    assert (
        "1 person(s) with 1 photo(s) to import, 2 invalid row(s) would be rejected" in result.output
    )
