"""The review queue over HTTP and in the admin page (facedb/api/review.py,
static/review.html): admin keys only, the kept faces as JPEGs, and a reassignment
done by clicking in headless Chromium that reaches the database.

The browser test needs /usr/bin/chromium (skipped without it, as the kiosk's). A
screenshot is saved to test-artifacts/review.png; with FACEDB_UPDATE_DOCS=1 also to
docs/review.png."""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from test_kiosk_browser import ARTIFACTS, CHROMIUM, Chromium, LiveServer, compact_png

from facedb import access
from facedb.api.app import create_app
from facedb.config import Settings
from facedb.service import FaceService

REPO = Path(__file__).resolve().parent.parent
DOCS_PICTURE = REPO / "docs" / "review.png"
# CelebA identities (tests/test_end_to_end.py): four photos enrol, the fifth probes.
WRONG, RIGHT = "7203", "7206"
STRANGER = "7349"


@pytest.fixture
def review_app(
    settings: Settings, faces_dir: Path, tmp_path: Path
) -> Iterator[tuple[object, dict[str, str]]]:
    people = tmp_path / "people"
    for identity in (WRONG, RIGHT):
        (people / identity).mkdir(parents=True)
        for photo in sorted((faces_dir / "celeba" / identity).glob("*.jpg"))[:4]:
            shutil.copy(photo, people / identity / photo.name)
    # Every decision keeps its face, so that a clear accept can be reassigned too.
    app = create_app(settings.replace(evidence="all", cooldown=0))
    service: FaceService = app.state.facedb.service
    assert [o.status for o in service.enrol_folders(people)] == ["enrolled", "enrolled"]
    accepted = service.verify(
        str(sorted((faces_dir / "celeba" / WRONG).glob("*.jpg"))[4]), device="door"
    )
    stranger = sorted((faces_dir / "celeba" / STRANGER).glob("*.jpg"))
    unknown, *again = [service.verify(str(stranger[i]), device=f"door-{i}") for i in range(3)]
    assert (accepted.decision, unknown.decision) == ("accepted", "unknown")
    assert [r.decision for r in again] == ["unknown", "unknown"]
    tokens = {
        "admin": access.create_key(service, "office", "admin").token,
        "kiosk": access.create_key(service, "tablet", "kiosk").token,
        "reporter": access.create_key(service, "hr", "reporter").token,
        "accepted": str(accepted.event_id),
        "unknown": str(unknown.event_id),
    }
    yield app, tokens


def _sql(settings: Settings, statement: str, **params: object) -> list[tuple[object, ...]]:
    from facedb.store.engine import make_engine

    engine = make_engine(str(settings.database_url))
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(statement), params)]
    engine.dispose()
    return rows


def test_the_review_api_is_for_admin_keys(review_app: tuple[object, dict[str, str]]) -> None:
    app, tokens = review_app
    with TestClient(app) as client:  # type: ignore[arg-type]
        assert client.get("/v1/review").status_code == 401
        for role in ("kiosk", "reporter"):
            refused = client.get("/v1/review", headers={"X-API-Key": tokens[role]})
            assert refused.status_code == 403, refused.text
        admin = {"Authorization": f"Bearer {tokens['admin']}"}
        queue = client.get("/v1/review", headers=admin)
        assert queue.status_code == 200, queue.text
        rows = {r["event_id"]: r for r in queue.json()}
        assert rows[tokens["accepted"]]["name"] == WRONG
        assert rows[tokens["unknown"]]["decision"] == "unknown"
        assert rows[tokens["unknown"]]["candidates"], "a search keeps its candidates"
        face = client.get(f"/v1/review/{tokens['unknown']}/thumbnail", headers=admin)
        assert face.status_code == 200 and face.headers["content-type"] == "image/jpeg"
        assert face.content[:2] == b"\xff\xd8" and len(face.content) < 12_000
        assert client.get(f"/v1/review/{tokens['unknown']}/thumbnail").status_code == 401
        missing = client.post("/v1/review/ffffffff/accept", headers=admin, json={})
        assert missing.status_code == 422 and "error" in missing.json()
        nobody = client.post(
            f"/v1/review/{tokens['unknown']}/reassign", headers=admin, json={"person": "Nobody"}
        )
        assert nobody.status_code == 404, nobody.text
        dismissed = client.post(
            f"/v1/review/{tokens['unknown']}/dismiss", headers=admin, json={"note": "passer-by"}
        )
        assert dismissed.status_code == 200 and dismissed.json()["action"] == "dismiss"
        still_open = {r["event_id"] for r in client.get("/v1/review", headers=admin).json()}
        assert tokens["unknown"] not in still_open and tokens["accepted"] in still_open
        # The two other visits of the stranger are one group; enrolled in one request.
        groups = client.get("/v1/review/unknowns", headers=admin)
        assert groups.status_code == 200, groups.text
        [group] = groups.json()
        assert group["count"] == 2 and group["devices"] == ["door-1", "door-2"]
        bad = client.post("/v1/review/unknowns/00000000/enrol", headers=admin, json={"name": "X"})
        assert bad.status_code == 422
        enrolled = client.post(
            f"/v1/review/unknowns/{group['id']}/enrol", headers=admin, json={"name": "Visitor"}
        )
        assert enrolled.status_code == 200, enrolled.text
        assert enrolled.json()["created"] and enrolled.json()["events"] == 2
        assert client.get("/v1/review/unknowns", headers=admin).json() == []


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed")
def test_a_reassign_clicked_in_the_review_page_reaches_the_database(
    review_app: tuple[object, dict[str, str]], settings: Settings, tmp_path: Path
) -> None:
    app, tokens = review_app
    chromium = Chromium(tmp_path)
    try:
        with LiveServer(app) as server:
            devtools = chromium.open(
                f"http://127.0.0.1:{server.port}/review.html?key={tokens['admin']}"
            )
            try:
                faces = devtools.wait_for(
                    "[...document.querySelectorAll('#queue tr img')].map(i => i.naturalWidth)",
                    lambda widths: len(widths) == 4 and all(w == 112 for w in widths),
                )
                screenshot = base64.b64decode(devtools.call("Page.captureScreenshot")["data"])
                row = f"document.querySelector('tr[data-event=\"{tokens['accepted']}\"]')"
                devtools.evaluate(
                    f"{row}.querySelector('input.person').value = {json.dumps(RIGHT)};"
                    f"{row}.querySelector('button[data-action=reassign]').click();"
                )
                message = devtools.wait_for(
                    "document.getElementById('message').textContent",
                    lambda said: "is now" in str(said),
                )
                group = devtools.wait_for(
                    "[...document.querySelectorAll('#groups tr')].map(r =>"
                    " [r.dataset.group, r.querySelectorAll('img').length])",
                    lambda rows: bool(rows),
                )
                devtools.evaluate(
                    "const g = document.querySelector('#groups tr');"
                    "g.querySelector('input.person').value = 'Sam Visitor';"
                    "g.querySelector('button[data-action=enrol]').click();"
                )
                enrolled = devtools.wait_for(
                    "document.getElementById('message').textContent",
                    lambda said: "Enrolled" in str(said),
                )
                url = devtools.evaluate("location.href")
            finally:
                devtools.close()
    finally:
        chromium.close()
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "review.png").write_bytes(screenshot)
    if os.environ.get("FACEDB_UPDATE_DOCS") == "1":
        DOCS_PICTURE.write_bytes(compact_png(screenshot, 800))
    assert faces == [112] * 4, "the queue shows every kept face"
    assert len(group) == 1 and group[0][1] == 3, "one stranger, three faces"
    assert "Enrolled Sam Visitor from 3 face(s)" in enrolled
    assert _sql(settings, "SELECT count(*) FROM users WHERE name = 'Sam Visitor'") == [(1,)]
    assert f"is now {RIGHT}'s" in message
    assert "key=" not in url
    corrections = _sql(
        settings,
        "SELECT c.action, c.reason, u.name FROM attendance_corrections c "
        "JOIN users u ON u.id = c.user_id WHERE c.event_id = :e",
        e=tokens["accepted"],
    )
    assert corrections == [("reassign", "false_accept", RIGHT)]
    reviews = _sql(
        settings,
        "SELECT action, created_by FROM review_actions WHERE event_id = :e",
        e=tokens["accepted"],
    )
    assert reviews == [("reassign", "office")]
