"""Nothing lost in an outage: a kiosk whose database goes away keeps answering from
its gallery cache, spools the events, and the spool reaches the database exactly
once, even when the replay is killed half-way.

The database here is a separate embedded server started by the test in its own
FACEDB_HOME and reached through its URL, as an external server would be; the test
stops it (embedded.stop) in the middle of a run and starts it again."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import server_home
from embedded_server import Server
from kiosk_worker import MemoPipeline
from sqlalchemy import text

from facedb.cli.main import main
from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.errors import DatabaseUnreachableError, NoGalleryCacheError
from facedb.offline import sync
from facedb.offline.spool import REPLAY_BATCH, BatchOutcome, Spool
from facedb.offline.spool_lines import event_to_line
from facedb.service import FaceService
from facedb.store import embedded
from facedb.store.engine import make_engine, open_database

WORKER = Path(__file__).with_name("kiosk_worker.py")
# A CelebA identity whose first four photos enrol and whose fifth is a good probe
# (tests/test_end_to_end.py).
PERSON = "7203"


@pytest.fixture(scope="module")
def server_root() -> Iterator[tuple[Path, str]]:
    """A separate embedded PostgreSQL for this module, with a database at the head
    revision that each test's database is copied from."""
    with server_home() as home:
        database = open_database(Settings(home=home))
        database.engine.dispose()
        yield home, database.libpq_url


def _admin(url: str, statement: str) -> None:
    engine = make_engine(url.replace("/facedb?", "/postgres?"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(statement))
    engine.dispose()


@pytest.fixture
def server(server_root: tuple[Path, str]) -> Iterator[Server]:
    home, template = server_root
    name = f"outage_{uuid.uuid4().hex[:12]}"
    _admin(template, f'CREATE DATABASE "{name}" TEMPLATE facedb')
    server = Server(home, template.replace("/facedb?", f"/{name}?"))
    yield server
    if embedded.running_server(home) is None:
        server.start()
    _admin(template, f'DROP DATABASE "{name}" WITH (FORCE)')


def _kiosk(url: str, home: Path, **changes: object) -> Settings:
    values: dict[str, object] = {
        "database_url": url,
        "home": str(home),
        "cooldown": 0,
        "cache_refresh": 3600,
    }
    values.update(changes)
    return Settings.load(values)


def _photos(faces_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    """(a folder of four enrolment photos, the held-out probe photo)."""
    photos = sorted((faces_dir / "celeba" / PERSON).glob("*.jpg"))
    folder = tmp_path / "enrol"
    folder.mkdir()
    for photo in photos[:4]:
        shutil.copy(photo, folder / photo.name)
    return folder, photos[4]


def test_server_stopped_in_the_middle_of_200_verifications(
    server: Server, faces_dir: Path, tmp_path: Path
) -> None:
    settings = _kiosk(server.url, tmp_path / "kiosk")
    service = FaceService(settings, pipeline=MemoPipeline(settings))
    folder, probe = _photos(faces_dir, tmp_path)
    service.enrol("Alice", str(folder), frames=10)

    results = []
    phases: dict[str, float] = {}
    started = time.perf_counter()
    for i in range(200):
        if i == 60:
            phases["online"] = time.perf_counter() - started
            server.stop()
            started = time.perf_counter()
        if i == 140:
            phases["offline"] = time.perf_counter() - started
            server.start()
            started = time.perf_counter()
        results.append(service.verify(str(probe)))
        if i == 0:  # the first verification wrote the kiosk's gallery cache
            assert service.cache_files(), "no gallery cache after an online verification"
    phases["back online"] = time.perf_counter() - started
    service.close()
    print(f"\n200 verifications, seconds per phase: {phases}")

    assert [r.offline for r in results] == [False] * 60 + [True] * 80 + [False] * 60
    assert {(r.decision, r.name) for r in results} == {("accepted", "Alice")}
    assert all(r.logged for r in results)
    # The first verification back online sent the spool: exactly one row per event.
    assert server.scalar("SELECT count(*) FROM attendance") == 200
    assert server.scalar("SELECT count(DISTINCT event_id) FROM attendance") == 200
    engine = make_engine(server.url)
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT event_id, offline, decision FROM attendance")).all()
    engine.dispose()
    assert {r.event_id for r in rows} == {r.event_id for r in results}
    offline_ids = {r.event_id for r in results if r.offline}
    assert {r.event_id for r in rows if r.offline} == offline_ids
    assert Spool(settings.home).status().pending == 0


def test_offline_cli_one_to_one_no_cache_and_replay(
    server: Server, faces_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, probe = _photos(faces_dir, tmp_path)
    kiosk = tmp_path / "kiosk"
    monkeypatch.setenv("FACEDB_DATABASE_URL", server.url)
    monkeypatch.setenv("FACEDB_HOME", str(kiosk))
    monkeypatch.setenv("FACEDB_COOLDOWN", "0")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str, str]:
        result = runner.invoke(main, list(args))
        return result.exit_code, result.stdout, result.stderr

    assert run("enrol", "--name", "Alice", "--source", str(folder), "--frames", "10")[0] == 0
    server.stop()
    # No gallery cache yet: refused with exit 20, one line, and the attempt is spooled.
    code, _, err = run("verify", "--source", str(probe))
    assert code == 20, err
    assert err.startswith("error: the database is unreachable and no offline gallery cache")
    assert len(err.strip().splitlines()) == 1
    code, out, _ = run("spool", "status", "--json")
    assert code == 0 and json.loads(out)["pending"] == 1

    server.start()
    assert run("cache", "refresh")[0] == 0  # reaching the database sends the spool too
    assert Spool(kiosk).status().pending == 0
    server.stop()
    code, out, err = run("verify", "--name", "alice", "--source", str(probe))
    assert code == 0, err
    assert out.startswith("accepted: Alice") and "[offline" in out
    code, _, err = run("verify", "--name", "Nobody", "--source", str(probe))
    assert code == 7 and "offline" in err
    code, out, _ = run("spool", "replay")
    assert code == 12
    code, out, _ = run("spool", "status", "--json")
    assert json.loads(out)["pending"] == 1

    server.start()
    code, out, err = run("spool", "replay")
    assert code == 0, err
    assert out.startswith("sent 1 event(s): 1 new")
    assert server.scalar("SELECT count(*) FROM attendance") == 2
    assert server.scalar("SELECT count(*) FROM attendance WHERE offline") == 2
    assert (
        server.scalar(
            "SELECT count(*) FROM attendance WHERE offline AND decision = 'unknown' "
            "AND similarity IS NULL"
        )
        == 1
    )
    assert (
        server.scalar(
            "SELECT count(*) FROM attendance a JOIN users u ON u.id = a.claimed_user_id "
            "WHERE a.offline AND a.decision = 'accepted' AND u.name = 'Alice'"
        )
        == 1
    )


def _events(count: int) -> list[AttendanceEvent]:
    start = datetime.now(UTC) - timedelta(hours=1)
    return [
        AttendanceEvent(
            event_id=uuid.uuid4(),
            occurred_at=start + timedelta(seconds=i),
            kind="identify",
            decision="unknown",
            user_id=None,
            claimed_user_id=None,
            similarity=0.1,
            threshold=0.3,
            liveness=None,
            device="kiosk-test",
            model="w600k_mbf_int8",
            offline=True,
        )
        for i in range(count)
    ]


def _write_spool(home: Path, events: list[AttendanceEvent]) -> None:
    """A spool as a long outage leaves it (written at once, for speed)."""
    directory = home / "spool"
    directory.mkdir(parents=True)
    (directory / "events.jsonl").write_bytes(b"".join(event_to_line(e) for e in events))


def _attendance_count(url: str) -> tuple[int, int]:
    engine = make_engine(url)
    with engine.connect() as conn:
        row = conn.execute(text("SELECT count(*), count(DISTINCT event_id) FROM attendance")).one()
    engine.dispose()
    return int(row[0]), int(row[1])


def test_replay_killed_half_way_then_run_again_inserts_each_event_once(
    settings: Settings, tmp_path: Path
) -> None:
    events = _events(3 * REPLAY_BATCH)
    kiosk = tmp_path / "kiosk"
    _write_spool(kiosk, events)
    env = {**os.environ, "FACEDB_HOME": str(kiosk)}
    worker = subprocess.Popen(
        [sys.executable, str(WORKER), "replay", "--pause", "0.5"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = str(settings.database_url)
    deadline = time.monotonic() + 60
    try:
        while _attendance_count(url)[0] < REPLAY_BATCH and time.monotonic() < deadline:
            assert worker.poll() is None, worker.communicate()
            time.sleep(0.05)
        # At least one batch committed; the next is in its transaction, paused.
        worker.send_signal(signal.SIGKILL)
    finally:
        worker.wait(timeout=30)
    inserted, _ = _attendance_count(url)
    assert REPLAY_BATCH <= inserted < len(events)

    result = FaceService(Settings.load({"home": str(kiosk)})).replay_spool()
    assert result.sent == len(events)
    assert result.inserted == len(events) - inserted
    assert _attendance_count(url) == (len(events), len(events))
    assert Spool(kiosk).status().pending == 0


def test_replay_failing_after_some_batches_then_rerun(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = _events(3 * REPLAY_BATCH + 7)
    kiosk = tmp_path / "kiosk"
    _write_spool(kiosk, events)
    service = FaceService(settings.replace(home=kiosk))
    real = sync.write_spooled
    calls = []

    def failing(session: object, batch: list[AttendanceEvent]) -> BatchOutcome:
        calls.append(len(batch))
        if len(calls) == 3:
            raise DatabaseUnreachableError("cannot reach the database: injected after 2 batches")
        return real(session, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(sync, "write_spooled", failing)
    with pytest.raises(DatabaseUnreachableError):
        service.replay_spool()
    assert _attendance_count(str(settings.database_url))[0] == 2 * REPLAY_BATCH
    assert Spool(kiosk).status().pending == len(events)

    monkeypatch.setattr(sync, "write_spooled", real)
    result = service.replay_spool()
    assert (result.sent, result.inserted) == (len(events), len(events) - 2 * REPLAY_BATCH)
    assert _attendance_count(str(settings.database_url)) == (len(events), len(events))


def test_crash_after_commit_before_the_spool_file_is_deleted(
    settings: Settings, tmp_path: Path
) -> None:
    events = _events(50)
    kiosk = tmp_path / "kiosk"
    _write_spool(kiosk, events)
    saved = (kiosk / "spool" / "events.jsonl").read_bytes()
    service = FaceService(settings.replace(home=kiosk))
    assert service.replay_spool().inserted == 50
    # As if the process died after the commit, before unlinking: the file is back.
    (kiosk / "spool" / "events.jsonl").write_bytes(saved)
    again = service.replay_spool()
    assert (again.sent, again.inserted) == (50, 0)
    assert _attendance_count(str(settings.database_url)) == (50, 50)


def test_a_stale_cache_is_refused(settings: Settings, tmp_path: Path) -> None:
    kiosk = tmp_path / "kiosk"
    service = FaceService(settings.replace(home=kiosk))
    service.refresh_cache()
    # An hour later, with a 30-minute limit: the cache is too old to use.
    from facedb.offline import gallery_cache

    with pytest.raises(NoGalleryCacheError, match="older than FACEDB_CACHE_MAX_AGE"):
        gallery_cache.load(
            kiosk, "w600k_mbf_int8", 1800, now=datetime.now(UTC) + timedelta(hours=1)
        )
    with pytest.raises(NoGalleryCacheError, match="disabled"):
        gallery_cache.load(kiosk, "w600k_mbf_int8", 0)
