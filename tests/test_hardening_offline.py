"""The HTTP API keeps working when its database goes away (issue 17, item 1): kiosk
keys are checked against a local hashed copy, verifications are decided on the gallery
cache and spooled, /v1/health says "degraded: offline", and after the restart every
event is in attendance exactly once. Over real HTTP (uvicorn on a loopback port),
against a separate PostgreSQL that the test stops and starts."""

from __future__ import annotations

import json
import shutil
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import server_home
from embedded_server import Server
from kiosk_worker import MemoPipeline
from live_server import LiveServer

from facedb import access
from facedb.api.app import create_app
from facedb.config import Settings
from facedb.offline import key_cache
from facedb.offline.spool import Spool
from facedb.service import FaceService
from facedb.store import embedded
from facedb.store.engine import open_database

PERSON = "7203"  # a CelebA identity: four photos enrol, the fifth is a good probe


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with server_home() as home:
        database = open_database(Settings(home=home))
        database.engine.dispose()
        server = Server(home, database.libpq_url)
        yield server
        if embedded.running_server(home) is None:
            server.start()


def test_api_outage_keys_offline_spool_and_exactly_once(
    server: Server, faces_dir: Path, tmp_path: Path
) -> None:
    photos = sorted((faces_dir / "celeba" / PERSON).glob("*.jpg"))
    folder = tmp_path / "enrol"
    folder.mkdir()
    for photo in photos[:4]:
        shutil.copy(photo, folder / photo.name)
    settings = Settings.load(
        {
            "database_url": server.url,
            "home": str(tmp_path / "kiosk"),
            "cooldown": 0,
            "cache_refresh": 3600,
        }
    )
    pipeline = MemoPipeline(settings)
    admin = FaceService(settings, pipeline=pipeline)
    admin.enrol("Alice", str(folder), frames=10)
    kiosk = access.create_key(admin, "front-door", "kiosk").token
    revoked = access.create_key(admin, "old-door", "kiosk").token
    access.revoke_key(admin, "old-door")
    admin.close()
    probe = photos[4].read_bytes()

    responses: list[dict[str, Any]] = []
    with (
        LiveServer(create_app(settings, pipeline=pipeline)) as live,
        httpx.Client(base_url=live.url, timeout=60) as client,
    ):

        def verify(token: str) -> httpx.Response:
            return client.post(
                "/v1/verify",
                headers={"X-API-Key": token},
                files=[("image", ("probe.jpg", probe, "image/jpeg"))],
            )

        for i in range(30):
            if i == 10:
                server.stop()
                health = client.get("/v1/health")
                assert health.status_code == 200, health.text
                assert health.json()["status"] == "degraded: offline"
                assert verify(revoked).status_code == 401  # revoked before the outage
                assert verify("fdb_" + "x" * 43).status_code == 401
                looked_up = client.post(
                    "/v1/identify",
                    headers={"X-API-Key": kiosk},
                    files=[("image", ("probe.jpg", probe, "image/jpeg"))],
                )
                assert looked_up.status_code == 200, looked_up.text  # from the gallery cache
                assert [f["name"] for f in looked_up.json()["faces"]][:1] == ["Alice"]
            if i == 20:
                server.start()
            answer = verify(kiosk)
            assert answer.status_code == 200, (i, answer.text)
            responses.append(answer.json())
        assert client.get("/v1/health").json()["status"] == "ok"

    assert [r["offline"] for r in responses] == [False] * 10 + [True] * 10 + [False] * 10
    assert {(r["decision"], r["person"]) for r in responses} == {("accepted", "Alice")}
    # The first verification back online replayed the spool: one row per event.
    rows = server.rows("SELECT event_id, offline FROM attendance")
    assert len(rows) == 30
    assert {str(r.event_id) for r in rows} == {r["event_id"] for r in responses}
    assert {str(r.event_id) for r in rows if r.offline} == {
        r["event_id"] for r in responses if r["offline"]
    }
    assert Spool(settings.home).status().pending == 0
    copy = key_cache.cache_file(settings.home)
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert kiosk not in copy.read_text()  # hashes only


def test_key_copy_expires_and_belongs_to_one_database(tmp_path: Path) -> None:
    from facedb.domain.keys import ApiKeyInfo

    info = ApiKeyInfo(1, "door", "kiosk", datetime.now(UTC), None)
    key_cache.write(tmp_path, [(access.hash_token("fdb_t"), info)], "postgresql://a/db")
    copy = key_cache.load(tmp_path, 60, "postgresql://a/db")
    assert copy is not None and copy.find(access.hash_token("fdb_t")) == info
    assert key_cache.load(tmp_path, 60, "postgresql://b/db") is None  # another database
    assert key_cache.load(tmp_path, 0, "postgresql://a/db") is None  # no copy kept
    payload = json.loads(key_cache.cache_file(tmp_path).read_text())
    payload["written_at"] = (datetime.now(UTC) - timedelta(seconds=120)).isoformat()
    key_cache.cache_file(tmp_path).write_text(json.dumps(payload))
    assert key_cache.load(tmp_path, 60, "postgresql://a/db") is None  # expired
    key_cache.cache_file(tmp_path).write_text("{torn")
    assert key_cache.load(tmp_path, 86400, "postgresql://a/db") is None
