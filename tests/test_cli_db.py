"""`facedb db`: the embedded server starts once and is shared; errors are one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from facedb.cli.main import main
from facedb.store import embedded


def _facedb(home: Path, *args: str, url: str | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "FACEDB_HOME": str(home)}
    env.pop("FACEDB_DATABASE_URL", None)
    if url is not None:
        env["FACEDB_DATABASE_URL"] = url
    return subprocess.Popen(
        [sys.executable, "-m", "facedb.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_two_processes_start_the_embedded_server_at_once_and_share_it(fresh_home: Path) -> None:
    home = fresh_home
    procs = [_facedb(home, "db", "status", "--json") for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    statuses = [json.loads(out) for out, _ in outputs]
    assert statuses[0]["started_at"] == statuses[1]["started_at"]
    for status in statuses:
        assert status["server"] == "embedded"
        assert status["postgres_version"].startswith("18")
        major, minor = (int(x) for x in status["pgvector_version"].split(".")[:2])
        assert (major, minor) >= (0, 8)
        assert status["up_to_date"] is True

    # A later command reuses the running server instead of starting another.
    again = _facedb(home, "db", "status", "--json")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    assert json.loads(out)["started_at"] == statuses[0]["started_at"]


def test_stop_then_status_starts_a_fresh_server(fresh_home: Path) -> None:
    home = fresh_home
    first = _facedb(home, "db", "status", "--json")
    assert first.wait(timeout=120) == 0
    stop = _facedb(home, "db", "stop")
    out, _ = stop.communicate(timeout=60)
    assert "stopped" in out
    assert embedded.running_server(home) is None
    again = _facedb(home, "db", "status", "--json")
    assert again.wait(timeout=120) == 0
    assert embedded.running_server(home) is not None


def test_unreachable_external_server_is_one_line_with_exit_code_12(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = _closed_port()
    monkeypatch.setenv("FACEDB_DATABASE_URL", f"postgresql://facedb:secret@127.0.0.1:{port}/facedb")
    result = CliRunner().invoke(main, ["db", "status"])
    assert result.exit_code == 12
    assert result.output.startswith("error: cannot reach the database at ")
    assert "secret" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_wrong_password_is_exit_code_13(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The embedded server trusts its socket, so a wrong password cannot be shown on it;
    # the classification is checked on the server's own message instead.
    from sqlalchemy.exc import OperationalError

    from facedb.errors import DatabaseAuthError
    from facedb.store.connection import describe_connection_error

    exc = OperationalError(
        "connect", {}, Exception('FATAL:  password authentication failed for user "x"')
    )
    error = describe_connection_error(exc, "postgresql://x:hunter2@db.example/facedb")
    assert isinstance(error, DatabaseAuthError)
    assert "hunter2" not in error.message
    assert error.exit_code == 13


def test_external_database_behind_head_asks_for_upgrade(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEDB_DATABASE_URL", empty_database_url)
    runner = CliRunner()
    status = runner.invoke(main, ["db", "status", "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["revision"] is None

    from facedb.config import Settings
    from facedb.errors import MigrationNotAppliedError
    from facedb.store.engine import open_database

    with pytest.raises(MigrationNotAppliedError, match="run `facedb db upgrade`"):
        open_database(Settings.load())
    upgrade = runner.invoke(main, ["db", "upgrade"])
    assert upgrade.exit_code == 0, upgrade.output
    open_database(Settings.load()).engine.dispose()


def test_data_dir_of_another_major_version_is_exit_code_15(fresh_home: Path) -> None:
    pgdata = embedded.pgdata_dir(fresh_home)
    pgdata.mkdir(parents=True)
    (pgdata / "PG_VERSION").write_text("16\n")
    proc = _facedb(fresh_home, "db", "status")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 15
    assert "PostgreSQL 16 cluster" in err
    assert "Traceback" not in err


def test_url_masks_the_password_unless_asked(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    from facedb.secrets import mask_url

    assert mask_url("postgresql://u:pw@h:5432/d") == "postgresql://u:***@h:5432/d"
    monkeypatch.setenv("FACEDB_DATABASE_URL", database_url)
    result = CliRunner().invoke(main, ["db", "url"])
    assert result.exit_code == 0
    assert result.output.strip().startswith("postgresql://")
