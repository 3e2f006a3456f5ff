"""What a kiosk's offline spool may put into the database when it is replayed
(issue 29): only events a kiosk could have decided (19: times and scores in range),
and nothing of a person forgotten meanwhile (2: erasure is final)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from facedb.cli.main import main
from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.domain.evidence import Candidate
from facedb.events.worker import DeliveryWorker
from facedb.offline.evidence_files import EVIDENCE_DIR, write_file
from facedb.offline.spool import REJECTED_FILE
from facedb.service import FaceService
from facedb.store import attendance, outbox
from facedb.store.evidence import NewEvidence
from facedb.store.gallery import create_user


def ok(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, (args, result.output)
    return result


def event(user_id: int | None, when: datetime, **changes: object) -> AttendanceEvent:
    made = AttendanceEvent(
        uuid.uuid4(), when, "identify", "accepted", user_id, None, 0.62, 0.3, 0.98, "door", "m",
        offline=True,
    )  # fmt: skip
    return dataclasses.replace(made, **changes)  # type: ignore[arg-type]


def test_replay_refuses_events_out_of_range(settings: Settings) -> None:
    """Issue 29, 19: an accepted event dated 9999-12-31 with similarity 1e308 was
    inserted and could never be purged. Such events go to rejected.jsonl with the
    reason; the plausible ones go in."""
    service = FaceService(settings)
    with service.transaction() as s:
        ann = create_user(s, "Ann", None, {}).id
    now = datetime.now(UTC)
    good = [
        event(ann, now - timedelta(hours=2)),
        event(ann, now + timedelta(minutes=5)),  # a kiosk clock a little ahead
        event(None, now - timedelta(hours=1), decision="unknown", similarity=-0.2),
        event(ann, now - timedelta(hours=3), similarity=1.0000001, liveness=1.0000001),
    ]
    bad = [
        event(ann, datetime(9999, 12, 31, tzinfo=UTC), similarity=1e308),
        event(ann, now + timedelta(days=2)),
        event(ann, datetime(1800, 1, 1, tzinfo=UTC)),
        event(ann, now, similarity=1e308),
        event(ann, now, similarity=float("nan")),
        event(ann, now, threshold=-7.0),
        event(ann, now, liveness=3.0),
        event(ann, now, runner_up=float("inf")),
        event(ann, now, fpir_target=2.0),
        event(ann, now, gallery_persons=-1),
        event(ann, now, decision="admitted"),
    ]
    for spooled in good + bad:
        service.spool.append(spooled)

    replayed = ok("spool", "replay", "--json")
    result = json.loads(replayed.stdout)
    assert (result["inserted"], result["refused"]) == (len(good), len(bad))
    logged = {r.event_id for r in service.attendance(limit=100)}
    assert logged == {e.event_id for e in good}
    rejected = [
        json.loads(line)
        for line in (service.spool.directory / REJECTED_FILE).read_text().splitlines()
    ]
    assert [r["event_id"] for r in rejected] == [str(e.event_id) for e in bad]
    assert "is not between" in rejected[0]["refused"]
    assert service.spool.status().pending == 0


def _thumbnail() -> bytes:
    ok_, encoded = cv2.imencode(".jpg", np.full((112, 112, 3), 128, np.uint8))
    assert ok_
    return bytes(encoded.tobytes())


def _evidence(spooled: AttendanceEvent, *candidates: Candidate) -> NewEvidence:
    vector = np.random.default_rng(7).standard_normal(512).astype(np.float32)
    return NewEvidence(
        event_id=spooled.event_id,
        occurred_at=spooled.occurred_at,
        model="m",
        embedding=vector / np.linalg.norm(vector),
        thumbnail=_thumbnail(),
        quality_ok=True,
        quality=0.9,
        det_score=0.9,
        liveness=0.98,
        reasons=(),
        candidates=candidates,
    )


def _payloads(service: FaceService) -> str:
    with service.transaction() as s:
        return str(
            s.execute(text("SELECT coalesce(jsonb_agg(payload), '[]') FROM outbox")).scalar()
        )


@pytest.mark.parametrize("policy", ["anonymise", "keep"])
def test_an_offline_kiosk_does_not_undo_an_erasure(settings: Settings, policy: str) -> None:
    """Issue 29, 2 and 13: a kiosk offline with FACEDB_EVIDENCE=all verified Eve twice
    and saw Bob (Eve his runner-up); Eve is forgotten on another machine; when the
    kiosk comes back, the replay puts neither Eve's face, vector or name into the
    evidence, nor her id or name into the outbox, and the payloads stored before the
    erasure no longer name her."""
    service = FaceService(settings)
    with service.transaction() as s:
        eve = create_user(s, "Eve Erased", None, {}).id
        bob = create_user(s, "Bob Kept", None, {}).id
        outbox.add_sink(s, "webhook", "http://127.0.0.1:9/hook")
        attendance.log_event(s, event(eve, datetime.now(UTC) - timedelta(days=1), offline=False))
    assert "Eve Erased" in _payloads(service)
    before = datetime.now(UTC) - timedelta(minutes=30)
    eve_events = [event(eve, before), event(eve, before + timedelta(minutes=1))]
    bob_event = event(bob, before + timedelta(minutes=2))
    evidence_dir = service.spool.directory / EVIDENCE_DIR
    for spooled in eve_events:
        service.spool.append(spooled)
        write_file(evidence_dir, _evidence(spooled, Candidate(eve, "Eve Erased", 0.62)))
    service.spool.append(bob_event)
    write_file(
        evidence_dir,
        _evidence(bob_event, Candidate(bob, "Bob Kept", 0.7), Candidate(eve, "Eve Erased", 0.4)),
    )

    ok("users", "forget", "Eve Erased", "--attendance", policy, "--no-shred", "--yes")
    after = event(eve, datetime.now(UTC))  # a stale gallery cache still knows her face
    service.spool.append(after)
    write_file(evidence_dir, _evidence(after, Candidate(eve, "Eve Erased", 0.6)))
    ok("spool", "replay")

    with service.transaction() as s:
        kept = s.execute(text("SELECT event_id, candidates::text FROM evidence")).all()
        rows = dict(s.execute(text("SELECT event_id, user_id FROM attendance")).all())
    assert [str(event_id) for event_id, _ in kept] == [str(bob_event.event_id)]
    assert "Eve" not in kept[0][1] and "Bob Kept" in kept[0][1]
    assert not list(evidence_dir.glob("*.json"))  # nothing left to send later either
    assert rows[after.event_id] is None  # decided by her face after the erasure
    assert rows[bob_event.event_id] == bob
    if policy == "anonymise":
        assert all(rows[e.event_id] is None for e in eve_events)
        assert "Eve" not in _payloads(service), _payloads(service)
        with service.transaction() as s:
            ids = s.execute(
                text("SELECT count(*) FROM outbox WHERE payload->>'user_id' = :u"), {"u": str(eve)}
            ).scalar()
        assert ids == 0
    else:  # her rows stay hers, as before the erasure
        assert all(rows[e.event_id] == eve for e in eve_events)


def test_undelivered_outbox_messages_are_pruned_in_time(settings: Settings) -> None:
    """Issue 29, 13: dead and pending messages were never pruned. The worker deletes
    them after 30 days (KEEP_UNDELIVERED: 40 days old here), recent ones never."""
    service = FaceService(settings)
    with service.transaction() as s:
        ann = create_user(s, "Ann", None, {}).id
        outbox.add_sink(s, "webhook", "http://127.0.0.1:9/hook")
        events = [event(ann, datetime.now(UTC) - timedelta(hours=i)) for i in range(4)]
        for logged in events:
            attendance.log_event(s, logged)
        ages = {0: 0, 1: 40, 2: 40, 3: 10}  # days
        statuses = {0: "dead", 1: "dead", 2: "pending", 3: "pending"}
        for index, logged in enumerate(events):
            s.execute(
                text(
                    "UPDATE outbox SET created_at = now() - make_interval(days => :d) "
                    "WHERE event_id = :e"
                ),
                {"d": ages[index], "e": logged.event_id},
            )
            s.execute(
                text(
                    "UPDATE outbox_deliveries SET status = :st, next_attempt_at = now() + "
                    "interval '1 day' WHERE message_id = (SELECT id FROM outbox WHERE event_id = :e)"
                ),
                {"st": statuses[index], "e": logged.event_id},
            )
    DeliveryWorker(service.settings, service.transaction).run_once()
    with service.transaction() as s:
        left = set(s.scalars(text("SELECT event_id FROM outbox")))
    assert left == {events[0].event_id, events[3].event_id}


def test_forget_anonymises_the_stored_outbox_payloads(settings: Settings) -> None:
    """Issue 29, 13: `forget` (default --attendance anonymise) left the name and the
    user id in stored payloads, joinable to the anonymised rows by event id."""
    service = FaceService(settings)
    with service.transaction() as s:
        zoe = create_user(s, "Zoe Gone", None, {}).id
        outbox.add_sink(s, "webhook", "http://127.0.0.1:9/hook")
        logged = event(zoe, datetime.now(UTC) - timedelta(hours=1), offline=False)
        attendance.log_event(s, logged)
        claim = event(None, datetime.now(UTC), kind="verify", decision="rejected")
        attendance.log_event(s, dataclasses.replace(claim, claimed_user_id=zoe))
    assert _payloads(service).count("Zoe Gone") == 2
    ok("users", "forget", "Zoe Gone", "--no-shred", "--yes")
    with service.transaction() as s:
        rows = s.execute(
            text(
                "SELECT payload->>'user_id', payload->>'person', payload->>'claimed_user_id',"
                " payload->>'claimed_person' FROM outbox ORDER BY id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [(None, None, None, None)] * 2
    assert "Zoe" not in _payloads(service)
