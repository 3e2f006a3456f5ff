"""A locked pay period is final: it covers the work days of the period for every
site and shift (the day a punch belongs to, in the person's site's zone), and every
change that would alter one of them is refused, or, for a kiosk's offline events,
set aside with a reason (issue 29: 3, 4, 5; issue 30: periods lock in the zones of
the sites they cover)."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from facedb.cli.main import main
from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.errors import PeriodLockedError
from facedb.service import FaceService
from facedb.store import corrections
from facedb.store.attendance import log_event
from facedb.store.gallery import create_user
from facedb.store.timesheet import TimesheetDay, timesheet_days

PARIS = ZoneInfo("Europe/Paris")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
TOKYO = ZoneInfo("Asia/Tokyo")
NOV_30 = date(2026, 11, 30)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, (args, result.output)
    return result


def refused(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 21, (args, result.output)
    assert "locked pay period 2026-11-01..2026-11-30" in result.stderr, result.stderr
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1
    return result


def event(user_id: int | None, when: datetime, device: str = "lobby") -> AttendanceEvent:
    return AttendanceEvent(
        uuid.uuid4(), when, "identify", "accepted", user_id, None, 0.6, 0.3, 0.9, device, "m"
    )


def punch(service: FaceService, user_id: int, when: datetime) -> None:
    with service.transaction() as s:
        log_event(s, event(user_id, when))


def sheet(service: FaceService, user_id: int, first: date, last: date) -> list[TimesheetDay]:
    with service.transaction() as s:
        return timesheet_days(s, first, last, "Europe/Paris", [user_id])


def day(service: FaceService, user_id: int, work_day: date) -> TimesheetDay:
    (row,) = [r for r in sheet(service, user_id, work_day, work_day) if r.work_day == work_day]
    return row


@pytest.fixture
def office(settings: Settings) -> FaceService:
    """Sites in Paris, Los Angeles and Tokyo; a night shift (22:00-06:00 every day)."""
    ok("sites", "add", "Paris", "--tz", "Europe/Paris")
    ok("sites", "add", "LA", "--tz", "America/Los_Angeles")
    ok("sites", "add", "Tokyo", "--tz", "Asia/Tokyo")
    ok("shifts", "add", "night", "22:00", "06:00", "--days", "mon-sun", "--break", "30")
    ok("shifts", "add", "day", "09:00", "17:00", "--days", "mon-fri")
    return FaceService(settings)


def person(service: FaceService, name: str, site: str, shift: str | None = None) -> int:
    with service.transaction() as s:
        user_id = create_user(s, name, None, {}).id
    ok("sites", "assign", site, name)
    if shift is not None:
        ok("shifts", "assign", shift, "--person", name, "--from", "2026-01-01")
    return user_id


def test_a_night_shifts_morning_punch_cannot_change_a_locked_day(office: FaceService) -> None:
    """Issue 29, 3: locked November in Paris; a punch on 1 December at 05:58 belongs to
    the night of 30 November, a locked work day: refused, the row unchanged."""
    paula = person(office, "Paula", "Paris", "night")
    punch(office, paula, datetime(2026, 11, 30, 22, 0, tzinfo=PARIS))
    punch(office, paula, datetime(2026, 12, 1, 1, 28, tzinfo=PARIS))
    locked_row = day(office, paula, NOV_30)
    assert locked_row.worked_minutes == 208 - 30
    ok("period", "lock", "2026-11", "--tz", "Europe/Paris")

    refused("correct", "add", "Paula", "--at", "2026-12-01 05:58", "--reason", "missed_punch")
    assert day(office, paula, NOV_30) == locked_row
    # The same morning's punch of 1 December's own night is December's: accepted.
    ok("correct", "add", "Paula", "--at", "2026-12-01 23:10", "--reason", "missed_punch")
    assert day(office, paula, NOV_30) == locked_row
    ok("period", "unlock", "2026-11-01", "2026-11-30", "--reason", "late punch found")
    ok("correct", "add", "Paula", "--at", "2026-12-01 05:58", "--reason", "missed_punch")
    assert day(office, paula, NOV_30).worked_minutes > locked_row.worked_minutes


def test_a_lock_covers_the_work_days_of_every_sites_zone(office: FaceService) -> None:
    """Issue 30: a period locks in the zones of the sites it covers. 30 November 20:00
    in Los Angeles is 1 December in Paris, but a Los Angeles work day of November;
    1 November 07:00 in Tokyo is still 31 October in Paris, and Tokyo's November."""
    lee = person(office, "Lee", "LA", "day")
    tomo = person(office, "Tomo", "Tokyo")
    punch(office, lee, datetime(2026, 11, 30, 9, 0, tzinfo=LOS_ANGELES))
    punch(office, tomo, datetime(2026, 11, 1, 12, 0, tzinfo=TOKYO))
    ok("period", "lock", "2026-11", "--tz", "Europe/Paris")
    before = sheet(office, lee, date(2026, 11, 1), NOV_30) + sheet(
        office, tomo, date(2026, 11, 1), NOV_30
    )

    refused("correct", "add", "Lee", "--at", "2026-11-30T20:00:00-08:00", "--reason", "other")
    refused("correct", "add", "Tomo", "--at", "2026-11-01T07:00:00+09:00", "--reason", "other")
    after = sheet(office, lee, date(2026, 11, 1), NOV_30) + sheet(
        office, tomo, date(2026, 11, 1), NOV_30
    )
    assert after == before
    # Their December is open, in their zones too.
    ok("correct", "add", "Lee", "--at", "2026-12-01T08:00:00-08:00", "--reason", "other")
    ok("correct", "add", "Tomo", "--at", "2026-12-01T00:30:00+09:00", "--reason", "other")


def test_leave_holidays_shifts_and_sites_cannot_rewrite_a_locked_month(
    office: FaceService,
) -> None:
    """Issue 29, 4: every change that would alter a locked work day is refused."""
    dana = person(office, "Dana", "Paris", "day")
    punch(office, dana, datetime(2026, 11, 2, 9, 0, tzinfo=PARIS))
    punch(office, dana, datetime(2026, 11, 2, 17, 0, tzinfo=PARIS))
    ok("groups", "add", "Kitchen")
    ok("devices", "add", "lobby", "--site", "Paris", "--role", "both")
    ok("period", "lock", "2026-11", "--tz", "Europe/Paris")
    locked = sheet(office, dana, date(2026, 11, 1), NOV_30)
    assert [r.status for r in locked].count("absent") >= 19  # scheduled, never came

    refused("leave", "add", "Dana", "sick", "--from", "2026-11-20", "--to", "2026-11-24")
    refused("holidays", "add", "2026-11-11", "Armistice")
    refused("holidays", "add", "2026-11-11", "Armistice", "--site", "Paris")
    refused("shifts", "assign", "night", "--person", "Dana", "--from", "2026-11-15")
    refused("sites", "assign", "LA", "Dana")
    refused("sites", "unassign", "Dana")
    refused("devices", "add", "lobby", "--site", "Paris", "--role", "in")
    assignments = json.loads(ok("shifts", "assignments", "--json").stdout)
    (own,) = [a for a in assignments if a["person"] == "Dana"]
    refused("shifts", "unassign", str(own["id"]))
    assert sheet(office, dana, date(2026, 11, 1), NOV_30) == locked

    # What leaves the locked days alone goes through: December, and another site's
    # holiday.
    ok("leave", "add", "Dana", "vacation", "--from", "2026-12-21", "--to", "2026-12-24")
    ok("holidays", "add", "2026-12-25", "Christmas")
    ok("holidays", "add", "2026-11-11", "Veterans Day", "--site", "LA")
    ok("shifts", "assign", "night", "--person", "Dana", "--from", "2026-12-07")
    assert sheet(office, dana, date(2026, 11, 1), NOV_30) == locked


def test_offline_events_of_a_locked_day_are_set_aside_with_a_reason(office: FaceService) -> None:
    """Issue 29, 5: a kiosk offline during the night of 30 November replays after the
    lock: its event of that locked work day is logged and voided with the reason (not
    counted, not lost), the others count; after an unlock, `correct restore` counts it."""
    paula = person(office, "Paula", "Paris", "night")
    punch(office, paula, datetime(2026, 11, 30, 22, 0, tzinfo=PARIS))
    ok("period", "lock", "2026-11", "--tz", "Europe/Paris")
    locked_row = day(office, paula, NOV_30)
    late = event(paula, datetime(2026, 12, 1, 5, 58, tzinfo=PARIS))
    december = event(paula, datetime(2026, 12, 1, 22, 5, tzinfo=PARIS))
    stranger = dataclasses.replace(late, event_id=uuid.uuid4(), user_id=None)
    for spooled in (late, december, stranger):
        office.spool.append(dataclasses.replace(spooled, offline=True))

    replayed = ok("spool", "replay").stdout
    assert "sent 3 event(s): 3 new" in replayed and "1 set aside" in replayed, replayed
    assert day(office, paula, NOV_30) == locked_row
    assert day(office, paula, date(2026, 12, 1)).punches == 1
    logged = {r.event_id for r in office.attendance(limit=10)}
    assert {late.event_id, december.event_id, stranger.event_id} <= logged  # nothing lost
    voids = json.loads(ok("correct", "list", "--json").stdout)
    assert [(v["action"], v["event_id"], v["created_by"]) for v in voids] == [
        ("void", str(late.event_id), "spool replay")
    ]
    assert "locked pay period 2026-11-01..2026-11-30" in voids[0]["note"]
    assert office.spool.status().pending == 0

    ok("period", "unlock", "2026-11-01", "2026-11-30", "--reason", "night kiosk was offline")
    ok("correct", "restore", str(late.event_id), "--reason", "other")
    assert day(office, paula, NOV_30).last_out == late.occurred_at


def test_a_purge_may_not_reach_the_locked_days_of_an_eastern_site(office: FaceService) -> None:
    """1 November 07:00 in Tokyo is 31 October 22:00 UTC: a Tokyo work day of a
    November locked in Paris. A purge of everything before 31 October 23:00 UTC
    (Paris's midnight) would delete it."""
    tomo = person(office, "Tomo", "Tokyo")
    punch(office, tomo, datetime(2026, 11, 1, 7, 0, tzinfo=TOKYO))
    ok("period", "lock", "2026-11", "--tz", "Europe/Paris")
    with office.transaction() as s, pytest.raises(PeriodLockedError, match="2026-11-01"):
        corrections.refuse_purge_in_locked_period(s, datetime(2026, 10, 31, 23, 0, tzinfo=UTC))
    with office.transaction() as s:  # before Tokyo's midnight: nothing locked is reached
        corrections.refuse_purge_in_locked_period(s, datetime(2026, 10, 31, 15, 0, tzinfo=UTC))
    assert len(sheet(office, tomo, date(2026, 11, 1), date(2026, 11, 1))) == 1
