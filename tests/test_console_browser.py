"""The admin console in headless Chromium, as an office manager uses it: sign in with
an admin key, enrol a person from uploaded photos (seeing which were kept), watch a
kiosk verification of them appear on Today without reloading, void it with a reason
in Timesheets, lock the month, download the payroll CSV (the bytes of `facedb
timesheet --month ... --format csv`), sign out; then sign in as a reporter and find
every change refused by the server.

Needs /usr/bin/chromium (skipped without it, as the kiosk's test). The enrolment's
answer is photographed (tests/console_browser.py: Browser.shoot)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from datetime import date, time
from pathlib import Path

import cv2
import numpy as np
import pytest
from console_browser import Browser
from test_kiosk_browser import CHROMIUM, Chromium, LiveServer

from facedb import access
from facedb.api.app import create_app
from facedb.config import Settings
from facedb.service import FaceService
from facedb.timeattendance import TimeAttendance

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed")

NAME = "Barack Obama"
ENROL = ("obama.jpg", "obama2.jpg")
KIOSK_PHOTO = "knn_examples/test/obama1.jpg"


def _kiosk_verify(url: str, token: str, photo: Path) -> dict[str, object]:
    """POST /v1/verify as a kiosk does (multipart)."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="k.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = urllib.request.Request(
        f"{url}/v1/verify",
        data=body,
        headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "X-API-Key": token,
        },
    )
    with urllib.request.urlopen(request, timeout=120) as answer:
        result: dict[str, object] = json.load(answer)
    return result


def _fetch_bytes(browser: Browser, path: str) -> bytes:
    """A download as the signed-in page fetches it."""
    encoded = browser.devtools.call(
        "Runtime.evaluate",
        expression=(
            f"fetch({json.dumps(path)}).then((r) => r.arrayBuffer()).then((b) => {{"
            " let s = ''; for (const x of new Uint8Array(b)) s += String.fromCharCode(x);"
            " return btoa(s); })"
        ),
        awaitPromise=True,
        returnByValue=True,
    )["result"]["value"]
    return base64.b64decode(encoded)


def _post_as_page(browser: Browser, path: str, form: dict[str, str]) -> int:
    """The status of a change sent by the page itself, with its session's CSRF token."""
    script = f"""
      (() => {{
        const body = new FormData();
        body.append("csrf", document.querySelector('input[name=csrf]').value);
        for (const [k, v] of Object.entries({json.dumps(form)})) body.append(k, v);
        return fetch({json.dumps(path)}, {{method: "POST", body, redirect: "manual"}})
          .then((r) => r.status);
      }})()
    """
    result = browser.devtools.call(
        "Runtime.evaluate", expression=script, awaitPromise=True, returnByValue=True
    )
    return int(result["result"]["value"])


def test_an_office_manager_runs_attendance_in_the_console(
    settings: Settings, faces_dir: Path, tmp_path: Path
) -> None:
    app = create_app(settings.replace(cooldown=0))
    service: FaceService = app.state.facedb.service
    tokens = {r: access.create_key(service, f"{r}-key", r).token for r in ("admin", "reporter")}
    kiosk = access.create_key(service, "door", "kiosk").token
    examples = faces_dir / "face_recognition" / "examples"
    chromium = Chromium(tmp_path)
    with LiveServer(app) as server:
        browser = Browser(chromium, server.url)
        try:
            # Sign in.
            browser.go("/admin/login")
            browser.fill({"key": tokens["admin"]})
            browser.submit("form[action='/admin/login']")
            assert browser.js("location.pathname") == "/admin/today"
            assert browser.js("document.cookie") == "", "the session cookie is HttpOnly"

            # Enrol from uploaded photos, one of them not a face.
            blank = tmp_path / "wall.png"
            cv2.imwrite(str(blank), np.full((240, 320, 3), 200, np.uint8))
            browser.go("/admin/people")
            browser.fill({"new-name": NAME})
            browser.choose_files("#new-photos", [examples / p for p in ENROL] + [blank])
            checked = browser.wait(
                "document.querySelectorAll('#photo-check li.kept, #photo-check li.refused')"
                ".length === 3 && document.getElementById('photo-check').textContent"
            )
            assert "obama.jpg: will be kept" in checked and "wall.png: no face found" in checked
            assert service.users() == []  # checked, not enrolled
            browser.shoot("photo-check")
            browser.submit("#enrol")
            outcome = browser.js(
                "[...document.querySelectorAll('#photos tbody tr')]"
                ".map((r) => [r.cells[0].textContent, r.cells[1].textContent])"
            )
            assert outcome == [
                ["obama.jpg", "kept"],
                ["obama2.jpg", "kept"],
                ["wall.png", "not kept"],
            ]
            assert "Enrolled" in browser.js("document.getElementById('enrol-result').textContent")
            browser.shoot("enrolled")

            # A shift for the person, so that every day of the month has its row.
            ta = TimeAttendance(settings)
            ta.add_shift("day", time(9), time(17), tuple(range(1, 8)), 30, 5)
            ta.assign_shift(
                "day", person=NAME, group=None, valid_from=date(2000, 1, 1), valid_to=None
            )

            # A kiosk verification appears on Today without a reload.
            browser.go("/admin/today")
            browser.js("window.__same_page = true")
            verdict = _kiosk_verify(server.url, kiosk, examples / KIOSK_PHOTO)
            assert verdict["decision"] == "accepted" and verdict["person"] == NAME
            event = str(verdict["event_id"])
            browser.wait(f"document.querySelector('#latest tr[data-event=\"{event}\"]') !== null")
            assert browser.js("window.__same_page") is True, "Today reloaded"
            row = browser.js(
                f"document.querySelector('#latest tr[data-event=\"{event}\"]').textContent"
            )
            assert NAME in row and "accepted" in row

            # Void it with a reason in Timesheets.
            day = browser.js("document.getElementById('day').value")
            browser.go(f"/admin/timesheets/day?person={NAME.replace(' ', '%20')}&day={day}")
            form = f"tr[data-event='{event}'] form"
            browser.js(
                f"document.querySelector(\"{form} select[name=reason]\").value = 'false_accept'"
            )
            browser.js(f"document.querySelector(\"{form} input[name=note]\").value = 'a visitor'")
            browser.submit(form)
            assert "void recorded" in browser.js("document.querySelector('.note').textContent")
            assert (
                browser.js(
                    f"document.querySelector(\"tr[data-event='{event}'] .counts-no\").textContent"
                )
                == "no"
            )
            [void] = TimeAttendance(settings).history(event).corrections
            assert (void.action, void.reason, void.note) == ("void", "false_accept", "a visitor")
            assert void.created_by == "admin-key"  # who was signed in
            history = service.attendance(None, NAME, 10)
            assert [r.event_id for r in history] == [uuid.UUID(event)]

            # Lock the month, download the payroll CSV, compare with the CLI's.
            month = day[:7]
            browser.go(f"/admin/timesheets?at={month}")
            browser.submit("#lock")
            assert "locked" in browser.js("document.getElementById('locked').textContent")
            downloaded = _fetch_bytes(browser, f"/admin/timesheets/payroll.csv?month={month}")
            cli = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "facedb.cli",
                    "timesheet",
                    "--month",
                    month,
                    "--format",
                    "csv",
                ],
                env={**os.environ},
                capture_output=True,
                check=True,
            ).stdout
            assert NAME.encode() in cli
            assert downloaded == cli

            # Sign out.
            browser.submit("form.who")
            assert browser.js("location.pathname") == "/admin/login"
            browser.go("/admin/today")
            assert browser.js("location.pathname") == "/admin/login"

            # The reporter reads; the server refuses every change.
            browser.fill({"key": tokens["reporter"]})
            browser.submit("form[action='/admin/login']")
            browser.go(f"/admin/timesheets?at={month}")
            assert browser.js("document.getElementById('lock')") is None
            changes = {
                "/admin/timesheets/lock": {
                    "first": f"{month}-01",
                    "last": f"{month}-02",
                    "action": "unlock",
                    "reason": "x",
                },
                "/admin/timesheets/correct": {
                    "event": event,
                    "action": "restore",
                    "reason": "other",
                    "note": "x",
                    "person": NAME,
                    "day": day,
                },
                "/admin/timesheets/punch": {
                    "person": NAME,
                    "day": day,
                    "at": "09:00",
                    "reason": "missed_punch",
                    "note": "x",
                },
                f"/admin/people/{NAME}/rename": {"new_name": "Someone"},
                f"/admin/people/{NAME}/remove": {},
                "/admin/setup/keys": {"name": "mine", "role": "admin"},
                "/admin/setup/sites": {"name": "Paris"},
                "/admin/review/bulk": {"event": event, "action": "dismiss"},
            }
            for path, form_data in changes.items():
                assert _post_as_page(browser, path, form_data) == 403, path
            assert [u.name for u in service.users()] == [NAME]
            assert [p.locked for p in TimeAttendance(settings).periods()] == [True]
            assert browser.errors() == []
        finally:
            browser.close()
            chromium.close()
