"""Issue 29 item 22: API keys with an optional expiry and the time they were last used
(migration 0010_key_expiry_private_hooks), online and from the kiosk's local copy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import text

from facedb import access
from facedb.api.app import create_app
from facedb.cli.keys import parse_expiry
from facedb.cli.main import main
from facedb.config import Settings
from facedb.errors import DatabaseUnreachableError, InvalidInputError
from facedb.offline import identity
from facedb.service import FaceService


@pytest.fixture
def service(settings: Settings) -> Iterator[FaceService]:
    svc = FaceService(settings)
    yield svc
    svc.close()


def _set(service: FaceService, name: str, column: str, value: datetime | None) -> None:
    with service.transaction() as session:
        session.execute(
            text(f"UPDATE api_keys SET {column} = :v WHERE name = :n"), {"v": value, "n": name}
        )


def _key(service: FaceService, name: str) -> access.ApiKeyInfo:
    return next(k for k in access.list_keys(service, include_revoked=True) if k.name == name)


def test_a_key_stops_working_when_it_expires(service: FaceService) -> None:
    now = datetime.now(UTC)
    new = access.create_key(service, "temp-desk", "reporter", expires_at=now + timedelta(days=30))
    assert new.key.expires_at is not None
    assert abs(new.key.expires_at - (now + timedelta(days=30))) < timedelta(seconds=1)
    # Several "nows", by moving the expiry around the server's clock.
    for offset, works in ((timedelta(days=1), True), (timedelta(seconds=-1), False),
                          (timedelta(days=-400), False), (timedelta(minutes=5), True)):  # fmt: skip
        _set(service, "temp-desk", "expires_at", datetime.now(UTC) + offset)
        assert (access.authenticate(service, new.token) is not None) is works, offset
    _set(service, "temp-desk", "expires_at", None)  # never
    assert access.authenticate(service, new.token) is not None


def test_an_expired_key_is_401_over_http(service: FaceService, settings: Settings) -> None:
    new = access.create_key(service, "auditor", "reporter")
    client = TestClient(create_app(settings))  # no lifespan: the models are not loaded
    headers = {"Authorization": f"Bearer {new.token}"}
    assert client.get("/v1/attendance", headers=headers).status_code == 200
    _set(service, "auditor", "expires_at", datetime.now(UTC) - timedelta(seconds=1))
    refused = client.get("/v1/attendance", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"]["message"] == "unknown, revoked or expired API key"


def test_an_expiry_must_be_in_the_future(service: FaceService) -> None:
    with pytest.raises(InvalidInputError, match="in the future"):
        access.create_key(
            service, "late", "kiosk", expires_at=datetime.now(UTC) - timedelta(minutes=1)
        )


def test_the_last_use_is_recorded_to_the_minute(service: FaceService) -> None:
    new = access.create_key(service, "front-door", "kiosk")
    assert _key(service, "front-door").last_used_at is None
    before = datetime.now(UTC)
    assert access.authenticate(service, new.token) is not None
    first = _key(service, "front-door").last_used_at
    assert first is not None and first >= before - timedelta(seconds=1)
    assert access.authenticate(service, new.token) is not None
    assert _key(service, "front-door").last_used_at == first  # no write within the minute
    _set(service, "front-door", "last_used_at", datetime.now(UTC) - timedelta(minutes=2))
    assert access.authenticate(service, new.token) is not None
    later = _key(service, "front-door").last_used_at
    assert later is not None and later >= first


def test_the_local_copy_honours_the_expiry(
    service: FaceService, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    new = access.create_key(
        service, "kiosk-2", "kiosk", expires_at=datetime.now(UTC) + timedelta(hours=1)
    )
    assert access.authenticate(service, new.token) is not None  # writes the local copy
    offline = FaceService(settings.replace(database_url="postgresql://nobody@127.0.0.1:1/x"))
    where = identity.target(settings)  # the copy belongs to the database it came from
    monkeypatch.setattr(identity, "target", lambda _settings: where)
    try:
        assert access.authenticate(offline, new.token) is not None  # from the copy
        later = datetime.now(UTC) + timedelta(hours=2)

        class Later(datetime):
            @classmethod
            def now(cls, tz: object = None) -> datetime:  # type: ignore[override]
                return later

        monkeypatch.setattr("facedb.access.datetime", Later)
        assert access.authenticate(offline, new.token) is None  # expired on the copy too
    except DatabaseUnreachableError:
        pytest.fail("the local copy was not used")
    finally:
        offline.close()


def test_keys_create_expires_and_list_shows_it(service: FaceService) -> None:
    runner = CliRunner()
    made = runner.invoke(
        main,
        ["keys", "create", "--name", "audit", "--role", "reporter", "--expires", "30d", "--json"],
    )
    assert made.exit_code == 0, made.output
    expires = datetime.fromisoformat(json.loads(made.stdout)["expires_at"])
    assert timedelta(days=29, hours=23) < expires - datetime.now(UTC) <= timedelta(days=30)
    bad = runner.invoke(
        main, ["keys", "create", "--name", "x", "--role", "kiosk", "--expires", "soon"]
    )
    assert bad.exit_code == 2 and "--expires" in bad.stderr
    listed = runner.invoke(main, ["keys", "list", "--json"])
    [row] = [k for k in json.loads(listed.stdout) if k["name"] == "audit"]
    assert row["expires_at"] is not None and row["last_used_at"] is None


def test_expiry_forms() -> None:
    day = parse_expiry("2030-06-30")
    assert day.astimezone().date().isoformat() == "2030-07-01" and day.astimezone().hour == 0
    assert parse_expiry("2030-06-30T18:00+02:00") == datetime(2030, 6, 30, 16, tzinfo=UTC)
    assert parse_expiry("7d") - datetime.now(UTC) > timedelta(days=6, hours=23)
