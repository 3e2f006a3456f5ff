"""Searches and reports read from a streaming replica (FACEDB_REPLICA_URL) with
read-your-writes: a real replica of an embedded PostgreSQL, made with its own
pg_basebackup and listening on loopback."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import server_home
from sqlalchemy import text

from facedb.config import Settings
from facedb.service import FaceService
from facedb.store import embedded, gallery
from facedb.store.engine import make_engine, open_database

MODEL = "w600k_mbf_int8"
OWNER = "embedded_postgres"  # who runs the embedded server when the tests run as root


@dataclass(frozen=True)
class Pair:
    primary: str  # libpq URL of the primary's facedb database
    replica: str  # the replica's, over 127.0.0.1
    home: Path


def _as_server_user(program: str, *arguments: str) -> None:
    extra: dict[str, Any] = {"user": OWNER} if os.geteuid() == 0 else {}
    command = [str(embedded.bin_dir() / program), *arguments]
    subprocess.run(command, check=True, capture_output=True, timeout=120, **extra)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def pair() -> Iterator[Pair]:
    with server_home() as home:
        database = open_database(Settings(home=home))
        primary = database.libpq_url
        database.engine.dispose()
        server = embedded.running_server(home)
        assert server is not None
        root = Path(tempfile.mkdtemp(prefix="facedb-test-replica-"))
        if os.geteuid() == 0:
            shutil.chown(root, OWNER)
        data = root / "pgdata"
        port = _free_port()
        # -R: a standby.signal and the primary's conninfo, so the copy starts as a
        # streaming replica of it; -c fast: a checkpoint now, not spread over minutes.
        socket_dir = str(server.socket_dir)
        _as_server_user(
            "pg_basebackup", "-h", socket_dir, "-U", "postgres", "-D", str(data), "-R", "-c", "fast"
        )
        options = f"-h 127.0.0.1 -p {port} -k {root}"
        _as_server_user(
            "pg_ctl", "-D", str(data), "-w", "-l", str(root / "log"), "-o", options, "start"
        )
        try:
            yield Pair(primary, f"postgresql://postgres@127.0.0.1:{port}/facedb", home)
        finally:
            _as_server_user("pg_ctl", "-D", str(data), "-w", "-m", "fast", "stop")
            shutil.rmtree(root, ignore_errors=True)


def _execute(url: str, statement: str) -> Any:
    engine = make_engine(url)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            return conn.execute(text(statement)).scalar()
    finally:
        engine.dispose()


def _enrol(service: FaceService, name: str, seed: int) -> np.ndarray:
    """Enrols one face on the primary (committed on return); the face."""
    rng = np.random.default_rng(seed)
    vector = rng.standard_normal(512)
    vector = (vector / np.linalg.norm(vector)).astype(np.float32)
    with service.transaction() as session:
        user = gallery.create_user(session, name)
        gallery.add_embeddings(
            session, user.id, [gallery.NewEmbedding(vector, 0.9, 0.9, "test")], MODEL
        )
    return vector


def _service(pair: Pair, tmp_path: Path, **changes: Any) -> FaceService:
    settings = Settings.load(
        {
            "database_url": pair.primary,
            "replica_url": pair.replica,
            "home": str(tmp_path),
            "cooldown": 0,
            **changes,
        }
    )
    return FaceService(settings)


def test_enrolled_on_the_primary_verified_through_the_replica_at_once(
    pair: Pair, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert _execute(pair.replica, "SELECT pg_is_in_recovery()") is True
    service = _service(pair, tmp_path)
    try:
        for i in range(5):  # each one verified the moment its enrolment commits
            face = _enrol(service, f"replica person {i}", seed=100 + i)
            with caplog.at_level(logging.WARNING, logger="facedb.store.replica"):
                result = service.verify_embedding(face.tolist(), model=MODEL, device="door")
            assert (result.decision, result.name) == ("accepted", f"replica person {i}")
            # The replica answered: the primary is read only when it lags or is down.
            assert not [r for r in caplog.records if "reading from the primary" in r.message]
        # The search's own statements ran on the replica (its pooled connection's last).
        searched = _execute(
            pair.replica,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'facedb' "
            "AND query LIKE '%face_embeddings%'",
        )
        assert searched >= 1
        report = service.attendance(None, None, 10)
        assert {r.name for r in report} >= {f"replica person {i}" for i in range(5)}
    finally:
        service.close()


def test_a_lagging_replica_is_not_read(
    pair: Pair, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With the replica's replay paused, a person enrolled since is still accepted:
    the replica has not caught up, so the primary answers."""
    service = _service(pair, tmp_path, replica_wait=0.05)
    _execute(pair.replica, "SELECT pg_wal_replay_pause()")
    try:
        face = _enrol(service, "enrolled while the replica lags", seed=7)
        with caplog.at_level(logging.WARNING, logger="facedb.store.replica"):
            result = service.verify_embedding(face.tolist(), model=MODEL, device="door")
        assert (result.decision, result.name) == ("accepted", "enrolled while the replica lags")
        assert any("replica is more than 0.050 s behind" in r.message for r in caplog.records)
        assert _execute(pair.replica, "SELECT count(*) FROM users WHERE name LIKE 'enrolled%'") == 0
    finally:
        _execute(pair.replica, "SELECT pg_wal_replay_resume()")
        service.close()
