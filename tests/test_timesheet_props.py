"""Invariants of the SQL timesheet over random punch sequences (hypothesis): worked
time is never negative nor longer than the span of the day's punches, and it does
not depend on the order the events were written in."""

from __future__ import annotations

import itertools
import random
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from facedb.domain.attendance import AttendanceEvent
from facedb.store import org, schedules
from facedb.store.attendance import log_event
from facedb.store.engine import make_engine
from facedb.store.gallery import create_user
from facedb.store.timesheet import timesheet_days

DAY = date(2026, 11, 4)
DEVICES = ("door-in", "door-out", "lobby")
_names = itertools.count()


@pytest.fixture(scope="module")
def session(module_database_url: str) -> Iterator[Session]:
    engine = make_engine(module_database_url)
    with Session(engine) as s, s.begin():
        org.register_device(s, "door-in", role="in")
        org.register_device(s, "door-out", role="out")
        org.register_device(s, "lobby", role="both")
        schedules.create_shift(
            s, "night", time(22), time(6), break_minutes=30, weekdays=tuple(range(1, 8))
        )
        yield s
        s.rollback()
    engine.dispose()


# A punch: minutes after the start of the window, and the device it was made on.
punches = st.lists(
    st.tuples(st.integers(min_value=0, max_value=21 * 60), st.sampled_from(DEVICES)),
    min_size=1,
    max_size=12,
)


def _person(s: Session, night: bool) -> int:
    user_id = create_user(s, f"p{next(_names)}", None, {}).id
    if night:
        schedules.assign_shift(s, "night", user_id=user_id, valid_from=DAY - timedelta(days=3))
    return user_id


def _write(s: Session, user_id: int, sequence: list[tuple[datetime, str]]) -> None:
    for when, device in sequence:
        log_event(
            s,
            AttendanceEvent(
                uuid.uuid4(), when, "identify", "accepted", user_id, None, 0.6, 0.3, None,
                device, "m",
            ),
        )  # fmt: skip


def _paired_reference(sequence: list[tuple[datetime, str]]) -> tuple[int, bool]:
    """The documented pairing, in Python: the first 'in' of a run of ins and the last
    'out' of a run of outs are kept; each kept in followed by a kept out is worked."""
    punches = sorted((t, "in" if d == "door-in" else "out") for t, d in sequence)
    kept = [
        (t, d)
        for i, (t, d) in enumerate(punches)
        if (d == "in" and (i == 0 or punches[i - 1][1] != "in"))
        or (d == "out" and (i == len(punches) - 1 or punches[i + 1][1] != "out"))
    ]
    seconds = sum(
        (b[0] - a[0]).total_seconds()
        for a, b in itertools.pairwise(kept)
        if a[1] == "in" and b[1] == "out"
    )
    return int(seconds // 60), kept[-1][1] == "in"


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(punches=punches, night=st.booleans(), seed=st.integers(0, 2**16))
def test_worked_time_invariants(
    session: Session, punches: list[tuple[int, str]], night: bool, seed: int
) -> None:
    # Without a shift the work day is the UTC calendar day; with the 22:00-06:00 night
    # shift it runs from 10:00 to 10:00 the next day, so every punch below is in it.
    start = datetime.combine(DAY, time(1 if not night else 12), UTC)
    sequence = [(start + timedelta(minutes=m), device) for m, device in punches]
    if not night:
        sequence = [(t, d) for t, d in sequence if t.date() == DAY] or [(start, "lobby")]
    shuffled = sequence[:]
    random.Random(seed).shuffle(shuffled)
    first, second = _person(session, night), _person(session, night)
    _write(session, first, sequence)
    _write(session, second, shuffled)

    rows = timesheet_days(session, DAY, DAY, "UTC", [first, second])
    assert [r.user_id for r in rows] == [first, second]
    one, two = rows
    assert replace(one, user_id=0, name="") == replace(two, user_id=0, name="")

    times = sorted(t for t, _ in sequence)
    span = int((times[-1] - times[0]).total_seconds() // 60)
    assert one.punches == len(sequence)
    assert 0 <= one.worked_minutes <= span
    assert one.overtime_minutes <= one.worked_minutes
    if any(device == "lobby" for _, device in sequence):
        # First to last, less the shift's break.
        assert one.mode == "span"
        assert one.worked_minutes == max(span - (30 if night else 0), 0)
        assert one.missing_clock_out == (len(sequence) == 1)
    else:
        assert one.mode == "paired"
        worked, missing = _paired_reference(sequence)
        assert (one.worked_minutes, one.missing_clock_out) == (worked, missing)
    if night:
        assert one.scheduled_minutes == 450
        assert one.late_minutes >= 0 and one.early_leave_minutes >= 0
