"""The time-and-attendance commands the way an administrator uses them: set up a
site, devices, a group and a shift, read a timesheet, export it for payroll,
correct an event and lock the period."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from click.testing import CliRunner, Result

from facedb.cli.main import main
from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.service import FaceService
from facedb.store.attendance import log_event
from facedb.store.gallery import create_user
from facedb.timeattendance import PAYROLL_COLUMNS, TOTALS_COLUMNS

PARIS = ZoneInfo("Europe/Paris")


def run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    return result


def ok(*args: str) -> Result:
    result = run(*args)
    assert result.exit_code == 0, (args, result.output)
    return result


def _log(service: FaceService, user_id: int, when: datetime, device: str) -> uuid.UUID:
    event_id = uuid.uuid4()
    with service.transaction() as s:
        log_event(
            s,
            AttendanceEvent(
                event_id, when, "identify", "accepted", user_id, None, 0.6, 0.3, 0.9, device, "m"
            ),
        )
    return event_id


def test_setup_timesheet_export_correct_lock(settings: Settings) -> None:
    service = FaceService(settings)
    with service.transaction() as s:
        alice = create_user(s, "Alice", "E-17", {}).id
        evil = create_user(s, '=HYPERLINK("http://x")', None, {}).id
    ok("sites", "add", "Paris", "--tz", "Europe/Paris")
    ok("sites", "assign", "Paris", "Alice", '=HYPERLINK("http://x")')
    ok("devices", "add", "door-in", "--site", "Paris", "--role", "in")
    ok("devices", "add", "door-out", "--site", "Paris", "--role", "out")
    ok("groups", "add", "Kitchen", "--kind", "department")
    ok("groups", "assign", "Kitchen", "Alice", '=HYPERLINK("http://x")')
    ok("shifts", "add", "day", "09:00", "17:00", "--days", "mon-fri", "--break", "60")
    ok("shifts", "assign", "day", "--group", "Kitchen", "--from", "2026-11-01")
    ok("holidays", "add", "2026-11-11", "Armistice", "--site", "Paris")
    ok("leave", "add", "Alice", "vacation", "--from", "2026-11-12", "--by", "hr")

    devices = json.loads(ok("devices", "list", "--json").stdout)
    assert {(d["name"], d["role"]) for d in devices} == {("door-in", "in"), ("door-out", "out")}
    groups = json.loads(ok("groups", "show", "Alice", "--json").stdout)
    assert groups == [{"name": "Alice", "site": "Paris", "groups": ["Kitchen"]}]

    monday = datetime(2026, 11, 9, tzinfo=PARIS).date()
    arrive = _log(service, alice, datetime(2026, 11, 9, 9, 12, tzinfo=PARIS), "door-in")
    _log(service, alice, datetime(2026, 11, 9, 17, 30, tzinfo=PARIS), "door-out")
    _log(service, evil, datetime(2026, 11, 9, 9, tzinfo=PARIS), "door-in")

    report = json.loads(ok("timesheet", "--week", "2026-W46", "--format", "json").stdout)
    assert report["columns"] == list(PAYROLL_COLUMNS)
    alice_days = {d["work_day"]: d for d in report["days"] if d["person"] == "Alice"}
    first = alice_days[monday.isoformat()]
    assert first["first_in"] == "2026-11-09T09:12:00+01:00"
    assert (first["late_minutes"], first["worked_minutes"], first["overtime_minutes"]) == (
        12,
        498,
        78,
    )
    assert first["external_id"] == "E-17"
    assert alice_days["2026-11-11"]["status"] == "holiday"
    assert alice_days["2026-11-12"]["status"] == "leave"
    assert alice_days["2026-11-13"]["status"] == "absent"
    totals = {t["person"]: t for t in report["totals"]}
    assert totals["Alice"]["days_absent"] == 2  # Tuesday and Friday

    exported = ok("timesheet", "--week", "2026-11-10", "--format", "csv").stdout
    rows = list(csv.reader(io.StringIO(exported)))
    assert tuple(rows[0]) == PAYROLL_COLUMNS
    names = {r[0] for r in rows[1:]}
    assert names == {"Alice", '\'=HYPERLINK("http://x")'}  # a formula is text
    scoped = ok("timesheet", "--week", "2026-W46", "--person", "Alice", "--format", "csv")
    assert {r[0] for r in list(csv.reader(io.StringIO(scoped.stdout)))[1:]} == {"Alice"}
    totals_csv = ok("timesheet", "--week", "2026-W46", "--format", "csv", "--totals").stdout
    assert totals_csv.splitlines()[0].startswith("person,days_present,days_absent")
    assert "Alice" in ok("timesheet", "--week", "2026-W46", "--site", "Paris").stdout

    # `facedb report` gains the exceptions of the day.
    daily = ok("report", "--date", "2026-11-09", "--tz", "Europe/Paris").stdout
    assert "late (1): Alice 12 min" in daily
    assert "absent, scheduled (0): -" in daily
    assert 'missing clock-out (1): =HYPERLINK("http://x")' in daily

    # A correction, its history, and the period lock.
    ok("correct", "reassign", str(arrive), '=HYPERLINK("http://x")', "--reason", "wrong_person",
       "--by", "admin")  # fmt: skip
    hist = json.loads(ok("correct", "history", str(arrive), "--json").stdout)
    assert (hist["person"], hist["counted_for"]) == ("Alice", '=HYPERLINK("http://x")')
    shown = ok("attendance", "history", str(arrive)).stdout
    assert "reassign -> =HYPERLINK" in shown and "(wrong_person)" in shown
    ok("period", "lock", "2026-11", "--tz", "Europe/Paris", "--by", "payroll")
    refused = run("correct", "void", str(arrive), "--reason", "false_accept")
    assert refused.exit_code == 21 and "locked pay period" in refused.stderr
    assert "Traceback" not in refused.output
    added = run("correct", "add", "Alice", "--at", "2026-11-10 09:00", "--reason", "missed_punch")
    assert added.exit_code == 21
    ok("period", "unlock", "2026-11-01", "2026-11-30", "--reason", "late note", "--by", "payroll")
    ok("correct", "add", "Alice", "--at", "2026-11-10 09:00", "--direction", "in",
       "--reason", "missed_punch")  # fmt: skip
    audit = json.loads(ok("correct", "list", "--json").stdout)
    assert [c["action"] for c in audit] == ["reassign", "add"]
    assert audit[1]["occurred_at"].startswith("2026-11-10T08:00:00")  # 09:00 in Paris
    periods = json.loads(ok("period", "list", "--json").stdout)
    assert periods[0]["unlock_reason"] == "late note"


def test_bad_input_is_one_line_not_a_traceback(settings: Settings) -> None:
    for args, code, message in [
        (("sites", "add", "Mars", "--tz", "Mars/Olympus"), 2, "unknown time zone"),
        (("timesheet", "--week", "2026-W99"), 2, "not a week"),
        (("timesheet", "--site", "Nowhere"), 2, "no site is called"),
        (("shifts", "add", "x", "25:00", "17:00"), 2, "not a time"),
        (("shifts", "add", "x", "09:00", "17:00", "--days", "funday"), 2, "not a weekday"),
        (("correct", "void", "not-a-uuid", "--reason", "other"), 2, "not an event id"),
        (("correct", "void", str(uuid.uuid4()), "--reason", "other"), 2, "no attendance event"),
        (("period", "lock"), 2, "give a month"),
        (("leave", "add", "Nobody", "sick", "--from", "2026-11-01"), 7, "Nobody"),
    ]:
        result = run(*args)
        assert result.exit_code == code, (args, result.output)
        assert message in result.stderr and "Traceback" not in result.output, args


def test_the_commands_load_no_face_models() -> None:
    # An administrator's timesheet never waits for onnxruntime or OpenCV to import.
    code = (
        "import sys, facedb.cli.org, facedb.cli.schedules, facedb.cli.timesheet, "
        "facedb.cli.corrections; "
        "print(sorted(m for m in ('onnxruntime', 'cv2', 'facedb.service') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_purge_refused_in_a_locked_period(settings: Settings) -> None:
    service = FaceService(settings)
    with service.transaction() as s:
        user_id = create_user(s, "Lee", None, {}).id
    _log(service, user_id, datetime(2000, 1, 10, 9, tzinfo=PARIS), "lobby")
    assert "late (" not in ok("report", "--date", "2000-01-10", "--tz", "UTC").stdout  # no shifts
    ok("period", "lock", "2000-01", "--tz", "Europe/Paris")
    refused = run("attendance", "purge", "--older-than", "1d", "--yes")
    assert refused.exit_code == 21 and "locked pay period 2000-01-01..2000-01-31" in refused.stderr
    ok("period", "unlock", "2000-01-01", "2000-01-31", "--reason", "retention")
    assert (
        "deleted 1 attendance row"
        in ok("attendance", "purge", "--older-than", "1d", "--yes").stdout
    )


def test_the_payroll_columns_are_the_documented_ones() -> None:
    docs = (Path(__file__).resolve().parent.parent / "docs" / "TIME_AND_ATTENDANCE.md").read_text()
    listed = docs.split("these columns, in this order; a new column is\nonly ever appended:")[1]
    documented = listed.split("`")[1].replace("\n", " ").split(", ")
    assert tuple(documented) == PAYROLL_COLUMNS
    totals = docs.split("The\n`--totals` CSV has `")[1].split("`. ")[0].replace("\n", " ")
    assert tuple(totals.replace("`", "").split(", ")) == TOTALS_COLUMNS
