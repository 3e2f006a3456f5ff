"""`facedb service install` writes systemd units that systemd-analyze accepts: serve,
hooks and watch start after the embedded database, restart on failure, stop on SIGTERM."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from facedb.cli.main import main


def _install(folder: Path, *extra: str) -> list[Path]:
    result = CliRunner().invoke(
        main, ["service", "install", "--dir", str(folder), "--user", "root", "--json", *extra]
    )
    assert result.exit_code == 0, result.output
    return [Path(p) for p in json.loads(result.output)["written"]]


def _read(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text("utf-8"))
    return parser


def test_units_start_after_the_database_and_restart_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEDB_HOME", str(tmp_path / "home 100%"))
    monkeypatch.delenv("FACEDB_DATABASE_URL", raising=False)
    written = _install(tmp_path / "units", "--watch-source", "rtsp://cam/$1 a")
    names = sorted(p.name for p in written)
    assert names == [
        "facedb-db.service",
        "facedb-hooks.service",
        "facedb-serve.service",
        "facedb-watch.service",
    ]
    for path in written:
        assert path.stat().st_mode & 0o777 == 0o644
    serve = _read(tmp_path / "units" / "facedb-serve.service")
    assert serve["Unit"]["Requires"] == "facedb-db.service"
    assert "facedb-db.service" in serve["Unit"]["After"]
    assert serve["Service"]["Restart"] == "on-failure"
    assert serve["Service"]["KillSignal"] == "SIGTERM"
    assert serve["Service"]["Environment"] == f'"FACEDB_HOME={tmp_path}/home 100%%"'
    watch = _read(tmp_path / "units" / "facedb-watch.service")
    assert watch["Service"]["ExecStart"].endswith("watch --source 'rtsp://cam/$$1 a'")
    db = _read(tmp_path / "units" / "facedb-db.service")
    assert db["Service"]["ExecStart"].endswith(" db start")
    assert db["Service"]["ExecStop"].endswith(" db stop")


def test_with_an_external_database_there_is_no_db_unit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEDB_DATABASE_URL", "postgresql://facedb@db.example/facedb")
    written = _install(tmp_path / "units")
    assert sorted(p.name for p in written) == ["facedb-hooks.service", "facedb-serve.service"]
    assert "Requires" not in _read(written[0])["Unit"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify_accepts_the_units(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEDB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACEDB_DATABASE_URL", raising=False)
    written = _install(tmp_path / "units", "--watch-source", "0")
    check = subprocess.run(
        ["systemd-analyze", "verify", *map(str, written)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "facedb" not in check.stderr, check.stderr  # no warning about our units


def test_a_folder_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = CliRunner().invoke(main, ["service", "install", "--dir", str(blocker / "units")])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: cannot write units") and result.output.count("\n") == 1
