"""Timesheets computed in SQL, against hand-computed expectations: shifts, grace,
split punches, night shifts, the Europe/Paris summer-time changes, missing
clock-outs, leave, holidays, corrections and locked periods. Events are written with
log_event at chosen times (no faces needed)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.exc import InternalError
from sqlalchemy.orm import Session

from facedb.domain.attendance import AttendanceEvent
from facedb.errors import InvalidInputError, PeriodLockedError
from facedb.store import attendance, corrections, org, schedules
from facedb.store.attendance import log_event
from facedb.store.engine import make_engine
from facedb.store.gallery import create_user
from facedb.store.timesheet import TimesheetDay, timesheet_days, totals
from facedb.timezones import month_bounds

PARIS = ZoneInfo("Europe/Paris")
MONDAY = date(2026, 11, 2)


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    with Session(engine) as s, s.begin():
        org.create_site(s, "Paris", "Europe/Paris")
        org.register_device(s, "door-in", site="Paris", role="in")
        org.register_device(s, "door-out", site="Paris", role="out")
        org.register_device(s, "lobby", site="Paris", role="both")
        schedules.create_shift(
            s, "day", time(9), time(17), break_minutes=60, weekdays=(1, 2, 3, 4, 5)
        )
        schedules.create_shift(
            s, "night", time(22), time(6), break_minutes=30, weekdays=tuple(range(1, 8))
        )
        yield s
    engine.dispose()


def person(s: Session, name: str, shift: str | None = "day", site: str | None = "Paris") -> int:
    user_id = create_user(s, name, None, {}).id
    if site:
        org.assign_site(s, user_id, site)
    if shift:
        schedules.assign_shift(s, shift, user_id=user_id, valid_from=date(2026, 1, 1))
    return user_id


def at(day: date, hh: int, mm: int = 0) -> datetime:
    """A local Paris wall-clock time."""
    return datetime.combine(day, time(hh, mm), PARIS)


def punch(
    s: Session, user_id: int, when: datetime, device: str = "lobby", decision: str = "accepted"
) -> uuid.UUID:
    event_id = uuid.uuid4()
    log_event(
        s,
        AttendanceEvent(
            event_id, when, "identify", decision, user_id, None, 0.6, 0.3, 0.9, device, "m"
        ),
    )
    return event_id


def sheet(s: Session, first: date, last: date | None = None, *ids: int) -> list[TimesheetDay]:
    return timesheet_days(s, first, last or first, "UTC", list(ids) if ids else None)


def one(s: Session, user_id: int, day: date) -> TimesheetDay:
    rows = [r for r in sheet(s, day, day, user_id) if r.work_day == day]
    assert len(rows) == 1, rows
    return rows[0]


def test_day_shift_grace_late_early_missing_absent(session: Session) -> None:
    alice = person(session, "Alice")
    week = [MONDAY + timedelta(days=i) for i in range(5)]
    punch(session, alice, at(week[0], 9, 3))  # inside the 5-minute grace
    punch(session, alice, at(week[0], 17, 30))
    punch(session, alice, at(week[1], 9, 20))  # 20 minutes late
    punch(session, alice, at(week[1], 17))
    punch(session, alice, at(week[2], 9))
    punch(session, alice, at(week[2], 16, 30))  # left 30 minutes early
    punch(session, alice, at(week[3], 9))  # never clocked out
    punch(session, alice, at(week[0], 12), decision="rejected")  # never counts
    days = sheet(session, week[0], week[-1])
    got = [
        (d.work_day, d.status, d.worked_minutes, d.late_minutes, d.early_leave_minutes,
         d.missing_clock_out, d.absent, d.overtime_minutes)
        for d in days
    ]  # fmt: skip
    # Scheduled 09:00-17:00 with a 60-minute break: 420 minutes expected.
    assert got == [
        (week[0], "present", 8 * 60 + 27 - 60, 0, 0, False, False, 27),
        (week[1], "present", 7 * 60 + 40 - 60, 20, 0, False, False, 0),
        (week[2], "present", 7 * 60 + 30 - 60, 0, 30, False, False, 0),
        (week[3], "present", 0, 0, 0, True, False, 0),
        (week[4], "absent", 0, 0, 0, False, True, 0),
    ]
    monday = days[0]
    assert monday.scheduled_start == at(week[0], 9) and monday.scheduled_end == at(week[0], 17)
    assert monday.scheduled_minutes == monday.expected_minutes == 420
    assert monday.first_in == at(week[0], 9, 3) and monday.last_out == at(week[0], 17, 30)
    assert monday.punches == 2 and monday.mode == "span" and monday.shift == "day"
    assert days[3].last_out is None
    [total] = totals(days)
    assert (total.days_present, total.days_absent, total.late_days, total.missing_clock_outs) == (
        4,
        1,
        1,
        1,
    )
    assert total.worked_minutes == 447 + 400 + 390 and total.overtime_minutes == 27


def test_split_punches_on_in_and_out_devices(session: Session) -> None:
    bob = person(session, "Bob")
    punch(session, bob, at(MONDAY, 8, 55), "door-in")
    punch(session, bob, at(MONDAY, 8, 56), "door-in")  # a second tap: the first in counts
    punch(session, bob, at(MONDAY, 12, 30), "door-out")
    punch(session, bob, at(MONDAY, 13, 15), "door-in")
    punch(session, bob, at(MONDAY, 17, 5), "door-out")
    day = one(session, bob, MONDAY)
    # (12:30 - 08:55) + (17:05 - 13:15) = 215 + 230; the lunch is out of the punches.
    assert (day.mode, day.worked_minutes, day.overtime_minutes) == ("paired", 445, 25)
    assert (day.first_in, day.last_out) == (at(MONDAY, 8, 55), at(MONDAY, 17, 5))
    assert (day.late_minutes, day.early_leave_minutes, day.missing_clock_out) == (0, 0, False)
    # Back from lunch but never out: the open interval does not count.
    tuesday = MONDAY + timedelta(days=1)
    punch(session, bob, at(tuesday, 9), "door-in")
    punch(session, bob, at(tuesday, 12), "door-out")
    punch(session, bob, at(tuesday, 13), "door-in")
    day = one(session, bob, tuesday)
    assert (day.worked_minutes, day.missing_clock_out, day.early_leave_minutes) == (180, True, 0)


def test_night_shift_belongs_to_the_day_it_starts(session: Session) -> None:
    carol = person(session, "Carol", "night")
    tuesday = MONDAY + timedelta(days=1)
    punch(session, carol, at(MONDAY, 22, 10))  # 10 minutes late
    punch(session, carol, at(tuesday, 6, 2))
    days = sheet(session, MONDAY, tuesday)
    assert [(d.work_day, d.status) for d in days] == [(MONDAY, "present"), (tuesday, "absent")]
    monday = days[0]
    assert monday.scheduled_start == at(MONDAY, 22) and monday.scheduled_end == at(tuesday, 6)
    # 22:10 -> 06:02 is 472 minutes, less the 30-minute break.
    assert (monday.worked_minutes, monday.late_minutes, monday.overtime_minutes) == (442, 10, 0)
    assert monday.last_out == at(tuesday, 6, 2) and not monday.missing_clock_out


def test_late_clock_out_after_an_evening_shift(session: Session) -> None:
    schedules.create_shift(session, "evening", time(14), time(22), break_minutes=30)
    max_ = person(session, "Max", "evening")
    tuesday = MONDAY + timedelta(days=1)
    punch(session, max_, at(MONDAY, 13, 55))
    punch(session, max_, at(tuesday, 0, 30))  # 2.5 hours of overtime, past midnight
    punch(session, max_, at(tuesday, 6, 0))  # an early start on Tuesday: Tuesday's
    punch(session, max_, at(tuesday, 22, 0))
    monday, second = sheet(session, MONDAY, tuesday)
    assert (monday.work_day, monday.last_out, monday.punches) == (MONDAY, at(tuesday, 0, 30), 2)
    assert (monday.worked_minutes, monday.overtime_minutes) == (10 * 60 + 35 - 30, 155)
    assert (second.first_in, second.punches, second.missing_clock_out) == (at(tuesday, 6), 2, False)


@pytest.mark.parametrize(
    ("night", "hours"),
    [
        (date(2026, 3, 28), 7),  # 29 March 2026: 02:00 CET -> 03:00 CEST, a 7-hour night
        (date(2026, 10, 24), 9),  # 25 October 2026: 03:00 CEST -> 02:00 CET, a 9-hour night
    ],
)
def test_night_shift_across_a_summer_time_change(session: Session, night: date, hours: int) -> None:
    dan = person(session, "Dan", "night")
    morning = night + timedelta(days=1)
    punch(session, dan, at(night, 22))
    punch(session, dan, at(morning, 6))
    day = one(session, dan, night)
    assert day.scheduled_end is not None and day.scheduled_start is not None
    assert day.scheduled_end - day.scheduled_start == timedelta(hours=hours)
    assert day.scheduled_minutes == day.worked_minutes == hours * 60 - 30
    assert (day.late_minutes, day.early_leave_minutes, day.overtime_minutes) == (0, 0, 0)
    assert day.first_in is not None and day.first_in.astimezone(UTC).hour == (
        21 if night.month == 3 else 20
    )


def test_day_shift_on_the_days_of_the_change(session: Session) -> None:
    # A Monday-to-Sunday day shift on both Sundays of 2026's changes: 09:00-17:00 local
    # is 8 hours either way, and local times stay local.
    schedules.create_shift(session, "weekend", time(9), time(17), weekdays=(6, 7))
    eve = person(session, "Eve", "weekend")
    for sunday in (date(2026, 3, 29), date(2026, 10, 25)):
        punch(session, eve, at(sunday, 9, 10))
        punch(session, eve, at(sunday, 17))
        day = one(session, eve, sunday)
        assert (day.worked_minutes, day.late_minutes, day.scheduled_minutes) == (470, 10, 480)


def test_leave_and_public_holiday(session: Session) -> None:
    fay = person(session, "Fay")
    wednesday, thursday, friday = (MONDAY + timedelta(days=i) for i in (2, 3, 4))
    next_monday = MONDAY + timedelta(days=7)
    schedules.add_holiday(session, wednesday, "Armistice", site="Paris")
    # Thursday to Sunday: the weekend is not counted as leave (no shift then).
    schedules.add_leave(
        session, fay, "vacation", thursday, friday + timedelta(days=2), created_by="hr"
    )
    schedules.add_leave(
        session, fay, "sick", next_monday, next_monday, minutes=240, created_by="hr"
    )
    punch(session, fay, at(next_monday, 13))
    punch(session, fay, at(next_monday, 17))
    days = {d.work_day: d for d in sheet(session, wednesday, next_monday, fay)}
    assert set(days) == {wednesday, thursday, friday, next_monday}  # the weekend is off
    assert (days[wednesday].status, days[wednesday].holiday, days[wednesday].absent) == (
        "holiday",
        "Armistice",
        False,
    )
    assert days[wednesday].expected_minutes == 0
    assert [(days[d].status, days[d].leave, days[d].absent) for d in (thursday, friday)] == [
        ("leave", "vacation", False)
    ] * 2
    part = days[next_monday]
    # 420 expected less 240 of sick leave; 13:00-17:00 is 240 less the 60-minute break.
    assert (part.status, part.leave, part.leave_minutes, part.expected_minutes) == (
        "present",
        "sick",
        240,
        180,
    )
    assert (part.worked_minutes, part.late_minutes, part.overtime_minutes) == (180, 0, 0)
    # Part-day leave and no punch: absent for the rest of the day.
    later = next_monday + timedelta(days=1)
    schedules.add_leave(session, fay, "other", later, later, minutes=60, created_by="hr")
    day = one(session, fay, later)
    assert (day.status, day.absent, day.leave, day.expected_minutes) == (
        "absent",
        True,
        "other",
        360,
    )
    # A holiday of another site is not Fay's.
    org.create_site(session, "Lyon", "Europe/Paris")
    schedules.add_holiday(session, MONDAY, "Lyon day", site="Lyon")
    assert one(session, fay, MONDAY).status == "absent"


def test_no_schedule_is_first_seen_to_last_seen(session: Session) -> None:
    gus = person(session, "Gus", shift=None, site=None)
    # On a kiosk nobody registered: role both, first to last.
    punch(session, gus, datetime(2026, 11, 3, 8, tzinfo=UTC), device="laptop-17")
    punch(session, gus, datetime(2026, 11, 3, 12, 30, tzinfo=UTC), device="laptop-17")
    rows = timesheet_days(session, date(2026, 11, 1), date(2026, 11, 30), "UTC", [gus])
    assert [(r.work_day, r.worked_minutes, r.overtime_minutes, r.status, r.mode) for r in rows] == [
        (date(2026, 11, 3), 270, 0, "present", "span")
    ]
    # Read in another default zone, 08:00 UTC is still the 3rd in New York (03:00).
    rows = timesheet_days(session, date(2026, 11, 3), date(2026, 11, 3), "America/New_York", [gus])
    assert rows[0].timezone == "America/New_York" and rows[0].worked_minutes == 270


def test_void_reassign_restore_and_history(session: Session) -> None:
    hal = person(session, "Hal", shift=None)
    ivy = person(session, "Ivy")
    false_accept = punch(session, hal, at(MONDAY, 10))
    assert one(session, hal, MONDAY).status == "present"
    corrections.correct_event(
        session, false_accept, "void", reason="false_accept", note="not Hal", created_by="admin"
    )
    assert sheet(session, MONDAY, MONDAY, hal) == []  # the day's presence is gone
    # Ivy's arrival was logged as Hal: reassign it.
    wrong = punch(session, hal, at(MONDAY, 9, 1))
    punch(session, ivy, at(MONDAY, 17))
    corrections.correct_event(
        session, wrong, "reassign", reason="wrong_person", note=None, created_by="admin",
        user_id=ivy,
    )  # fmt: skip
    assert sheet(session, MONDAY, MONDAY, hal) == []
    # `facedb report` reads the corrected log too: Hal did not come, Ivy came at 09:01.
    report = attendance.daily_report(session, MONDAY, MONDAY, "Europe/Paris")
    assert [(p.name, p.first_seen) for p in report.present] == [("Ivy", at(MONDAY, 9, 1))]
    assert "Hal" in report.absent and report.attempts == {"accepted": 3}
    day = one(session, ivy, MONDAY)
    assert (day.first_in, day.worked_minutes) == (at(MONDAY, 9, 1), 7 * 60 + 59 - 60)
    # A missed clock-out added by hand, on the out door.
    added = corrections.add_punch(
        session, ivy, at(MONDAY, 18), device="door-out", direction=None,
        reason="missed_punch", note="badge left home", created_by="admin",
    )  # fmt: skip
    assert one(session, ivy, MONDAY).worked_minutes == 9 * 60 - 1 - 60
    corrections.correct_event(
        session, added.event_id, "void", reason="other", note="was a mistake", created_by="admin"
    )
    assert one(session, ivy, MONDAY).worked_minutes == 7 * 60 + 59 - 60
    corrections.correct_event(
        session, false_accept, "restore", reason="other", note=None, created_by="boss"
    )
    assert one(session, hal, MONDAY).punches == 1
    history = corrections.event_history(session, wrong)
    assert (history.person, history.counted_for, history.counts) == ("Hal", "Ivy", True)
    assert [c.action for c in history.corrections] == ["reassign"]
    history = corrections.event_history(session, false_accept)
    assert [(c.action, c.created_by) for c in history.corrections] == [
        ("void", "admin"),
        ("restore", "boss"),
    ]
    # The log itself was never touched.
    rows = session.execute(
        text("SELECT user_id FROM attendance WHERE event_id IN (:a, :b)"),
        {"a": false_accept, "b": wrong},
    ).all()
    assert [r[0] for r in rows] == [hal, hal]
    with pytest.raises(InvalidInputError, match="was not accepted"):
        corrections.correct_event(
            session, punch(session, hal, at(MONDAY, 11), decision="unknown"), "void",
            reason="other", note=None, created_by="admin",
        )  # fmt: skip
    with pytest.raises(InvalidInputError, match="reason code"):
        corrections.correct_event(
            session, wrong, "void", reason="because", note=None, created_by="admin"
        )


def test_corrections_are_append_only(session: Session) -> None:
    jo = person(session, "Jo")
    added = corrections.add_punch(
        session, jo, at(MONDAY, 9), device=None, direction="in",
        reason="missed_punch", note=None, created_by="admin",
    )  # fmt: skip
    for statement in (
        "UPDATE attendance_corrections SET note = 'edited'",
        "DELETE FROM attendance_corrections",
    ):
        with pytest.raises(InternalError, match="append-only"), session.begin_nested():
            session.execute(text(statement))
    assert corrections.event_history(session, added.event_id).corrections[0].note is None


def test_locked_period_refuses_corrections_until_unlocked(session: Session) -> None:
    kim = person(session, "Kim")
    event = punch(session, kim, at(MONDAY, 9))
    first, last = month_bounds("2026-11")
    assert (first, last) == (date(2026, 11, 1), date(2026, 11, 30))
    corrections.lock_period(session, first, last, "Europe/Paris", "payroll")
    with pytest.raises(PeriodLockedError, match=r"locked pay period 2026-11-01\.\.2026-11-30"):
        corrections.correct_event(
            session, event, "void", reason="false_accept", note=None, created_by="admin"
        )
    with pytest.raises(PeriodLockedError):
        corrections.add_punch(
            session, kim, at(MONDAY, 17), device="lobby", direction=None,
            reason="missed_punch", note=None, created_by="admin",
        )  # fmt: skip
    with pytest.raises(PeriodLockedError, match="purge"):
        corrections.refuse_purge_in_locked_period(session, datetime(2026, 12, 5, tzinfo=UTC))
    corrections.refuse_purge_in_locked_period(session, datetime(2026, 10, 31, 22, tzinfo=UTC))
    # 1 December 00:30 in Paris is outside November even though it is 30 November in UTC.
    late = corrections.add_punch(
        session, kim, at(date(2026, 12, 1), 0, 30), device="lobby", direction=None,
        reason="missed_punch", note=None, created_by="admin",
    )  # fmt: skip
    assert late.action == "add"
    with pytest.raises(InvalidInputError, match="needs a --reason"):
        corrections.unlock_period(session, first, last, "payroll", " ")
    unlocked = corrections.unlock_period(session, first, last, "payroll", "late sick note")
    assert not unlocked.locked and unlocked.unlock_reason == "late sick note"
    corrections.correct_event(
        session, event, "void", reason="false_accept", note=None, created_by="admin"
    )
    periods = corrections.list_periods(session)
    assert [(p.locked_by, p.unlocked_by) for p in periods] == [("payroll", "payroll")]


def test_the_documented_psql_queries_run(session: Session) -> None:
    docs = Path(__file__).resolve().parent.parent / "docs" / "TIME_AND_ATTENDANCE.md"
    queries = re.findall(r"```sql\n(.*?)```", docs.read_text(), re.S)
    readme = (docs.parent.parent / "README.md").read_text()
    assert len(queries) == 2 and all(q.strip() in readme for q in queries)
    lou = person(session, "Lou")
    punch(session, lou, at(MONDAY, 9, 30))  # late, 30 minutes
    punch(session, lou, at(MONDAY, 18, 30))
    hours = session.execute(text(queries[0])).all()
    assert [tuple(r) for r in hours] == [("Lou", Decimal("8.00"), 60, 1)]  # 9 h - 1 h break
    # The second reads the last 7 days of the clock: it runs and names its columns.
    result = session.execute(text(queries[1]))
    assert list(result.keys()) == [
        "name",
        "work_day",
        "late_minutes",
        "early_leave_minutes",
        "missing_clock_out",
    ]


def test_a_forgotten_person_leaves_corrections_without_them(session: Session) -> None:
    ned = person(session, "Ned")
    corrections.add_punch(
        session, ned, at(MONDAY, 9), device=None, direction="in",
        reason="missed_punch", note=None, created_by="admin",
    )  # fmt: skip
    # Deleting the person (facedb users forget) nulls the link, which the append-only
    # trigger allows, and nothing else.
    session.execute(text("DELETE FROM users WHERE id = :id"), {"id": ned})
    rows = session.execute(text("SELECT user_id, action FROM attendance_corrections")).all()
    assert [tuple(r) for r in rows] == [(None, "add")]


def test_timesheet_today_view(session: Session) -> None:
    # A person with no site: their day is the session's zone, as current_date is.
    ola = person(session, "Ola", shift=None, site=None)
    session.execute(text("SET LOCAL TimeZone = 'UTC'"))
    punch(session, ola, datetime.now(UTC))
    rows = session.execute(
        text("SELECT name, punches, status FROM timesheet_today WHERE user_id = :id"), {"id": ola}
    ).all()
    assert [tuple(r) for r in rows] == [("Ola", 1, "present")]


def test_months_weeks_and_days_at_the_calendar_edges_are_input_errors() -> None:
    from facedb.cli.schedules import parse_date
    from facedb.cli.timesheet import week_bounds

    assert month_bounds("2028-02") == (date(2028, 2, 1), date(2028, 2, 29))
    assert month_bounds("9999-11")[1] == date(9999, 11, 30)
    for month in ("9999-12", "0001-01"):
        with pytest.raises(InvalidInputError, match="outside"):
            month_bounds(month)
    with pytest.raises(InvalidInputError, match="outside"):
        week_bounds("9999-W52", "UTC")
    assert week_bounds("2026-W45", "UTC") == (date(2026, 11, 2), date(2026, 11, 8))
    with pytest.raises(InvalidInputError, match="--since '0001-01-01' is outside"):
        parse_date("0001-01-01", "--since")


def test_a_punch_past_the_calendar_edge_is_an_input_error(session: Session) -> None:
    zoe = person(session, "Zoe")
    for when in (datetime(9999, 12, 31, 23, 59, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)):
        with pytest.raises(InvalidInputError, match="a punch's time is between"):
            corrections.add_punch(
                session, zoe, when, device=None, direction=None,
                reason="missed_punch", note=None, created_by="admin",
            )  # fmt: skip
