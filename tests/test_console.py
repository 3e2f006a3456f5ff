"""The admin console (facedb/api/console) over HTTP: sign-in sessions in an HttpOnly,
SameSite cookie, CSRF on every change, the reporter refused every change by the
server, enrolment from photos with what became of each photo, every action in the
OpenAPI schema, and a reassignment never suggested below the 1:1 threshold."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from console_helpers import HTML, csrf_of, sign_in
from fastapi.testclient import TestClient

from facedb import access
from facedb.api.app import create_app
from facedb.api.console.review import prefill
from facedb.config import Settings
from facedb.domain.evidence import Candidate
from facedb.service import FaceService
from facedb.timeattendance import TimeAttendance

PAGES = ("/admin/today", "/admin/timesheets")
ADMIN_PAGES = ("/admin/people", "/admin/review", "/admin/setup")
# CelebA identities (tests/test_review_page.py): four photos enrol, the fifth probes.
KNOWN, STRANGER = "7203", "7349"


@pytest.fixture
def console(settings: Settings) -> Iterator[tuple[TestClient, dict[str, str]]]:
    app = create_app(settings.replace(evidence="all", cooldown=0))
    service: FaceService = app.state.facedb.service
    tokens = {
        role: access.create_key(service, f"{role}-key", role).token
        for role in ("admin", "reporter", "kiosk")
    }
    with TestClient(app) as client:
        yield client, tokens


def test_a_session_opens_with_an_admin_or_reporter_key_only(
    console: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = console
    signed_out = client.get("/admin/today", headers=HTML, follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/admin/login"
    assert client.get("/admin/today").status_code == 401  # JSON clients: the error form
    for wrong in (tokens["kiosk"], "fdb_not-a-key"):
        refused = client.post("/admin/login", data={"key": wrong}, follow_redirects=False)
        assert refused.status_code == 401 and "console" not in refused.cookies
    elsewhere = client.post(
        "/admin/login", data={"key": tokens["admin"]}, headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403 and "set-cookie" not in elsewhere.headers
    answer = client.post("/admin/login", data={"key": tokens["admin"]}, follow_redirects=False)
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/admin" in cookie
    assert tokens["admin"] not in answer.headers["set-cookie"]
    for path in (*PAGES, *ADMIN_PAGES):
        page = client.get(path, headers=HTML)
        assert page.status_code == 200, (path, page.text)
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "admin-key (admin)" in page.text
    csrf = csrf_of(client.get("/admin/setup", headers=HTML).text)
    no_token = client.post("/admin/setup/sites", data={"name": "Paris"})
    assert no_token.status_code == 403 and no_token.json()["error"]["code"] == "csrf"
    wrong_token = client.post("/admin/setup/sites", data={"name": "Paris", "csrf": "x" * 43})
    assert wrong_token.status_code == 403
    other_site = client.post(
        "/admin/setup/sites",
        data={"name": "Paris", "csrf": csrf},
        headers={"Origin": "https://evil.example"},
    )
    assert other_site.status_code == 403
    added = client.post(
        "/admin/setup/sites",
        data={"name": "Paris", "timezone": "Europe/Paris", "csrf": csrf},
        follow_redirects=False,
    )
    assert added.status_code == 303, added.text
    assert "Europe/Paris" in client.get("/admin/setup", headers=HTML).text
    doctor = client.get("/admin/setup/doctor", headers=HTML)
    assert doctor.status_code == 200 and "database" in doctor.text.lower()
    out = client.post("/admin/logout", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/admin/today", headers=HTML, follow_redirects=False).status_code == 303


def test_the_reporter_reads_and_the_server_refuses_every_change(
    console: tuple[TestClient, dict[str, str]],
) -> None:
    client, tokens = console
    csrf = sign_in(client, tokens["reporter"])
    for path in PAGES:
        page = client.get(path, headers=HTML)
        assert page.status_code == 200 and "Lock period" not in page.text
    for path in ADMIN_PAGES:
        assert client.get(path, headers=HTML).status_code == 403
    changes = {
        "/admin/setup/sites": {"name": "Paris"},
        "/admin/setup/keys": {"name": "mine", "role": "admin"},
        "/admin/timesheets/lock": {"first": "2026-11-01", "last": "2026-11-30"},
        "/admin/people/Anyone/remove": {},
        "/admin/review/bulk": {"event": "00000000", "action": "dismiss"},
    }
    for path, form in changes.items():
        refused = client.post(path, data={**form, "csrf": csrf})
        assert refused.status_code == 403, (path, refused.text)
        assert refused.json()["error"]["code"] == "forbidden"
    assert client.get("/admin/timesheets/payroll.csv?month=2026-11").status_code == 200
    assert "none" in client.get("/admin/timesheets", headers=HTML).text.split("Locked periods")[1]


def test_every_console_action_is_in_the_openapi_schema(
    console: tuple[TestClient, dict[str, str]],
) -> None:
    client, _ = console
    paths = client.get("/openapi.json").json()["paths"]
    console_paths = {p for p in paths if p.startswith("/admin")}
    for route in client.app.routes:  # type: ignore[attr-defined]
        path = getattr(route, "path", "")
        if path.startswith("/admin/") and not path.startswith("/admin/static"):
            assert path in console_paths, path
    assert "post" in paths["/admin/people"] and "post" in paths["/admin/timesheets/correct"]


def _blank_png() -> bytes:
    ok, data = cv2.imencode(".png", np.full((240, 320, 3), 200, np.uint8))
    assert ok
    return data.tobytes()


def test_enrolment_from_photos_says_which_were_kept_and_why_not(
    console: tuple[TestClient, dict[str, str]], faces_dir: Path
) -> None:
    client, tokens = console
    csrf = sign_in(client, tokens["admin"])
    examples = faces_dir / "face_recognition" / "examples"
    files = [
        ("photo", ("obama.jpg", (examples / "obama.jpg").read_bytes(), "image/jpeg")),
        ("photo", ("obama2.jpg", (examples / "obama2.jpg").read_bytes(), "image/jpeg")),
        ("photo", ("wall.png", _blank_png(), "image/png")),
        (
            "photo",
            (
                "broken.jpg",
                (faces_dir / "bad" / "truncated_1000_bytes.jpg").read_bytes(),
                "image/jpeg",
            ),
        ),
        ("photo", ("two.jpg", (examples / "two_people.jpg").read_bytes(), "image/jpeg")),
    ]
    answer = client.post(
        "/admin/people", data={"name": "Barack Obama", "csrf": csrf}, files=files, headers=HTML
    )
    assert answer.status_code == 201, answer.text
    outcome = {
        name: kind
        for kind, name in re.findall(r'<tr class="(kept|refused)"><td>([^<]+)</td>', answer.text)
    }
    assert outcome == {
        "obama.jpg": "kept",
        "obama2.jpg": "kept",
        "wall.png": "refused",
        "broken.jpg": "refused",
        "two.jpg": "refused",
    }
    assert "no face found" in answer.text and "unreadable" in answer.text
    assert "several faces" in answer.text
    probe = [("photo", ("door.jpg", (examples / "obama-480p.jpg").read_bytes(), "image/jpeg"))]
    checked = client.post("/admin/people/check", files=probe, headers={"X-CSRF-Token": csrf})
    assert checked.status_code == 200, checked.text
    [someone_else] = checked.json()["photos"]
    assert not someone_else["kept"] and "Barack Obama" in someone_else["reason"]
    more = client.post(
        "/admin/people/check",
        data={"person": "Barack Obama"},
        files=probe,
        headers={"X-CSRF-Token": csrf},
    )
    assert [p["kept"] for p in more.json()["photos"]] == [True]
    person = client.get("/admin/people/Barack%20Obama", headers=HTML)
    assert person.status_code == 200 and '<dd id="faces">2</dd>' in person.text
    again = client.post(
        "/admin/people",
        data={"name": "Barack Obama", "csrf": csrf},
        files=files[:1],
        headers=HTML,
    )
    assert again.status_code == 422 and "already enrolled" in again.text


def test_prefill_needs_the_one_to_one_threshold() -> None:
    near, far = Candidate(1, "Ann", 0.61), Candidate(2, "Bob", 0.12)
    assert prefill([far, near], 0.40) == "Ann"
    assert prefill([far], 0.40) == ""
    assert prefill([near], 0.62) == ""
    assert prefill([], 0.40) == ""


def test_review_never_suggests_a_person_below_the_one_to_one_threshold(
    settings: Settings, faces_dir: Path, tmp_path: Path
) -> None:
    people = tmp_path / "people"
    (people / KNOWN).mkdir(parents=True)
    photos = sorted((faces_dir / "celeba" / KNOWN).glob("*.jpg"))
    for photo in photos[:4]:
        shutil.copy(photo, people / KNOWN / photo.name)
    app = create_app(settings.replace(evidence="all", cooldown=0))
    service: FaceService = app.state.facedb.service
    assert [o.status for o in service.enrol_folders(people)] == ["enrolled"]
    known = service.verify(str(photos[4]), device="door")
    stranger = service.verify(str(sorted((faces_dir / "celeba" / STRANGER).glob("*.jpg"))[0]))
    assert (known.decision, stranger.decision) == ("accepted", "unknown")
    one_to_one = service.policy_status().one_to_one.value
    assert stranger.similarity is not None and stranger.similarity < one_to_one - 0.05
    assert known.similarity is not None and known.similarity > one_to_one + 0.05
    token = access.create_key(service, "office", "admin").token
    with TestClient(app) as client:
        sign_in(client, token)
        page = client.get("/admin/review?status=all", headers=HTML).text
    fields = dict(
        re.findall(
            r'<tr data-event="([0-9a-f-]+)">.*?name="person" [^>]*value="([^"]*)"', page, re.S
        )
    )
    assert fields[str(stranger.event_id)] == "", "a stranger's nearest person is not suggested"
    assert fields[str(known.event_id)] == KNOWN


def test_changes_are_recorded_under_the_signed_in_key_and_a_revoked_key_ends_its_session(
    console: tuple[TestClient, dict[str, str]], faces_dir: Path
) -> None:
    client, tokens = console
    app = client.app
    service: FaceService = app.state.facedb.service  # type: ignore[attr-defined]
    examples = faces_dir / "face_recognition" / "examples"
    service.enrol("Ann", str(examples / "obama.jpg"))
    service.enrol("Ann Again", str(examples / "biden.jpg"))
    csrf = sign_in(client, tokens["admin"])
    reporter = TestClient(app)
    sign_in(reporter, tokens["reporter"])
    steps = {
        "/admin/setup/shifts": {
            "name": "day",
            "start": "09:00",
            "end": "17:00",
            "weekdays": "mon-fri",
            "break_minutes": "30",
            "grace_minutes": "5",
        },
        "/admin/setup/assignments": {"shift": "day", "person": "Ann", "first": "2026-11-01"},
        "/admin/setup/sites": {"name": "Paris", "timezone": "Europe/Paris"},
        "/admin/setup/groups": {"name": "Kitchen", "kind": "team"},
        "/admin/people/Ann/membership": {"site": "Paris", "join": "Kitchen"},
        "/admin/setup/leave": {
            "person": "Ann",
            "kind": "vacation",
            "first": "2026-11-02",
            "last": "2026-11-03",
        },
        "/admin/timesheets/lock": {"first": "2026-10-01", "last": "2026-10-31"},
        "/admin/people/Ann/merge": {"other": "Ann Again"},
        "/admin/people/Ann/rename": {"new_name": "Ann Lee"},
    }
    for path, form in steps.items():
        done = client.post(path, data={**form, "csrf": csrf}, follow_redirects=False)
        assert done.status_code == 303, (path, done.text)
    ta = TimeAttendance(service.settings)
    [assignment] = ta.assignments()
    assert (assignment.shift, assignment.person) == ("day", "Ann Lee")
    [leave] = ta.leave(None, None)
    assert leave.created_by == "admin-key"
    assert [p.locked_by for p in ta.periods()] == ["admin-key"]
    assert [u.name for u in service.users()] == ["Ann Lee"]
    membership = ta.membership("Ann Lee")
    assert (membership.site, membership.groups) == ("Paris", ("Kitchen",))
    listed = client.get("/admin/people?site=Paris", headers=HTML).text
    assert "Ann Lee" in listed and "People <small>(1)" in listed
    assert service.user("Ann Lee").embeddings == 2  # Ann Again's face came along
    bad = client.post(
        "/admin/people/Nobody/rename", data={"new_name": "X", "csrf": csrf}, headers=HTML
    )
    assert bad.status_code == 404 and "Nobody" in bad.text and "<html" in bad.text
    # Revoking the reporter's key ends the reporter's session at once.
    assert reporter.get("/admin/today", headers=HTML).status_code == 200
    revoked = client.post(
        "/admin/setup/keys/reporter-key/revoke", data={"csrf": csrf}, follow_redirects=False
    )
    assert revoked.status_code == 303
    gone = reporter.get("/admin/today", headers=HTML, follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/admin/login"
