"""The spool (durable, ordered, exactly-once replay) and the gallery cache (atomic,
private, and matching like the database does)."""

from __future__ import annotations

import dataclasses
import json
import logging
import stat
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select, text

from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.errors import NoGalleryCacheError
from facedb.offline import gallery_cache
from facedb.offline.gallery_cache import CachedUser, GalleryCache
from facedb.offline.spool import BatchOutcome, Spool, WriteBatch
from facedb.offline.spool_lines import event_from_line, event_to_line
from facedb.service import FaceService
from facedb.store import gallery
from facedb.store.gallery import NewEmbedding
from facedb.store.tables.core import Attendance, FaceEmbedding

MODEL = "w600k_mbf_int8"


def _event(i: int = 0, **changes: object) -> AttendanceEvent:
    event = AttendanceEvent(
        event_id=uuid.uuid4(),
        occurred_at=datetime(2026, 11, 25, 8, 0, tzinfo=UTC) + timedelta(seconds=i),
        kind="identify",
        decision="accepted",
        user_id=None,
        claimed_user_id=None,
        similarity=0.5 + i / 1000,
        threshold=0.3,
        liveness=None,
        device="door \u00e9",
        model=MODEL,
        offline=True,
    )
    return dataclasses.replace(event, **changes)  # type: ignore[arg-type]


def _collect(into: list[AttendanceEvent]) -> WriteBatch:
    def write(batch: list[AttendanceEvent]) -> BatchOutcome:
        into.extend(batch)
        return BatchOutcome(len(batch))

    return write


def test_events_survive_the_round_trip_exactly(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    events = [_event(i, user_id=i or None, liveness=0.9 if i else None) for i in range(5)]
    for event in events:
        spool.append(event)
    assert spool.pending() == events
    data = spool.events_path.read_bytes()
    assert data.count(b"\n") == 5 and data.isascii()
    assert stat.S_IMODE(spool.events_path.stat().st_mode) == 0o600
    assert event_from_line(event_to_line(events[1])) == events[1]


def test_the_decision_policy_round_trips_and_older_lines_still_read() -> None:
    event = _event(
        7,
        decision="ambiguous",
        threshold_source="fpir",
        gallery_persons=120,
        gallery_faces=480,
        fpir_target=0.01,
        runner_up=0.41,
        scope="site:north",
        search_stage="exact",
    )
    assert event_from_line(event_to_line(event)) == event
    record = json.loads(event_to_line(event))
    for key in ("threshold_source", "gallery_persons", "gallery_faces", "fpir_target",
                "runner_up", "scope", "search_stage"):  # fmt: skip
        del record[key]  # a line spooled before the policy was recorded
    older = event_from_line(json.dumps(record).encode())
    assert older == dataclasses.replace(
        event, threshold_source=None, gallery_persons=None, gallery_faces=None,
        fpir_target=None, runner_up=None, scope=None, search_stage=None,
    )  # fmt: skip
    for key, bad in (("gallery_persons", True), ("fpir_target", "x"), ("scope", 3)):
        broken = json.loads(event_to_line(event))
        broken[key] = bad
        assert event_from_line(json.dumps(broken).encode()) is None, key


@pytest.mark.parametrize(
    "line",
    [b"", b"{", b"[]", b'{"v": 2}', b'{"v": 1, "event_id": "x"}', b"\xff\xfe", b"null"],
)
def test_lines_that_are_not_events_are_recognised(line: bytes) -> None:
    assert event_from_line(line) is None


def test_a_torn_last_line_is_skipped_with_a_warning_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path)
    first, second = _event(1), _event(2)
    spool.append(first)
    torn = event_to_line(_event(3))[:37]  # a crash in the middle of an append
    with open(spool.events_path, "ab") as handle:
        handle.write(torn)
    spool.append(second)  # starts a new line
    assert spool.pending() == [first, second]
    assert spool.status().unreadable == 1

    sent: list[AttendanceEvent] = []
    with caplog.at_level(logging.WARNING, logger="facedb.offline.spool"):
        result = spool.replay(_collect(sent))
    assert (result.sent, result.unreadable) == (2, 1)
    assert sent == [first, second]
    assert "not a complete event" in caplog.text
    assert torn.decode() in (tmp_path / "spool" / "unreadable.txt").read_text()
    assert spool.pending() == [] and not spool.has_pending()


def test_events_appended_during_a_replay_wait_for_the_next_one(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    old = [_event(i) for i in range(3)]
    for event in old:
        spool.append(event)
    late = _event(99)
    sent: list[AttendanceEvent] = []

    def write(batch: list[AttendanceEvent]) -> BatchOutcome:
        spool.append(late)  # another verification while the replay runs
        sent.extend(batch)
        return BatchOutcome(len(batch))

    assert spool.replay(write).sent == 3
    assert sent == old
    assert spool.pending() == [late]


def test_replay_keeps_spool_order_across_files(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    events = [_event(i) for i in range(7)]
    for event in events[:4]:
        spool.append(event)

    def fail(batch: list[AttendanceEvent]) -> BatchOutcome:
        raise OSError("the database went away")

    with pytest.raises(OSError):
        spool.replay(fail)  # events.jsonl is now a replay file, kept
    for event in events[4:]:
        spool.append(event)
    assert spool.pending() == events
    sent: list[AttendanceEvent] = []
    spool.replay(_collect(sent))
    assert sent == events


def test_concurrent_appends_from_processes_never_interleave(tmp_path: Path) -> None:
    code = (
        "import sys, uuid; from datetime import UTC, datetime;"
        "from facedb.offline.spool import Spool; from facedb.domain.attendance import AttendanceEvent;"
        "s = Spool(__import__('pathlib').Path(sys.argv[1]));"
        "[s.append(AttendanceEvent(uuid.uuid4(), datetime.now(UTC), 'identify', 'unknown',"
        " None, None, None, None, None, 'k' * 500, 'm', True)) for _ in range(100)]"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)]) for _ in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 4
    status = Spool(tmp_path).status()
    assert (status.pending, status.unreadable) == (400, 0)
    assert len({e.event_id for e in Spool(tmp_path).pending()}) == 400


def test_events_the_database_refuses_are_kept_aside(settings: Settings, tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    good = [_event(i) for i in range(3)]
    poison = _event(10, decision="maybe")  # not a decision the schema allows
    for event in [good[0], poison, *good[1:]]:
        spool.append(event)
    service = FaceService(settings.replace(home=tmp_path))
    result = service.replay_spool()
    assert (result.sent, result.inserted, result.refused) == (4, 3, 1)
    with service.transaction() as session:
        stored = set(session.scalars(select(Attendance.event_id)))
    assert stored == {e.event_id for e in good}
    (rejected,) = (tmp_path / "spool" / "rejected.jsonl").read_text().splitlines()
    assert json.loads(rejected)["event_id"] == str(poison.event_id)
    # Checked before the database sees it (offline/sync.py's out_of_range).
    assert "not a kind and a decision" in json.loads(rejected)["refused"]
    assert service.spool_status().rejected == 1 and service.spool_status().pending == 0
    service.close()


def test_events_of_people_removed_since_are_unlinked(settings: Settings, tmp_path: Path) -> None:
    service = FaceService(settings.replace(home=tmp_path))
    with service.transaction() as session:
        kept = gallery.create_user(session, "Kept").id
    gone = kept + 1000  # an id removed (or forgotten) while the event waited
    service.spool.append(_event(1, user_id=kept, claimed_user_id=gone, kind="verify"))
    service.spool.append(_event(2, user_id=gone))
    assert service.replay_spool().inserted == 2
    with service.transaction() as session:
        rows = session.execute(
            select(Attendance.user_id, Attendance.claimed_user_id).order_by(Attendance.id)
        ).all()
    assert [tuple(r) for r in rows] == [(kept, None), (None, None)]
    service.close()


# --------------------------------------------------------------------------- cache


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, 512)).astype(np.float32)
    unit: np.ndarray = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit


def test_cache_is_written_atomically_and_privately(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    cache = GalleryCache(
        model=MODEL,
        written_at=datetime.now(UTC),
        calibrated_threshold=0.31,
        users=(CachedUser(1, "Zoë \u0130", True), CachedUser(2, "Bob", False)),
        owners=np.array([1, 1, 2], np.int64),
        embeddings=_unit(rng, 3),
    )
    path = gallery_cache.write(tmp_path, cache)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    back = gallery_cache.load(tmp_path, MODEL, max_age_s=60)
    assert back.users == cache.users and back.calibrated_threshold == 0.31
    assert np.array_equal(back.embeddings, cache.embeddings)
    assert back.find_user("ZOË \u0130") == cache.users[0]
    # Inactive people are never identified, but are checked when claimed (as in SQL).
    assert [m.user_id for m in back.identify(cache.embeddings[2])] == [1]
    assert back.similarity_to_user(2, cache.embeddings[2]) == pytest.approx(1.0)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_cache_is_refused_not_fatal(tmp_path: Path, damage: str) -> None:
    cache = GalleryCache(
        MODEL,
        datetime.now(UTC),
        None,
        (),
        np.zeros(0, np.int64),
        _unit(np.random.default_rng(1), 0),
    )
    path = gallery_cache.write(tmp_path, cache)
    data = path.read_bytes()
    path.write_bytes(
        {"truncate": data[: len(data) // 2], "garbage": b"\x00" * 100, "empty": b""}[damage]
    )
    with pytest.raises(NoGalleryCacheError, match="unreadable"):
        gallery_cache.load(tmp_path, MODEL, max_age_s=60)
    assert gallery_cache.purge_user(tmp_path, 1) == 0 and not path.exists()


def test_cache_matching_agrees_with_the_database(settings: Settings, tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    service = FaceService(settings.replace(home=tmp_path, ef_search=400))
    with service.transaction() as session:
        for i in range(40):
            user = gallery.create_user(session, f"person {i}")
            gallery.add_embeddings(
                session,
                user.id,
                [NewEmbedding(v, None, None, None) for v in _unit(rng, 3)],
                MODEL,
            )
        inactive = gallery.create_user(session, "inactive")
        inactive.active = False
        gallery.add_embeddings(
            session, inactive.id, [NewEmbedding(v, None, None, None) for v in _unit(rng, 2)], MODEL
        )
    cache = service.refresh_cache()
    assert cache is not None and len(cache.users) == 41 and cache.owners.shape == (122,)
    with service.transaction() as session:
        stored = np.stack(
            [np.asarray(v, np.float32) for v in session.scalars(select(FaceEmbedding.embedding))]
        )
        noise = _unit(rng, 20) * 0.6
        probes = stored[rng.choice(len(stored), 20)] + noise
        probes /= np.linalg.norm(probes, axis=1, keepdims=True)
        sql = gallery.identify(session, probes, MODEL, ef_search=400)
        for probe, expected in zip(probes, sql, strict=True):
            got = cache.identify(probe)
            assert [m.user_id for m in got] == [m.user_id for m in expected]
            assert np.allclose(
                [m.similarity for m in got], [m.similarity for m in expected], atol=1e-5
            )
            best = expected[0].user_id
            assert cache.similarity_to_user(best, probe) == pytest.approx(
                gallery.similarity_to_user(session, best, probe, MODEL), abs=1e-5
            )
        assert cache.similarity_to_user(inactive.id, probes[0]) is not None
        assert cache.similarity_to_user(10**9, probes[0]) is None
    service.close()


def test_search_options_last_one_transaction(settings: Settings, tmp_path: Path) -> None:
    """identify's ef_search and iterative scan are the transaction's own: the pooled
    connection's next transaction has the server's settings again."""
    setting = text("SELECT current_setting(:name, true)")
    pid = text("SELECT pg_backend_pid()")
    service = FaceService(settings.replace(home=tmp_path))
    with service.transaction() as session:
        backend = session.execute(pid).scalar_one()
        gallery.identify(session, _unit(np.random.default_rng(3), 1), MODEL, ef_search=357)
        assert session.execute(setting, {"name": "hnsw.ef_search"}).scalar_one() == "357"
        scan = session.execute(setting, {"name": "hnsw.iterative_scan"}).scalar_one()
        assert scan == "relaxed_order"
    with service.transaction() as session:
        assert session.execute(pid).scalar_one() == backend  # the same pooled connection
        assert session.execute(setting, {"name": "hnsw.ef_search"}).scalar_one() == "40"
        assert session.execute(setting, {"name": "hnsw.iterative_scan"}).scalar_one() == "off"
    service.close()
