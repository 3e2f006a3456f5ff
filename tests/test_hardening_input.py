"""Bounded, unambiguous input of the time-and-attendance commands (issue 29): local
times the clocks skip or show twice are refused with the offsets to choose from (23),
and free text kept in append-only tables has a length cap (24). One line, exit code 2,
nothing written."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner, Result

from facedb.cli.main import main
from facedb.config import Settings
from facedb.domain.notes import NOTE_MAX_LENGTH
from facedb.service import FaceService
from facedb.store.gallery import create_user


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, (args, result.output)
    return result


def bad_input(*args: str, message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, (args, result.output)
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


@pytest.fixture
def paris(settings: Settings) -> FaceService:
    service = FaceService(settings)
    with service.transaction() as s:
        create_user(s, "Pia", None, {})
    ok("sites", "add", "Paris", "--tz", "Europe/Paris")
    ok("sites", "assign", "Paris", "Pia")
    return service


def corrections() -> list[dict[str, object]]:
    listed: list[dict[str, object]] = json.loads(ok("correct", "list", "--json").stdout)
    return listed


def test_local_times_that_do_not_exist_or_happen_twice_are_refused(paris: FaceService) -> None:
    add = ("correct", "add", "Pia", "--reason", "missed_punch", "--at")
    # Spring forward: 02:00 to 03:00 does not exist in Paris on 29 March 2026.
    bad_input(*add, "2026-03-29 02:30", message="does not exist in Europe/Paris")
    bad_input(*add, "2026-03-29 02:00", message="(+01:00 or +02:00)")
    # Fall back: 02:00 to 03:00 happens twice on 25 October 2026.
    bad_input(*add, "2026-10-25 02:30", message="happens twice in Europe/Paris")
    assert corrections() == []
    # The same times with an offset, and the times either side, are taken as given.
    ok(*add, "2026-10-25T02:30:00+01:00")
    ok(*add, "2026-10-25 01:59")
    ok(*add, "2026-03-29 03:00")
    ok(*add, "2026-06-01 09:00")
    times = {datetime.fromisoformat(str(c["occurred_at"])) for c in corrections()}
    assert times == {
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        datetime(2026, 10, 24, 23, 59, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 6, 1, 7, 0, tzinfo=UTC),
    }


def test_notes_and_reasons_have_a_length_cap(paris: FaceService) -> None:
    long = "x" * 100_000
    cap = f"at most {NOTE_MAX_LENGTH} characters"
    add = ("correct", "add", "Pia", "--at", "2026-06-01 09:00", "--reason", "missed_punch")
    bad_input(*add, "--note", long, message=cap)
    bad_input(*add, "--note", "bell\x07", message="control characters")
    assert corrections() == []
    event = json.loads(ok(*add, "--note", "y" * NOTE_MAX_LENGTH, "--json").stdout)
    bad_input(
        "correct", "void", event["event_id"], "--reason", "other", "--note", long, message=cap
    )
    assert [c["action"] for c in corrections()] == ["add"]
    bad_input("leave", "add", "Pia", "sick", "--from", "2026-06-02", "--note", long, message=cap)
    assert json.loads(ok("leave", "list", "--json").stdout) == []
    ok("period", "lock", "2026-05")
    bad_input("period", "unlock", "2026-05-01", "2026-05-31", "--reason", long, message=cap)
    assert json.loads(ok("period", "list", "--json").stdout)[0]["unlocked_at"] is None
