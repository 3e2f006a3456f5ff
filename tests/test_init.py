"""`facedb init` sets up a machine once: models, database, first site and zone, an
admin and a kiosk key shown once; run again, it changes nothing and says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from facedb import access
from facedb.cli.main import main
from facedb.config import Settings
from facedb.service import FaceService


@pytest.fixture
def fresh(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("FACEDB_HOME", str(home))
    monkeypatch.setenv("FACEDB_DATABASE_URL", database_url)
    monkeypatch.delenv("FACEDB_WEIGHTS", raising=False)
    return home


def _init(*args: str) -> dict[str, object]:
    result = CliRunner().invoke(main, ["init", *args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_init_sets_up_once_and_then_changes_nothing(fresh: Path, weights_dir: Path) -> None:
    first = _init("--from", str(weights_dir), "--accept-licence", "--zone", "Europe/Paris")
    steps = {s["name"]: s for s in first["steps"]}  # type: ignore[attr-defined]
    assert steps["models"]["status"] == "done"
    assert steps["site"] == {"name": "site", "status": "done", "detail": "Office (Europe/Paris)"}
    assert first["changed"] is True
    keys = first["keys"]
    assert isinstance(keys, dict) and sorted(keys) == ["admin", "kiosk"]
    assert sorted(p.name for p in (fresh / "models").glob("*.onnx")) == [
        "minifasnet_v2.onnx",
        "scrfd_2.5g_bnkps.onnx",
        "w600k_mbf_int8.onnx",
    ]
    service = FaceService(Settings.load())
    try:
        roles = {name: access.authenticate(service, token) for name, token in keys.items()}
    finally:
        service.close()
    assert {n: k.role if k else None for n, k in roles.items()} == {
        "admin": "admin",
        "kiosk": "kiosk",
    }

    again = _init()  # no --from, no --accept-licence: nothing left to fetch or acknowledge
    assert again["changed"] is False
    assert again["keys"] == {}
    assert {s["status"] for s in again["steps"]} == {"already"}  # type: ignore[attr-defined]
    text = CliRunner().invoke(main, ["init"])
    assert text.exit_code == 0, text.output
    assert "already set up: nothing changed" in text.output
    assert "facedb enrol" in text.output


def test_a_missing_model_names_facedb_init(
    fresh: Path, tmp_path: Path, faces_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not the clone's weights/ either (`make demo` installs the models there).
    monkeypatch.setattr("facedb.vision.models.package_weights_dir", lambda: tmp_path / "none")
    photo = next((faces_dir / "celeba").glob("*/*.jpg"))
    result = CliRunner().invoke(main, ["verify", "--source", str(photo)])
    assert result.exit_code == 11, result.output
    assert "run `facedb init`" in result.output


def test_a_bad_zone_is_one_line_and_sets_up_nothing(fresh: Path, weights_dir: Path) -> None:
    result = CliRunner().invoke(
        main, ["init", "--from", str(weights_dir), "--accept-licence", "--zone", "Mars/Olympus"]
    )
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1


def test_init_migrates_an_empty_external_database_once(
    tmp_path: Path, empty_database_url: str, weights_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEDB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FACEDB_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("FACEDB_WEIGHTS", str(weights_dir))  # the models are there already
    first = _init()
    steps = {s["name"]: s["status"] for s in first["steps"]}  # type: ignore[attr-defined]
    assert steps["database"] == "done" and steps["models"] == "already"
    again = _init()
    assert again["changed"] is False
