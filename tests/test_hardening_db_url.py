"""Issue 29: a database URL with an unencoded "@" in its password leaks nothing
(item 16), an unknown URL option is one line (17), and a full disk under FACEDB_HOME
during an offline verify is one line with nothing half written (18)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from facedb.cli.main import main
from facedb.errors import InvalidInputError, LocalStorageError
from facedb.fsio import atomic_write
from facedb.store.engine import make_engine

PROBE = "face_recognition/examples/obama.jpg"


def _run(tmp_path: Path, url: str, *args: str) -> tuple[int, str]:
    env = {"FACEDB_HOME": str(tmp_path / "home"), "FACEDB_DATABASE_URL": url}
    result = CliRunner().invoke(main, list(args or ("users", "list")), env=env)
    return result.exit_code, result.stderr


def test_an_unencoded_at_sign_in_the_password_is_refused_without_its_tail(
    tmp_path: Path,
) -> None:
    code, err = _run(tmp_path, "postgresql://bob:s3cr@tTAILSECRET@127.0.0.1:1/db")
    assert code == 2, err
    assert err.strip().splitlines() == [
        "error: FACEDB_DATABASE_URL: the user name or password holds an unencoded '@' "
        "(write it as %40): postgresql://bob:***@127.0.0.1:1/db"
    ]
    assert "TAIL" not in err and "s3cr" not in err
    # Encoded, it is a password like any other: the server is simply unreachable.
    code, err = _run(tmp_path, "postgresql://bob:s3cr%40tTAILSECRET@127.0.0.1:1/db")
    assert code == 12 and "TAIL" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://bob@127.0.0.1:1/db?foo=bar", 'invalid URI query parameter: "foo"'),
        ("postgresql://bob:pa%zzword@127.0.0.1:1/db", 'invalid percent-encoded token: "***"'),
    ],
)
def test_a_url_libpq_cannot_parse_is_one_line(tmp_path: Path, url: str, shown: str) -> None:
    code, err = _run(tmp_path, url)
    assert code == 2, err
    [line] = err.strip().splitlines()
    assert line.startswith("error: FACEDB_DATABASE_URL is not a valid database URL")
    assert shown in line and "zzword" not in line
    with pytest.raises(InvalidInputError, match="not a valid database URL"):
        make_engine(url)


def test_a_full_disk_during_an_offline_verify_is_one_line(tmp_path: Path, faces_dir: Path) -> None:
    home = tmp_path / "home"
    (home / "spool").mkdir(parents=True)
    os.symlink("/dev/full", home / "spool" / "events.jsonl")  # every write: ENOSPC
    code, err = _run(
        tmp_path, "postgresql://bob@127.0.0.1:1/db", "verify", "--source", str(faces_dir / PROBE)
    )
    assert code == 30, err
    assert err.strip().splitlines() == [
        f"error: cannot write the attempt to the offline spool {home}/spool/events.jsonl "
        "(it is not logged): No space left on device"
    ]


def test_an_atomic_write_on_a_full_disk_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "cache.npz"
    target.write_bytes(b"old")
    real_write = os.write

    def full(fd: int, data: bytes | memoryview) -> int:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".tmp"):
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(LocalStorageError, match=r"cannot write .*cache\.npz: No space left"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.npz"]  # no temporary file
