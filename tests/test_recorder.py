"""The Recorder (facedb/usecases/recording.py): one record per presence at a polling
kiosk, the metrics counted after commit, watch's evidence and scope, and an offline
scoped search that searches the scope. Real PostgreSQL, real models, real faces."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select
from test_api import NO_FACE, OBAMA, OBAMA_PROBE, Api, api, pipeline  # noqa: F401 (fixtures)
from test_outage import Server, _kiosk, server, server_root  # noqa: F401 (fixtures)

from benchmarks.scenes import write_stills
from facedb.config import Settings
from facedb.decision import Verdict
from facedb.errors import NoGalleryCacheError
from facedb.events import metrics
from facedb.media.images import read_image
from facedb.offline import gallery_cache
from facedb.service import FaceService
from facedb.store.tables.core import Attendance
from facedb.store.tables.evidence import Evidence
from facedb.timeattendance import TimeAttendance
from facedb.usecases.recording import Decision, Recorder
from facedb.watch.events import WatchEvent
from facedb.watch.loop import WatchOptions, watch

STRANGER = "openface/examples/carell.jpg"
OTHER_STRANGER = "openface/examples/adams.jpg"
DOG = "dlib/dogs.jpg"
BIDEN = "face_recognition/examples/biden.jpg"


def _looks(kind: str, decision: str, device: str, outcome: str) -> float:
    labels = {
        "kind": kind,
        "decision": decision,
        "device": device,
        "offline": "false",
        "outcome": outcome,
    }
    return metrics.REGISTRY.get_sample_value("facedb_looks_total", labels) or 0.0


def _open_review(kiosk: Api) -> list[dict[str, object]]:
    response = kiosk.client.get("/v1/review", headers=kiosk.admin, params={"status": "open"})
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()
    return items


def _rows(kiosk: Api) -> list[dict[str, object]]:
    response = kiosk.client.get("/v1/attendance", headers=kiosk.reporter)
    assert response.status_code == 200, response.text
    rows: list[dict[str, object]] = response.json()
    return rows


def test_a_polling_kiosk_records_one_presence_not_one_row_per_poll(
    api: Api,  # noqa: F811
) -> None:
    assert api.enrol("Barack Obama", OBAMA).status_code == 201

    # A stranger standing at the kiosk for ten polls: one row of ten looks, one
    # review item; every answer names that row.
    answers = [api.verify(STRANGER) for _ in range(10)]
    assert [a.status_code for a in answers] == [200] * 10
    assert {a.json()["decision"] for a in answers} == {"unknown"}
    assert [a.json()["logged"] for a in answers] == [True] + [False] * 9
    assert len({a.json()["event_id"] for a in answers}) == 1
    [row] = _rows(api)
    assert (row["decision"], row["looks"], row["device"]) == ("unknown", 10, "kiosk-key")
    assert row["event_id"] == answers[0].json()["event_id"]
    assert len(_open_review(api)) == 1

    # Another stranger next: another presence (another face), another review item.
    other = api.verify(OTHER_STRANGER)
    assert other.status_code == 200 and other.json()["decision"] == "unknown"
    assert other.json()["logged"] is True
    assert len(_open_review(api)) == 2

    # Looks with no usable face (a dog, an empty picture): 422, counted, never a row
    # or a review item.
    dropped = _looks("identify", "no_face", "kiosk-key", "dropped") + _looks(
        "identify", "bad_quality", "kiosk-key", "dropped"
    )
    for image in (DOG, NO_FACE, DOG, NO_FACE, DOG):
        answer = api.verify(image)
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["code"] in ("no_face", "bad_quality")
    after = _looks("identify", "no_face", "kiosk-key", "dropped") + _looks(
        "identify", "bad_quality", "kiosk-key", "dropped"
    )
    assert after - dropped == 5
    assert len(_rows(api)) == 2 and len(_open_review(api)) == 2

    # An enrolled person polled ten times: accepted every time, recorded once per
    # cooldown (60 s by default).
    accepted = [api.verify(OBAMA_PROBE) for _ in range(10)]
    assert {a.json()["decision"] for a in accepted} == {"accepted"}
    assert sum(a.json()["logged"] for a in accepted) == 1
    rows = _rows(api)
    assert [r["decision"] for r in rows] == ["accepted", "unknown", "unknown"]
    assert rows[0]["looks"] == 1

    # The report's attempts count rows: one per presence.
    report = api.client.get(
        "/v1/report", headers=api.reporter, params={"date": "today", "tz": "UTC"}
    ).json()
    assert report["attempts"] == {"accepted": 1, "unknown": 2}


@pytest.fixture
def service(settings: Settings) -> Iterator[FaceService]:
    running = FaceService(settings.replace(presence_gap=15.0, cooldown=60.0))
    yield running
    running.close()


def _doubt(at: datetime, decision: str = "unknown", device: str = "door") -> Decision:
    return Decision(
        verdict=Verdict(decision, None, 0.1, None),
        kind="identify",
        policy=None,
        faces=(),
        device=device,
        model="w600k_mbf_int8",
        event_id=uuid.uuid4(),
        occurred_at=at,
    )


def test_a_presence_lasts_while_the_looks_come_within_the_gap(service: FaceService) -> None:
    """The same doubtful look at several nows: within 15 s of the last look it joins
    the presence, after a longer gap (or another decision, device) it starts one."""
    recorder = Recorder(service)
    start = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    outcomes = []
    for seconds, decision, device in (
        (0, "unknown", "door"),
        (10, "unknown", "door"),  # 10 s after the last look: the same presence
        (24, "unknown", "door"),  # 14 s after the last look (24 s after the first)
        (24, "unknown", "gate"),  # another kiosk
        (40, "unknown", "door"),  # 16 s after the last look: a new presence
        (41, "rejected", "door"),  # another decision
        (42, "unknown", "door"),  # not the latest row of the device any more
    ):
        with recorder.online() as recording:
            recorded = recording.record(
                _doubt(start + timedelta(seconds=seconds), decision, device), presence=True
            )
        outcomes.append((recorded.outcome, recorded.looks))
    assert outcomes == [
        ("logged", 1),
        ("joined", 2),
        ("joined", 3),
        ("logged", 1),
        ("logged", 1),
        ("logged", 1),
        ("logged", 1),
    ]
    with service.transaction() as session:
        rows = session.execute(
            select(Attendance.device, Attendance.looks, Attendance.last_seen_at).order_by(
                Attendance.occurred_at, Attendance.device
            )
        ).all()
    assert [(r.device, r.looks) for r in rows] == [
        ("door", 3),
        ("gate", 1),
        ("door", 1),
        ("door", 1),
        ("door", 1),
    ]
    assert rows[0].last_seen_at == start + timedelta(seconds=24)

    # Without ``presence`` (facedb verify, watch) every doubtful decision is a row.
    with recorder.online() as recording:
        again = recording.record(_doubt(start + timedelta(seconds=43)))
    assert again.outcome == "logged"


def _decisions_in_metrics(device: str) -> float:
    """facedb_decisions_total of this device, as /metrics shows it."""
    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics.exposition().decode())
        for sample in family.samples
        if sample.name == "facedb_decisions_total" and sample.labels.get("device") == device
    )


def test_a_rolled_back_insert_is_not_counted(service: FaceService) -> None:
    recorder = Recorder(service)
    now = datetime.now(UTC)
    with pytest.raises(RuntimeError), recorder.online() as recording:
        assert recording.record(_doubt(now, device="rollback")).logged
        raise RuntimeError("the transaction fails after the insert")
    with service.transaction() as session:
        assert (
            session.scalars(select(Attendance).where(Attendance.device == "rollback")).all() == []
        )
    assert _decisions_in_metrics("rollback") == 0

    # The same decision committed is counted once.
    with recorder.online() as recording:
        recording.record(_doubt(now, device="rollback"))
    assert _decisions_in_metrics("rollback") == 1


def _watch(service: FaceService, video: Path) -> list[WatchEvent]:
    events: list[WatchEvent] = []
    watch(service, WatchOptions(source=str(video)), on_event=events.append)
    return events


def test_watch_keeps_the_evidence_of_a_stranger_and_searches_its_site(
    settings: Settings, faces_dir: Path, tmp_path: Path
) -> None:
    stranger = write_stills(tmp_path / "stranger.avi", read_image(faces_dir / STRANGER), 20)
    obama = write_stills(tmp_path / "obama.avi", read_image(faces_dir / OBAMA_PROBE), 12)
    base = settings.replace(liveness="off", cooldown=0)
    service = FaceService(base)
    service.enrol("Barack Obama", str(faces_dir / OBAMA))
    service.enrol("Joe Biden", str(faces_dir / BIDEN))
    org = TimeAttendance(base)
    org.add_site("north", "UTC")
    org.add_site("south", "UTC")
    org.assign_site(["Barack Obama"], "south")
    org.assign_site(["Joe Biden"], "north")
    org.close()

    # A stranger: an unknown row whose face waits in the review queue.
    [event] = _watch(service, stranger)
    assert (event.decision, event.logged) == ("unknown", True)
    with service.transaction() as session:
        kept = session.scalars(select(Evidence).where(Evidence.event_id == event.event_id)).one()
        assert kept.thumbnail and kept.embedding is not None

    # Obama, enrolled at the south site: accepted by an unscoped watch, not by a
    # watch of the north site (the kiosk's FACEDB_SEARCH_SITE), whose row says so.
    assert [(e.decision, e.name) for e in _watch(service, obama)] == [("accepted", "Barack Obama")]
    service.close()
    north = FaceService(base.replace(search_site="north"))
    [scoped] = _watch(north, obama)
    assert scoped.decision == "unknown" and scoped.name is None
    with north.transaction() as session:
        row = session.scalars(
            select(Attendance).where(Attendance.event_id == scoped.event_id)
        ).one()
    assert (row.scope, row.gallery_persons) == ("site:north", 1)
    north.close()


def test_an_offline_scoped_search_searches_only_the_scope(
    server: Server,  # noqa: F811
    faces_dir: Path,
    tmp_path: Path,
) -> None:
    settings = _kiosk(server.url, tmp_path / "kiosk", liveness="off")
    service = FaceService(settings)
    service.enrol("Barack Obama", str(faces_dir / OBAMA))
    service.enrol("Joe Biden", str(faces_dir / BIDEN))
    org = TimeAttendance(settings)
    org.add_site("north", "UTC")
    org.add_site("south", "UTC")
    org.assign_site(["Barack Obama"], "south")
    org.assign_site(["Joe Biden"], "north")
    org.close()
    assert service.refresh_cache() is not None
    probe = str(faces_dir / OBAMA_PROBE)

    server.stop()
    north = service.verify(probe, site="north")
    assert north.offline and north.decision == "unknown" and north.name is None
    assert (north.scope, north.gallery_persons) == ("site:north", 1)
    south = service.verify(probe, site="south")
    assert (south.offline, south.decision, south.name) == (True, "accepted", "Barack Obama")
    everyone = service.verify(probe)
    assert (everyone.decision, everyone.gallery_persons) == ("accepted", 2)

    # A cache that does not know the sites (an older facedb) cannot search a scope:
    # the attempt is spooled as unknown and refused, never decided on everyone.
    cache = gallery_cache.load(
        settings.home, service.pipeline.embedder_name, settings.cache_max_age
    )
    gallery_cache.write(settings.home, dataclasses.replace(cache, memberships=None))
    with pytest.raises(NoGalleryCacheError, match="sites and groups"):
        service.verify(probe, site="south")
    service.close()
