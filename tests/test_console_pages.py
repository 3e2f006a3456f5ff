"""Every page of the admin console in headless Chromium, on a database of 1,000
people with a month of attendance (written by bulk SQL): no JavaScript error, every
form control labelled, each page loaded within the target; screenshots at desktop
and phone width (docs/console/ with FACEDB_UPDATE_DOCS=1).

Needs /usr/bin/chromium (skipped without it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from console_browser import Browser
from sqlalchemy import text
from test_kiosk_browser import CHROMIUM, Chromium, LiveServer

from facedb import access, timezones
from facedb.api.app import create_app
from facedb.config import Settings
from facedb.service import FaceService
from facedb.store.engine import make_engine
from facedb.timeattendance import TimeAttendance

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed")

PEOPLE = 1000
# A page (the server's answer, then the browser's load) on this machine.
PAGE_TARGET_S = 1.0
# CelebA identities enrolled for real, and a stranger for the review queue.
ENROLLED, STRANGER = ("7203", "7206"), "7349"

_PEOPLE_SQL = """
INSERT INTO users (name, external_id)
SELECT 'Person ' || lpad(n::text, 4, '0'), 'E' || lpad(n::text, 5, '0')
FROM generate_series(1, :count) AS n
"""
# Two punches a work day, Paris time (in 8:45-9:10, out 17:20-17:45), one in twenty missed.
_ATTENDANCE_SQL = """
INSERT INTO attendance (event_id, occurred_at, kind, decision, user_id, similarity,
                        threshold, device, model)
SELECT gen_random_uuid(),
       (CAST(d AS date) + at + random() * interval '25 minutes') AT TIME ZONE 'Europe/Paris',
       'identify', 'accepted', u.id, 0.55 + random() * 0.3, 0.4, 'door', 'bulk'
FROM users u
CROSS JOIN generate_series(CAST(:first AS date), CAST(:last AS date), interval '1 day') AS d
CROSS JOIN (VALUES (time '08:45'), (time '17:20')) AS punches(at)
WHERE extract(isodow FROM d) < 6 AND u.name LIKE 'Person %' AND random() > 0.05
"""


_COUNTS = """Object.fromEntries([...document.querySelectorAll("[id^=count-]")]
  .map((e) => [e.id.slice(6), Number(e.textContent)]))"""


def _cli_json(*args: str) -> Any:
    run = subprocess.run(
        [sys.executable, "-m", "facedb.cli", *args], capture_output=True, check=True, text=True
    )
    return json.loads(run.stdout)


def _populate(settings: Settings, service: FaceService, faces_dir: Path, tmp: Path) -> date:
    """1,000 people in two sites and a group with a shift, punches from the first of
    last month to today, two people enrolled for real and a review queue; today's
    date in the server's zone."""
    people = tmp / "people"
    for identity in ENROLLED:
        (people / identity).mkdir(parents=True)
        for photo in sorted((faces_dir / "celeba" / identity).glob("*.jpg"))[:4]:
            shutil.copy(photo, people / identity / photo.name)
    assert {o.status for o in service.enrol_folders(people)} == {"enrolled"}
    for identity in ENROLLED:
        service.verify(str(sorted((faces_dir / "celeba" / identity).glob("*.jpg"))[4]))
    for i, photo in enumerate(sorted((faces_dir / "celeba" / STRANGER).glob("*.jpg"))[:3]):
        service.verify(str(photo), device=f"door-{i}")
    ta = TimeAttendance(settings)
    today = timezones.parse_day("today", ta.zone)
    first = (today.replace(day=1) - timedelta(days=1)).replace(day=1)  # last month's 1st
    engine = make_engine(str(settings.database_url))
    with engine.begin() as conn:
        conn.execute(text(_PEOPLE_SQL), {"count": PEOPLE})
        conn.execute(text(_ATTENDANCE_SQL), {"first": first, "last": today})
    engine.dispose()
    names = [f"Person {n:04d}" for n in range(1, PEOPLE + 1)]
    ta.add_site("Paris", "Europe/Paris")
    ta.add_site("Lyon", "Europe/Paris")
    ta.assign_site(names[: PEOPLE // 2], "Paris")
    ta.assign_site(names[PEOPLE // 2 :], "Lyon")
    ta.add_group("Staff", "department")
    ta.join_group("Staff", names, leave=False)
    ta.add_shift("office", time(9), time(17, 30), (1, 2, 3, 4, 5), 30, 5)
    ta.assign_shift("office", person=None, group="Staff", valid_from=first, valid_to=None)
    ta.add_holiday(first + timedelta(days=10), "Founders' day", None)
    ta.add_leave(names[0], "vacation", first, first + timedelta(days=4), None, None, "hr")
    ta.set_device("door", "Paris", None, "both")
    return today


def test_every_console_page_with_a_thousand_people(
    settings: Settings, faces_dir: Path, tmp_path: Path
) -> None:
    app = create_app(settings.replace(evidence="all", cooldown=0))
    service: FaceService = app.state.facedb.service
    today = _populate(settings, service, faces_dir, tmp_path)
    last_month = (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    token = access.create_key(service, "office", "admin").token
    access.create_key(service, "hr", "reporter")
    access.create_key(service, "door", "kiosk")
    pages = {
        "today": "/admin/today",
        "people": "/admin/people",
        "person": "/admin/people/7203",
        "timesheets-month": f"/admin/timesheets?at={last_month}",
        "timesheets-week": f"/admin/timesheets?period=week&at={today}&site=Paris",
        "day": f"/admin/timesheets/day?person=Person%200002&day={today}",
        "review": "/admin/review",
        "setup": "/admin/setup",
    }
    chromium = Chromium(tmp_path)
    slow: dict[str, float] = {}
    with LiveServer(app) as server:
        browser = Browser(chromium, server.url)
        try:
            browser.go("/admin/login")
            assert browser.unlabelled() == []
            browser.shoot("login")
            browser.fill({"key": token})
            browser.submit("form[action='/admin/login']")
            for name, path in pages.items():
                seconds = min(browser.go(path) for _ in range(2))
                assert browser.js("location.pathname") == path.split("?")[0], name
                assert browser.js("document.querySelector('.error')") is None, name
                assert browser.unlabelled() == [], name
                assert browser.errors() == [], name
                if seconds > PAGE_TARGET_S:
                    slow[name] = round(seconds, 2)
                browser.shoot(name)
                if name == "today":
                    shown = browser.js(_COUNTS)
        finally:
            browser.close()
            chromium.close()
    assert not slow, f"pages slower than {PAGE_TARGET_S} s: {slow}"
    # Today's counts are the CLI's for the same day.
    report = _cli_json("report", "--date", str(today), "--format", "json")
    sheet = _cli_json("timesheet", "--from", str(today), "--format", "json")["days"]
    assert shown == {
        "present": len(report["present"]),
        "absent": len(report["absent"]),
        "late": sum(1 for d in sheet if d["late_minutes"] > 0),
        "shift-absent": sum(1 for d in sheet if d["absent"]),
        "leave": sum(1 for d in sheet if d["leave"] is not None),
    }
    assert shown["present"] > PEOPLE // 2 and shown["late"] > 0
