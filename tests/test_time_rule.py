"""One time rule (docs/TIME_AND_ATTENDANCE.md): a person's day, first seen and the
exports are in their site's zone, --tz only changes how times are printed, and
every printed time carries its offset; and timesheets read at several "nows" mark
what has not happened yet as upcoming, never absent."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from sqlalchemy.orm import Session

from facedb.cli.main import main
from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.store import org, schedules
from facedb.store.attendance import log_event
from facedb.store.engine import make_engine
from facedb.store.gallery import create_user
from facedb.timeattendance import TimeAttendance, write_payroll_csv

PARIS = ZoneInfo("Europe/Paris")
NEW_YORK = ZoneInfo("America/New_York")


def ok(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, (args, result.output)
    return result


def punch(s: Session, user_id: int, when: datetime) -> uuid.UUID:
    event_id = uuid.uuid4()
    log_event(
        s,
        AttendanceEvent(
            event_id, when, "identify", "accepted", user_id, None, 0.6, 0.3, 0.9, "lobby", "m"
        ),
    )
    return event_id


@pytest.fixture
def office(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Session]:
    """Alice in Paris, Bob in New York, both on a 09:00-17:00 Monday-Friday shift;
    the machine itself is in Tokyo, a zone neither site uses."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    engine = make_engine(settings.database_url)
    with Session(engine) as s, s.begin():
        org.create_site(s, "Paris", "Europe/Paris")
        org.create_site(s, "New York", "America/New_York")
        schedules.create_shift(
            s, "day", time(9), time(17), break_minutes=60, weekdays=(1, 2, 3, 4, 5)
        )
        for name, site in (("Alice Martin", "Paris"), ("Bob Stone", "New York")):
            user_id = create_user(s, name, None, {}).id
            org.assign_site(s, user_id, site)
            schedules.assign_shift(s, "day", user_id=user_id, valid_from=date(2026, 1, 1))
        yield s
    engine.dispose()


def _ids(s: Session) -> dict[str, int]:
    from sqlalchemy import text

    return {name: uid for uid, name in s.execute(text("SELECT id, name FROM users"))}


def test_every_view_shows_the_same_first_seen_in_the_sites_zone(
    office: Session, settings: Settings
) -> None:
    ids = _ids(office)
    # 08:27 UTC is 09:27 in Paris (its day: 9 November); 03:30 UTC on the 9th is
    # 22:30 on the 8th in New York: Bob's day is the 8th, wherever the machine is.
    punch(office, ids["Alice Martin"], datetime(2026, 11, 9, 8, 27, tzinfo=UTC))
    punch(office, ids["Alice Martin"], datetime(2026, 11, 9, 16, 40, tzinfo=UTC))
    punch(office, ids["Bob Stone"], datetime(2026, 11, 9, 3, 30, tzinfo=UTC))
    office.commit()

    report = json.loads(ok("report", "--date", "2026-11-09", "--json").stdout)
    alice = next(p for p in report["present"] if p["name"] == "Alice Martin")
    assert alice["first_seen"] == "2026-11-09T09:27:00+01:00"
    assert "Bob Stone" not in {p["name"] for p in report["present"]}
    bob_day = json.loads(ok("report", "--date", "2026-11-08", "--json").stdout)
    bob = next(p for p in bob_day["present"] if p["name"] == "Bob Stone")
    assert (bob["day"], bob["first_seen"]) == ("2026-11-08", "2026-11-08T22:30:00-05:00")

    table = ok("report", "--date", "2026-11-09").stdout
    assert "09:27+01:00" in table
    report_csv = list(csv.DictReader(io.StringIO(ok("report", "--date", "2026-11-09",
                                                    "--format", "csv").stdout)))  # fmt: skip
    assert {r["first_seen"] for r in report_csv if r["name"] == "Alice Martin"} == {
        "2026-11-09T09:27:00+01:00"
    }

    events = json.loads(ok("attendance", "list", "--json").stdout)
    first = min((e for e in events if e["name"] == "Alice Martin"), key=lambda e: e["occurred_at"])
    assert first["occurred_at"] == "2026-11-09T09:27:00+01:00"
    assert "2026-11-09 09:27+01:00" in ok("attendance", "list").stdout

    sheet = json.loads(ok("timesheet", "--from", "2026-11-09", "--json").stdout)
    day = next(d for d in sheet["days"] if d["person"] == "Alice Martin")
    assert (day["first_in"], day["late_minutes"]) == ("2026-11-09T09:27:00+01:00", 27)
    assert (
        "09:27+01:00" in ok("timesheet", "--from", "2026-11-09", "--person", "Alice Martin").stdout
    )
    payroll = list(
        csv.DictReader(
            io.StringIO(ok("timesheet", "--from", "2026-11-09", "--format", "csv").stdout)
        )
    )
    assert {r["first_in"] for r in payroll if r["person"] == "Alice Martin"} == {
        "2026-11-09T09:27:00+01:00"
    }
    bob_sheet = json.loads(ok("timesheet", "--from", "2026-11-08", "--json").stdout)
    assert [d["first_in"] for d in bob_sheet["days"] if d["person"] == "Bob Stone"] == [
        "2026-11-08T22:30:00-05:00"
    ]

    # --tz prints the same instants in another zone; the days and numbers stay.
    in_utc = json.loads(ok("report", "--date", "2026-11-09", "--tz", "UTC", "--json").stdout)
    alice_utc = next(p for p in in_utc["present"] if p["name"] == "Alice Martin")
    assert (alice_utc["day"], alice_utc["first_seen"]) == (
        "2026-11-09",
        "2026-11-09T08:27:00+00:00",
    )
    assert "Bob Stone" not in {p["name"] for p in in_utc["present"]}
    utc_sheet = json.loads(ok("timesheet", "--from", "2026-11-09", "--tz", "UTC", "--json").stdout)
    utc_day = next(d for d in utc_sheet["days"] if d["person"] == "Alice Martin")
    assert (utc_day["first_in"], utc_day["late_minutes"]) == ("2026-11-09T08:27:00+00:00", 27)
    utc_csv = ok("timesheet", "--from", "2026-11-09", "--format", "csv", "--tz", "UTC").stdout
    assert "2026-11-09T08:27:00+00:00" in utc_csv


def _days(
    ta: TimeAttendance, first: date, last: date, now: datetime
) -> dict[tuple[str, date], str]:
    days, _ = ta.timesheet(first, last, now=now)
    return {(d.name, d.work_day): d.status for d in days}


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 12, 7, 10, 0, tzinfo=PARIS),  # a Monday, mid-shift in Paris
        datetime(2026, 12, 7, 8, 0, tzinfo=PARIS),  # the same Monday before work
        datetime(2026, 12, 7, 20, 0, tzinfo=PARIS),  # Monday evening: 14:00 in New York
    ],
    ids=["monday-mid-shift", "monday-early", "monday-evening"],
)
def test_a_week_and_a_month_read_on_a_monday_have_no_absent_day_after_it(
    office: Session, settings: Settings, now: datetime
) -> None:
    ids = _ids(office)
    monday = date(2026, 12, 7)
    if now.hour >= 9:
        punch(office, ids["Alice Martin"], datetime(2026, 12, 7, 9, 5, tzinfo=PARIS))
    office.commit()
    ta = TimeAttendance(settings, "UTC")
    try:
        for first, last in ((monday, date(2026, 12, 13)), (date(2026, 12, 1), date(2026, 12, 31))):
            days, people = ta.timesheet(first, last, now=now)
            later = [d for d in days if d.work_day > monday]
            assert later and not [d for d in later if d.absent or d.status == "absent"]
            assert {d.status for d in later} <= {"upcoming", "off"}
            for total in people:
                happened = [
                    d for d in days if d.user_id == total.user_id and d.status != "upcoming"
                ]
                assert total.expected_minutes == sum(d.expected_minutes for d in happened)
                assert total.days_upcoming == sum(
                    1 for d in days if d.user_id == total.user_id and d.status == "upcoming"
                )
                assert total.days_upcoming >= len([d for d in later if d.user_id == total.user_id
                                                   and d.work_day.isoweekday() <= 5])  # fmt: skip
        statuses = _days(ta, monday, monday, now)
        alice_today = statuses[("Alice Martin", monday)]
        bob_today = statuses[("Bob Stone", monday)]
        # Bob's shift in New York ends at 23:00 Paris time: not over on any of these nows.
        assert bob_today == "upcoming"
        if now.hour >= 9:
            assert alice_today == "present"
            days, _ = ta.timesheet(monday, monday, now=now)
            alice = next(d for d in days if d.name == "Alice Martin")
            # Mid-shift nobody has left early yet; after 17:00 a lone punch is a
            # missing clock-out.
            assert alice.missing_clock_out == (now.hour >= 17)
            assert alice.early_leave_minutes == 0
        else:
            assert alice_today == "upcoming"
        # The month's past weekdays with no punch are absent: 1 to 4 December.
        month = _days(ta, date(2026, 12, 1), date(2026, 12, 31), now)
        assert [d for (name, d), st in month.items() if st == "absent" and name == "Bob Stone"] == [
            date(2026, 12, day) for day in (1, 2, 3, 4)
        ]
    finally:
        ta.close()


def test_month_end_and_a_summer_time_change(office: Session, settings: Settings) -> None:
    office.commit()
    ta = TimeAttendance(settings, "UTC")
    try:
        # The evening of the last day: everything has happened, nothing is upcoming.
        end = datetime(2026, 12, 31, 23, 30, tzinfo=NEW_YORK)
        days, people = ta.timesheet(date(2026, 12, 1), date(2026, 12, 31), now=end)
        assert not [d for d in days if d.status == "upcoming"]
        assert {t.days_absent for t in people} == {23}  # every weekday of December
        assert {t.expected_minutes for t in people} == {23 * 7 * 60}

        # 23:30 UTC on Sunday 29 March 2026, the night summer time starts in Paris, is
        # already Monday 01:30+02:00 there but still Sunday 19:30-04:00 in New York.
        now = datetime(2026, 3, 29, 23, 30, tzinfo=UTC)
        statuses = _days(ta, date(2026, 3, 23), date(2026, 3, 31), now)
        assert statuses[("Alice Martin", date(2026, 3, 27))] == "absent"
        assert statuses[("Alice Martin", date(2026, 3, 30))] == "upcoming"
        assert statuses[("Bob Stone", date(2026, 3, 27))] == "absent"
        assert statuses[("Bob Stone", date(2026, 3, 30))] == "upcoming"
        assert statuses[("Bob Stone", date(2026, 3, 31))] == "upcoming"

        out = io.BytesIO()
        write_payroll_csv(settings, "UTC", out, date(2026, 3, 30), date(2026, 3, 31), now=now)
        rows = list(csv.DictReader(io.StringIO(out.getvalue().decode())))
        assert {(r["status"], r["absent"]) for r in rows} == {("upcoming", "false")}
    finally:
        ta.close()


def test_the_cli_totals_say_what_they_count(office: Session) -> None:
    """A month far ahead: every working day upcoming, nothing absent or expected."""
    office.commit()
    sheet = json.loads(ok("timesheet", "--month", "2030-03", "--json").stdout)
    assert sheet["as_of"] and {d["status"] for d in sheet["days"]} <= {"upcoming", "off"}
    assert {
        (t["days_absent"], t["expected_minutes"], t["days_upcoming"]) for t in sheet["totals"]
    } == {(0, 0, 21)}
    table = ok("timesheet", "--month", "2030-03").stdout
    assert "42 upcoming days not counted" in " ".join(table.split())
    totals = ok("timesheet", "--month", "2030-03", "--format", "csv", "--totals").stdout
    assert totals.splitlines()[0].endswith(",days_upcoming")
