"""`facedb demo` never runs in the real home: its own folder, refused when that folder
holds something else, and `--clean` deletes only a demo's home."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from facedb.cli.main import main
from facedb.config import Settings
from facedb.errors import InvalidInputError
from facedb.usecases import demo


def test_the_demo_has_a_home_and_database_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEDB_HOME", str(tmp_path / "office"))
    monkeypatch.setenv("FACEDB_DATABASE_URL", "postgresql://facedb@db.example/facedb")
    monkeypatch.delenv("FACEDB_WEIGHTS", raising=False)
    settings = demo.demo_settings(Settings.load(), None)
    assert settings.home == tmp_path / "office-demo"
    assert settings.database_url is None  # its own embedded database
    assert settings.weights == tmp_path / "office" / "models"  # the installation's models
    with pytest.raises(InvalidInputError, match="the demo needs its own"):
        demo.demo_settings(Settings.load(), tmp_path / "office")


def test_clean_removes_only_a_demo_home(tmp_path: Path) -> None:
    other = tmp_path / "precious"
    other.mkdir()
    (other / "data").write_text("keep me")
    refused = CliRunner().invoke(main, ["demo", "--clean", "--home", str(other)])
    assert refused.exit_code == 2, refused.output
    assert (other / "data").exists()
    refused = CliRunner().invoke(main, ["demo", "--people", str(tmp_path), "--home", str(other)])
    assert refused.exit_code == 2 and "not a demo home" in refused.output

    home = tmp_path / "demo"
    demo.claim(home)
    (home / "something").write_text("made by the demo")
    done = CliRunner().invoke(main, ["demo", "--clean", "--home", str(home)])
    assert done.exit_code == 0, done.output
    assert not home.exists()
    again = CliRunner().invoke(main, ["demo", "--clean", "--home", str(home)])
    assert again.exit_code == 0 and "no demo at" in again.output
