"""`facedb backup` then `facedb restore` into an empty home gives the same timesheet
CSV byte for byte and the same decisions; a truncated, altered or newer backup is
refused with one line and nothing is written."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from galleries import enrol_celeba

from facedb.cli.main import main
from facedb.config import Settings
from facedb.service import FaceService
from facedb.store import embedded

PROBE_INDEX = 4  # the fifth photo: enrolment uses the first four


def _identities(faces_dir: Path) -> list[str]:
    folders = sorted(p for p in (faces_dir / "celeba").iterdir() if p.is_dir())
    return [f.name for f in folders if len(list(f.glob("*.jpg"))) > PROBE_INDEX][:10]


def _run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def _decisions(service: FaceService, faces_dir: Path) -> list[tuple[str | None, str]]:
    probes = [
        sorted((faces_dir / "celeba" / i).glob("*.jpg"))[PROBE_INDEX]
        for i in _identities(faces_dir)
    ]
    return [(r.name, r.decision) for r in (service.verify(str(p)) for p in probes)]


@pytest.fixture
def made(
    database_url: str,
    faces_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Path, str, list[tuple[str | None, str]]]]:
    """A backup of ten people with their attendance: (file, timesheet CSV, decisions)."""
    service = enrol_celeba(database_url, faces_dir, tmp_path_factory, _identities(faces_dir))
    try:
        decisions = _decisions(service, faces_dir)
    finally:
        service.close()
    monkeypatch.setenv("FACEDB_DATABASE_URL", database_url)
    monkeypatch.setenv("FACEDB_HOME", str(tmp_path / "source"))
    sheet = _run("timesheet", "--from", "today", "--format", "csv")
    assert sheet.exit_code == 0, sheet.output
    file = tmp_path / "facedb.tar"
    done = _run("backup", str(file))
    assert done.exit_code == 0, done.output
    assert "biometric data" in done.output
    assert file.stat().st_mode & 0o777 == 0o600
    monkeypatch.delenv("FACEDB_DATABASE_URL")
    yield file, sheet.stdout, decisions


def test_restore_gives_the_same_timesheet_and_decisions(
    made: tuple[Path, str, list[tuple[str | None, str]]],
    fresh_home: Path,
    faces_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    file, sheet, decisions = made
    monkeypatch.setenv("FACEDB_HOME", str(fresh_home))
    restored = _run("restore", str(file), "--json")
    assert restored.exit_code == 0, restored.output
    assert json.loads(restored.output)["schema"]
    again = _run("timesheet", "--from", "today", "--format", "csv")
    assert again.exit_code == 0, again.output
    assert again.stdout == sheet
    assert sum(name is not None for name, _ in decisions) >= 8  # the probes do decide
    service = FaceService(Settings.load({"cooldown": 0}))
    try:
        assert _decisions(service, faces_dir) == decisions
    finally:
        service.close()
    # A second restore onto the data is refused.
    twice = _run("restore", str(file))
    assert twice.exit_code == 2 and "already holds data" in twice.output


def _rewrite(file: Path, out: Path, change: dict[str, object] | None = None) -> None:
    with tarfile.open(file) as src, tarfile.open(out, "w") as dst:
        for member in src:
            data = src.extractfile(member).read()  # type: ignore[union-attr]
            if member.name == "facedb-backup.json" and change:
                meta = json.loads(data)
                meta.update(change)
                data = json.dumps(meta).encode()
                member.size = len(data)
            dst.addfile(member, io.BytesIO(data))


def _refused(file: Path, home: Path, monkeypatch: pytest.MonkeyPatch, words: str) -> None:
    monkeypatch.setenv("FACEDB_HOME", str(home))
    result = _run("restore", str(file))
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and result.output.count("\n") == 1, result.output
    assert words in result.output
    assert not embedded.pgdata_dir(home).exists()  # nothing written


def test_a_truncated_altered_or_newer_backup_is_refused(
    made: tuple[Path, str, list[tuple[str | None, str]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    file = made[0]
    data = file.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 2])
    _refused(cut, tmp_path / "h1", monkeypatch, "truncated")

    altered = tmp_path / "altered.tar"
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01  # inside the database dump
    altered.write_bytes(bytes(flipped))
    _refused(altered, tmp_path / "h2", monkeypatch, "differs from the sha256")

    newer = tmp_path / "newer.tar"
    _rewrite(file, newer, {"schema": "9999_from_the_future"})
    _refused(newer, tmp_path / "h3", monkeypatch, "newer schema")

    other = tmp_path / "other.tar"
    other.write_bytes(b"not a backup at all" * 100)
    _refused(other, tmp_path / "h4", monkeypatch, "")
