"""The payroll CSV that PostgreSQL writes (COPY, usecases/payroll.py) is, byte for byte,
the rows of the timesheet written cell by cell through facedb's formula-safe CSV writer
(payroll_row, as the JSON export): hostile text escaped, local times with the offset of
their moment across summer-time changes in two zones, sub-second punch times cut to
the second, empty text and NULL as empty cells. The same bytes when the export is cut
into slices run on parallel connections, and for a scope. On the embedded server, the
export needs no SQLAlchemy once the server runs."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from facedb.config import Settings
from facedb.csvout import CsvWriter
from facedb.domain.attendance import AttendanceEvent
from facedb.errors import UnknownUserError
from facedb.store import direct, embedded, org, schedules
from facedb.store.attendance import log_event
from facedb.store.engine import make_engine
from facedb.store.gallery import create_user
from facedb.store.revision import HEAD_REVISION
from facedb.timeattendance import PAYROLL_COLUMNS, TimeAttendance
from facedb.timeattendance.export import payroll_row
from facedb.usecases import payroll

FIRST, LAST = date(2026, 10, 23), date(2026, 11, 12)  # both summer-time ends, a holiday
HOSTILE = ["=cmd|' /C calc'!A0", "+SUM(1)", "-2+3", "@SUM(1)", 'a,"b"', "O'Brien", "Zoë"]


def _punch(s: Session, user_id: int, when: datetime, device: str) -> None:
    log_event(
        s,
        AttendanceEvent(
            uuid.uuid4(), when, "identify", "accepted", user_id, None, 0.6, 0.3, 0.9, device, "m"
        ),
    )


@pytest.fixture
def service(database_url: str, settings: Settings) -> Iterator[TimeAttendance]:
    engine = make_engine(database_url)
    with Session(engine) as s, s.begin():
        org.create_site(s, "=Paris", "Europe/Paris")
        org.create_site(s, "New York", "America/New_York")
        org.register_device(s, "in", site="=Paris", role="in")
        org.register_device(s, "out", site="=Paris", role="out")
        org.register_device(s, "ny", site="New York", role="both")
        schedules.create_shift(s, "-day", time(9), time(17), break_minutes=60)
        schedules.create_shift(s, "@night", time(22), time(6), weekdays=tuple(range(1, 8)))
        schedules.add_holiday(s, date(2026, 11, 11), "+Armistice", site="=Paris")
        for i, name in enumerate(HOSTILE * 2):
            name = name if i < len(HOSTILE) else f"{name} {i}"
            user_id = create_user(s, name, None, {}).id
            site = ("=Paris", "New York", None)[i % 3]
            if site is not None:
                org.assign_site(s, user_id, site)
            schedules.assign_shift(
                s, ("-day", "@night")[i % 2], user_id=user_id, valid_from=date(2026, 1, 1)
            )
            zone = ZoneInfo(
                {"=Paris": "Europe/Paris", "New York": "America/New_York"}.get(site or "", "UTC")
            )
            for d in range((LAST - FIRST).days + 1):
                day = FIRST + timedelta(days=d)
                if (d + i) % 5 == 0:
                    continue  # absent
                start = time(21, 50) if i % 2 else time(9, 3 + i)
                came = datetime.combine(day, start, zone) + timedelta(
                    seconds=i, microseconds=999_999
                )
                _punch(s, user_id, came, "in" if site == "=Paris" else "ny")
                if (d + i) % 7:  # else: no clock-out
                    _punch(
                        s,
                        user_id,
                        came + timedelta(hours=8, minutes=i),
                        "out" if site == "=Paris" else "ny",
                    )
        # Text the CLI would refuse but psql can write: tabs, CRs, full-width signs, "".
        s.execute(
            text(
                "UPDATE users SET external_id = CASE id % 5 WHEN 0 THEN E'\\t=' || id "
                "WHEN 1 THEN E'\\r=' || id WHEN 2 THEN '＝' || id WHEN 3 THEN 'HR-' || id END"
            )
        )
        s.execute(text("UPDATE users SET external_id = '' WHERE id = (SELECT max(id) FROM users)"))
    engine.dispose()
    ta = TimeAttendance(settings, "America/Los_Angeles")
    yield ta
    ta.close()


def _reference(service: TimeAttendance, **scope: str) -> bytes:
    days, _ = service.timesheet(FIRST, LAST, **scope)
    written = io.StringIO(newline="")
    writer = CsvWriter(written)
    writer.writerow(PAYROLL_COLUMNS)
    for day in days:
        row = payroll_row(day)
        writer.writerow(row[c] for c in PAYROLL_COLUMNS)
    return written.getvalue().encode()


def _copied(service: TimeAttendance, **scope: str) -> bytes:
    out = io.BytesIO()
    payroll.write_payroll_csv(service.settings, service.zone, out, FIRST, LAST, **scope)
    return out.getvalue()


def test_copy_writes_the_cells_of_payroll_row(service: TimeAttendance) -> None:
    expected = _reference(service)
    assert _copied(service) == expected
    lines = expected.decode().split("\r\n")
    assert len(lines) > 200
    # The cases the comparison covers: escapes, both offsets of each zone, empty cells.
    assert any(line.startswith("'=cmd|") for line in lines)
    assert any(",'+Armistice," in line for line in lines)
    for offset in ("+02:00", "+01:00", "-04:00", "-05:00", "-07:00", "-08:00"):
        assert any(offset + "," in line for line in lines), offset
    assert any(",'\t=" in line for line in lines) and any(",\"'\r=" in line for line in lines)


def test_slices_on_parallel_connections_write_the_same_bytes(
    service: TimeAttendance, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _reference(service)
    monkeypatch.setattr(payroll, "MIN_SLICE", 1)
    monkeypatch.setattr(payroll.os, "cpu_count", lambda: 3)
    assert len(payroll._slices(list(range(14)), 3)) == 3
    assert _copied(service) == expected


def test_exports_at_once_share_the_extra_connections(
    service: TimeAttendance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The later slices' connections are bounded for the whole process (an API serving
    several exports at once): with none free, an export runs on its own connection
    and writes the same bytes; the connections are given back after each export."""
    expected = _reference(service)
    monkeypatch.setattr(payroll, "MIN_SLICE", 1)
    monkeypatch.setattr(payroll.os, "cpu_count", lambda: 4)
    opened: list[int] = []
    connect = payroll.direct.connect

    def counting(settings: Settings) -> Any:
        opened.append(1)
        return connect(settings)

    monkeypatch.setattr(payroll.direct, "connect", counting)
    held = payroll._take_connections(payroll.MAX_CONNECTIONS - 1)  # another export's
    assert held == payroll.MAX_CONNECTIONS - 1
    try:
        assert _copied(service) == expected
        assert len(opened) == 1
    finally:
        for _ in range(held):
            payroll._EXTRA_CONNECTIONS.release()
    opened.clear()
    assert _copied(service) == expected
    assert len(opened) == payroll.MAX_CONNECTIONS  # free again: one per slice
    assert payroll._take_connections(9) == payroll.MAX_CONNECTIONS - 1  # all given back
    for _ in range(payroll.MAX_CONNECTIONS - 1):
        payroll._EXTRA_CONNECTIONS.release()


def test_scoped_exports_and_unknown_names(service: TimeAttendance) -> None:
    for scope in ({"site": "=Paris"}, {"person": "Zoë"}, {"site": "New York", "person": "Zoë"}):
        assert _copied(service, **scope) == _reference(service, **scope)
    assert _copied(service, site="New York", person="Zoë").count(b"\r\n") == 1  # header only
    with pytest.raises(UnknownUserError):
        _copied(service, person="Nobody")


_NO_SQLALCHEMY = """
import sys
from facedb.cli.main import main
try:
    main(["timesheet", "--month", "2026-11", "--format", "csv"])
except SystemExit as exit:
    assert exit.code in (0, None), exit.code
sys.stdout.flush()
print("sqlalchemy" in sys.modules, file=sys.stderr)
"""


def test_embedded_server_started_once_then_read_without_sqlalchemy(
    fresh_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FACEDB_DATABASE_URL", raising=False)
    settings = Settings(home=fresh_home)
    # Stopped: started, created and upgraded through open_database, as by every command.
    with direct.connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT version_num FROM alembic_version")
        assert cursor.fetchone() == (HEAD_REVISION,)
    assert embedded.running_server(fresh_home) is not None
    env = {**os.environ, "FACEDB_HOME": str(fresh_home), "TZ": "UTC"}
    run = subprocess.run(
        [sys.executable, "-c", _NO_SQLALCHEMY], env=env, capture_output=True, text=True, check=True
    )
    assert run.stdout.splitlines()[0] == ",".join(PAYROLL_COLUMNS)
    assert run.stderr.strip() == "False"  # running and at the head: psycopg2 alone
