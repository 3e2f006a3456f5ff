"""What a kiosk's offline spool may put into the database when it is replayed
(issue 29): only events a kiosk could have decided (19: times and scores in range),
and nothing of a person forgotten meanwhile (2: erasure is final)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner, Result

from facedb.cli.main import main
from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.offline.spool import REJECTED_FILE
from facedb.service import FaceService
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
