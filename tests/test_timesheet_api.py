"""GET /v1/timesheet: the reporter role reads timesheets over HTTP, as JSON or CSV."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterator
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from facedb import access
from facedb.api.app import create_app
from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.service import FaceService
from facedb.store import org, schedules
from facedb.store.attendance import log_event
from facedb.store.gallery import create_user
from facedb.vision.pipeline import FacePipeline

PARIS = ZoneInfo("Europe/Paris")
Keys = dict[str, dict[str, str]]


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    loaded = FacePipeline(Settings.load())
    loaded.load()
    return loaded


@pytest.fixture
def client(settings: Settings, pipeline: FacePipeline) -> Iterator[tuple[TestClient, Keys]]:
    service = FaceService(settings)
    with service.transaction() as s:
        org.create_site(s, "Paris", "Europe/Paris")
        org.register_device(s, "door-in", site="Paris", role="in")
        org.register_device(s, "door-out", site="Paris", role="out")
        schedules.create_shift(s, "day", time(9), time(17), break_minutes=60)
        for name in ("Ana", "@SUM(A1)"):
            user_id = create_user(s, name, None, {}).id
            org.assign_site(s, user_id, "Paris")
            schedules.assign_shift(
                s, "day", user_id=user_id, valid_from=datetime(2026, 1, 1).date()
            )
            for hh, mm, device in ((9, 7, "door-in"), (17, 45, "door-out")):
                log_event(
                    s,
                    AttendanceEvent(
                        uuid.uuid4(), datetime(2026, 11, 9, hh, mm, tzinfo=PARIS), "identify",
                        "accepted", user_id, None, 0.6, 0.3, 0.9, device, "m",
                    ),
                )  # fmt: skip
    service.close()
    app = create_app(settings, pipeline=pipeline)
    with TestClient(app) as test_client:
        state = app.state.facedb
        keys = {
            role: {"Authorization": f"Bearer {access.create_key(state.service, role, role).token}"}
            for role in ("reporter", "kiosk")
        }
        yield test_client, keys


def test_reporter_reads_the_timesheet(client: tuple[TestClient, Keys]) -> None:
    http, keys = client
    query = {"from": "2026-11-09", "to": "2026-11-10", "tz": "UTC"}
    body = http.get("/v1/timesheet", params=query, headers=keys["reporter"]).json()
    monday = [d for d in body["days"] if d["work_day"] == "2026-11-09"]
    assert {d["person"] for d in monday} == {"Ana", "@SUM(A1)"}
    ana = next(d for d in monday if d["person"] == "Ana")
    # 09:07 is past the 5-minute grace; 09:07-17:45 paired on in/out doors: 518 minutes.
    assert (ana["late_minutes"], ana["worked_minutes"], ana["overtime_minutes"]) == (7, 518, 98)
    assert ana["first_in"] == "2026-11-09T09:07:00+01:00"
    tuesday = next(
        d for d in body["days"] if d["work_day"] == "2026-11-10" and d["person"] == "Ana"
    )
    assert tuesday["absent"] is True
    assert {t["person"]: t["days_absent"] for t in body["totals"]} == {"Ana": 1, "@SUM(A1)": 1}

    exported = http.get(
        "/v1/timesheet", params={**query, "format": "csv"}, headers=keys["reporter"]
    )
    assert exported.headers["content-type"].startswith("text/csv")
    names = {r[0] for r in list(csv.reader(io.StringIO(exported.text)))[1:]}
    assert names == {"Ana", "'@SUM(A1)"}

    assert http.get("/v1/timesheet", params=query, headers=keys["kiosk"]).status_code == 403
    assert http.get("/v1/timesheet", params=query).status_code == 401
    bad = http.get("/v1/timesheet", params={**query, "site": "Nowhere"}, headers=keys["reporter"])
    assert bad.status_code == 422 and "no site is called" in bad.json()["error"]["message"]
    unknown = http.get("/v1/timesheet", params={**query, "person": "Zed"}, headers=keys["reporter"])
    assert unknown.status_code == 404
