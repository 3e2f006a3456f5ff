"""Corrections as an administrator types them: an event named by the 8 characters the
tables show, an ambiguous start refused with the candidates named, and a departure
with no arrival before it refused with the reason."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from click.testing import CliRunner, Result

from facedb.cli.main import main
from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.service import FaceService
from facedb.store.attendance import log_event
from facedb.store.gallery import create_user

PARIS = ZoneInfo("Europe/Paris")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, (args, result.output)
    return result


def _log(service: FaceService, user_id: int, when: datetime, event_id: uuid.UUID) -> None:
    with service.transaction() as s:
        log_event(
            s,
            AttendanceEvent(
                event_id, when, "identify", "accepted", user_id, None, 0.6, 0.3, 0.9, "lobby", "m"
            ),
        )


def test_events_are_named_by_their_short_id(settings: Settings) -> None:
    service = FaceService(settings)
    with service.transaction() as s:
        alice = create_user(s, "Alice Martin", None, {}).id
    twin_a = uuid.UUID("6f5bcb57-0000-4000-8000-000000000001")
    twin_b = uuid.UUID("6f5bcb57-1111-4000-8000-000000000002")
    single = uuid.UUID("0b4f9e21-2222-4000-8000-000000000003")
    for hour, event_id in ((9, twin_a), (12, twin_b), (17, single)):
        _log(service, alice, datetime(2026, 11, 9, hour, tzinfo=PARIS), event_id)

    listed = ok("attendance", "list").stdout
    assert "0b4f9e21" in listed and str(single) not in listed  # the table's short id

    voided = json.loads(ok("correct", "void", "0b4f9e21", "--reason", "false_accept",
                           "--json").stdout)  # fmt: skip
    assert voided["event_id"] == str(single)
    assert f"event {single}" in ok("correct", "history", "0B4F9E21").stdout

    ambiguous = run("correct", "void", "6f5bcb57", "--reason", "false_accept")
    assert ambiguous.exit_code == 2
    assert str(twin_a) in ambiguous.output and str(twin_b) in ambiguous.output
    assert "Traceback" not in ambiguous.output
    ok("correct", "void", "6f5bcb57-1", "--reason", "false_accept")

    for wrong, expected in (("6f5b", "not an event id"), ("deadbeef", "no attendance event")):
        refused = run("correct", "void", wrong, "--reason", "other")
        assert refused.exit_code == 2 and expected in refused.output, refused.output


def test_a_departure_needs_an_arrival_before_it(settings: Settings) -> None:
    service = FaceService(settings)
    with service.transaction() as s:
        create_user(s, "Bob Stone", None, {})
    ok("sites", "add", "Paris", "--tz", "Europe/Paris")
    ok("sites", "assign", "Paris", "Bob Stone")
    ok("shifts", "add", "day", "09:00", "17:00", "--days", "mon-fri")
    ok("shifts", "assign", "day", "--person", "Bob Stone", "--from", "2026-11-01")

    refused = run("correct", "add", "Bob Stone", "--at", "2026-12-07 17:30",
                  "--direction", "out", "--reason", "missed_punch")  # fmt: skip
    assert refused.exit_code == 2
    assert "no arrival" in refused.output and "--direction in" in refused.output
    assert json.loads(ok("correct", "list", "--json").stdout) == []  # nothing written

    ok("correct", "add", "Bob Stone", "--at", "2026-12-07 09:20", "--direction", "in",
       "--reason", "missed_punch")  # fmt: skip
    ok("correct", "add", "Bob Stone", "--at", "2026-12-07 17:30", "--direction", "out",
       "--reason", "missed_punch")  # fmt: skip
    sheet = json.loads(ok("timesheet", "--from", "2026-12-07", "--json").stdout)
    (day,) = sheet["days"]
    assert (day["first_in"], day["last_out"]) == (
        "2026-12-07T09:20:00+01:00",
        "2026-12-07T17:30:00+01:00",
    )
    assert day["late_minutes"] == 20
