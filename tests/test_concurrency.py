"""Several kiosks at once on one database: no deadlock, no lost row, and two
enrolments of one name give one person and one DuplicateNameError."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from kiosk_worker import MemoPipeline
from sqlalchemy import text
from sqlalchemy.orm import Session

from facedb.config import Settings
from facedb.errors import DuplicateNameError
from facedb.service import FaceService
from facedb.store import gallery
from facedb.store.engine import make_engine

WORKER = Path(__file__).with_name("kiosk_worker.py")
KIOSKS = 4
VERIFICATIONS = 250


def _photos(faces_dir: Path, identity: str) -> list[Path]:
    return sorted((faces_dir / "celeba" / identity).glob("*.jpg"))


def _folder(tmp_path: Path, faces_dir: Path, identity: str) -> Path:
    folder = tmp_path / identity
    folder.mkdir()
    for photo in _photos(faces_dir, identity)[:4]:
        shutil.copy(photo, folder / photo.name)
    return folder


def _spawn(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_four_kiosks_verify_250_times_each_while_two_people_enrol(
    settings: Settings, faces_dir: Path, tmp_path: Path
) -> None:
    service = FaceService(settings.replace(cooldown=0.0), pipeline=MemoPipeline(settings))
    service.enrol("Alice", str(_folder(tmp_path, faces_dir, "7203")), frames=10)
    service.close()
    probe = str(_photos(faces_dir, "7203")[4])
    env = {
        **os.environ,
        "FACEDB_DATABASE_URL": str(settings.database_url),
        # One FACEDB_HOME for the four kiosks: their first verifications write the
        # gallery cache at the same moment (atomic renames).
        "FACEDB_HOME": str(tmp_path / "kiosks"),
        "FACEDB_COOLDOWN": "0",
    }
    started = time.perf_counter()
    kiosks = [_spawn(env, "verify", probe, str(VERIFICATIONS)) for _ in range(KIOSKS)]
    enrolments = [
        _spawn(env, "enrol", identity, str(_folder(tmp_path, faces_dir, identity)))
        for identity in ("7206", "7207")
    ]
    outputs = [p.communicate(timeout=300) for p in kiosks + enrolments]
    elapsed = time.perf_counter() - started
    print(f"\n{KIOSKS} x {VERIFICATIONS} verifications + 2 enrolments: {elapsed:.1f} s")
    assert [p.returncode for p in kiosks + enrolments] == [0] * (KIOSKS + 2), outputs
    reports = [json.loads(out) for out, _ in outputs]
    assert [r.get("added", 0) > 0 for r in reports[KIOSKS:]] == [True, True], reports[KIOSKS:]
    results = [r for report in reports[:KIOSKS] for r in report["results"]]
    assert len(results) == KIOSKS * VERIFICATIONS
    assert {(r["decision"], r["name"], r["offline"]) for r in results} == {
        ("accepted", "Alice", False)
    }

    engine = make_engine(str(settings.database_url))
    with engine.connect() as conn:
        ids = {str(i) for i in conn.execute(text("SELECT event_id FROM attendance")).scalars()}
        rows = conn.execute(text("SELECT count(*) FROM attendance")).scalar()
        people = conn.execute(text("SELECT count(*) FROM users")).scalar()
    engine.dispose()
    assert rows == KIOSKS * VERIFICATIONS
    assert ids == {r["event_id"] for r in results}
    assert people == 3
    assert len(list((tmp_path / "kiosks" / "cache").glob("*.tmp"))) == 0


def _waiting_for_a_lock(url: str) -> bool:
    engine = make_engine(url)
    with engine.connect() as conn:
        waiting = conn.execute(text("SELECT count(*) FROM pg_locks WHERE NOT granted")).scalar()
    engine.dispose()
    return bool(waiting)


def test_second_insert_of_a_name_waits_then_gets_duplicate_name_error(database_url: str) -> None:
    """The race the unique index on lower(name) settles: the second enrolment waits
    for the first transaction, then fails with DuplicateNameError, not a traceback."""
    engine = make_engine(database_url)
    caught: list[BaseException] = []

    def second() -> None:
        try:
            with Session(engine) as session, session.begin():
                gallery.create_user(session, "ALICE")
        except BaseException as exc:
            caught.append(exc)

    with Session(engine) as first, first.begin():
        gallery.create_user(first, "Alice")  # flushed, not committed
        thread = threading.Thread(target=second)
        thread.start()
        deadline = time.monotonic() + 10
        while not _waiting_for_a_lock(database_url) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert thread.is_alive(), caught  # blocked on the first transaction's row
    thread.join(timeout=10)
    assert len(caught) == 1 and isinstance(caught[0], DuplicateNameError), caught
    assert "'ALICE' is already enrolled" in str(caught[0])
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name FROM users")).scalars().all() == ["Alice"]
    engine.dispose()


def test_two_processes_enrol_the_same_name_at_once(
    database_url: str, faces_dir: Path, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "FACEDB_DATABASE_URL": database_url,
        "FACEDB_HOME": str(tmp_path / "home"),
    }
    photo = str(_photos(faces_dir, "7203")[0])
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "facedb.cli", "enrol", "--name", name, "--source", photo],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("Bob", "bob")
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    codes = sorted(p.returncode for p in procs)
    # The loser is refused either for the name (8, when both checked before either
    # wrote) or, when the winner committed first, for the same face (9): one person.
    assert codes in ([0, 8], [0, 9]), outputs
    loser = next(err for p, (_, err) in zip(procs, outputs, strict=True) if p.returncode != 0)
    assert "is already enrolled" in loser and "Traceback" not in loser
    engine = make_engine(database_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar() == 1
    engine.dispose()
