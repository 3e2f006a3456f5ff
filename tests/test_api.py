"""The HTTP API (facedb serve) on real faces and a real PostgreSQL: every endpoint,
every error status, the roles, and the attendance rows a verification writes."""

from __future__ import annotations

import asyncio
import base64
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from facedb import access
from facedb.api.app import create_app
from facedb.api.state import ApiState
from facedb.config import Settings
from facedb.vision.pipeline import FacePipeline

OBAMA = "face_recognition/examples/obama.jpg"
OBAMA_2 = "face_recognition/examples/obama2.jpg"
OBAMA_PROBE = "face_recognition/examples/knn_examples/test/obama1.jpg"  # 1480x832
BIDEN = "face_recognition/examples/biden.jpg"
BIDEN_2 = "face_recognition/examples/knn_examples/train/biden/biden2.jpg"
OBAMA_AND_BIDEN = "face_recognition/examples/knn_examples/test/obama_and_biden.jpg"
TWO_PEOPLE = "face_recognition/examples/two_people.jpg"
NO_FACE = "insightface/inspireface_test_res/crop/no_face.png"
NOT_AN_IMAGE = "bad/text_named.jpg"
# Generated requests per API operation in the schemathesis run.
SCHEMATHESIS_EXAMPLES = 20


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    """The models, loaded once for every app of this module (an app loads its own
    otherwise)."""
    loaded = FacePipeline(Settings.load())
    loaded.load()
    return loaded


@dataclass
class Api:
    client: TestClient
    state: ApiState
    faces: Path
    admin: dict[str, str]
    kiosk: dict[str, str]
    reporter: dict[str, str]

    def image(self, relative: str) -> tuple[str, bytes, str]:
        path = self.faces / relative
        return (path.name, path.read_bytes(), "image/jpeg")

    def b64(self, relative: str) -> str:
        return base64.b64encode((self.faces / relative).read_bytes()).decode()

    def enrol(self, name: str, *images: str, **flags: Any) -> httpx.Response:
        data = {"name": name, **{k: str(v).lower() for k, v in flags.items()}}
        files = [("image", self.image(i)) for i in images]
        response: httpx.Response = self.client.post(
            "/v1/enrol", headers=self.admin, data=data, files=files
        )
        return response

    def verify(self, *images: str, name: str | None = None) -> httpx.Response:
        data = {"name": name} if name else {}
        files = [("image", self.image(i)) for i in images]
        response: httpx.Response = self.client.post(
            "/v1/verify", headers=self.kiosk, data=data, files=files
        )
        return response


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(settings: Settings, pipeline: FacePipeline, faces_dir: Path) -> Iterator[Api]:
    app = create_app(settings, pipeline=pipeline)
    with TestClient(app) as client:
        state: ApiState = app.state.facedb
        tokens = {
            role: access.create_key(state.service, f"{role}-key", role).token
            for role in ("admin", "kiosk", "reporter")
        }
        yield Api(
            client,
            state,
            faces_dir,
            admin=_bearer(tokens["admin"]),
            kiosk=_bearer(tokens["kiosk"]),
            reporter=_bearer(tokens["reporter"]),
        )


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    message: str = body["error"]["message"]
    assert message
    return message


def test_enrol_verify_identify_and_the_attendance_log(api: Api) -> None:
    # Enrol by multipart (two images) and by base64 JSON.
    enrolled = api.enrol("Barack Obama", OBAMA, OBAMA_2)
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json() == {
        "name": "Barack Obama",
        "created": True,
        "added": 2,
        "total": 2,
        "images": 2,
        "faces_rejected": 0,
    }
    by_json = api.client.post(
        "/v1/enrol", headers=api.admin, json={"name": "Joe Biden", "images": [api.b64(BIDEN)]}
    )
    assert by_json.status_code == 201, by_json.text
    assert by_json.json()["added"] == 1

    # 1:N by the kiosk key: accepted, with the face's box.
    accepted = api.verify(OBAMA_PROBE)
    assert accepted.status_code == 200, accepted.text
    body = accepted.json()
    assert body["decision"] == "accepted" and body["accepted"] is True
    assert body["person"] == "Barack Obama" and body["kind"] == "identify"
    assert body["similarity"] >= body["threshold"]
    assert body["logged"] is True
    [face] = body["faces"]
    x1, y1, x2, y2 = face["box"]
    assert face["image"] == 0 and 0 <= x1 < x2 <= 1480 and 0 <= y1 < y2 <= 832
    assert x2 - x1 > 64

    # 1:1 with a claimed name, as base64 JSON: another person is rejected.
    rejected = api.client.post(
        "/v1/verify",
        headers=api.kiosk,
        json={"name": "barack obama", "images": [api.b64(BIDEN_2)]},
    )
    assert rejected.status_code == 200, rejected.text
    assert rejected.json()["decision"] == "rejected"
    assert rejected.json()["claimed"] == "Barack Obama"
    assert rejected.json()["person"] is None

    # An image without a face: 422, and not logged.
    _error(api.verify(NO_FACE), 422, "no_face")

    # Identify: every face of a group photo, largest first.
    identified = api.client.post(
        "/v1/identify", headers=api.kiosk, files={"image": api.image(OBAMA_AND_BIDEN)}
    )
    assert identified.status_code == 200, identified.text
    faces = identified.json()["faces"]
    assert len(faces) >= 2
    assert {"Barack Obama", "Joe Biden"} <= {f["name"] for f in faces}
    for f in faces:
        assert len(f["box"]) == 4
        if f["name"] is not None:
            assert f["quality_ok"] and f["similarity"] >= identified.json()["threshold"]
            assert f["candidates"][0]["name"] == f["name"]

    # The attendance log: the two verifications, by the kiosk key's name; identify
    # and the empty frame are not logged.
    rows = api.client.get("/v1/attendance", headers=api.reporter).json()
    assert [(r["decision"], r["name"], r["claimed_name"]) for r in rows] == [
        ("rejected", None, "Barack Obama"),
        ("accepted", "Barack Obama", None),
    ]
    assert {r["device"] for r in rows} == {"kiosk-key"}
    assert {r["kind"] for r in rows} == {"verify", "identify"}
    only_obama = api.client.get(
        "/v1/attendance", headers=api.reporter, params={"user": "Barack Obama", "limit": 5}
    ).json()
    assert [r["decision"] for r in only_obama] == ["accepted"]
    future = api.client.get(
        "/v1/attendance", headers=api.reporter, params={"since": "2999-01-01T00:00:00"}
    ).json()
    assert future == []

    report = api.client.get(
        "/v1/report", headers=api.reporter, params={"date": "today", "tz": "UTC"}
    )
    assert report.status_code == 200, report.text
    assert [p["name"] for p in report.json()["present"]] == ["Barack Obama"]
    assert report.json()["absent"] == ["Joe Biden"]
    assert report.json()["attempts"] == {"accepted": 1, "rejected": 1}

    # People: listed and removed by the admin.
    users = api.client.get("/v1/users", headers=api.admin).json()
    assert [(u["name"], u["embeddings"]) for u in users] == [("Barack Obama", 2), ("Joe Biden", 1)]
    removed = api.client.delete("/v1/users/Joe%20Biden", headers=api.admin)
    assert removed.json() == {"name": "Joe Biden", "embeddings_removed": 1}
    _error(api.client.delete("/v1/users/Joe%20Biden", headers=api.admin), 404, "unknown_user")


def test_enrolment_and_verification_errors(api: Api) -> None:
    assert api.enrol("Barack Obama", OBAMA).status_code == 201
    assert "already enrolled" in _error(api.enrol("barack obama", OBAMA_2), 409, "duplicate_name")
    assert api.enrol("Barack Obama", OBAMA_PROBE, add=True).json()["total"] == 2
    assert "Barack Obama" in _error(api.enrol("Someone", OBAMA_2), 409, "duplicate_identity")
    assert api.enrol("Someone", OBAMA_2, force=True).status_code == 201
    _error(api.enrol("Pair", TWO_PEOPLE), 422, "multiple_faces")
    _error(api.enrol("Nobody", NO_FACE), 422, "no_face")
    assert "text_named.jpg" in _error(api.enrol("Text", NOT_AN_IMAGE), 400, "bad_image")
    assert "#1" in _error(
        api.client.post(
            "/v1/verify",
            headers=api.kiosk,
            json={"images": [api.b64(OBAMA), "bm90IGFuIGltYWdl"]},
        ),
        400,
        "bad_image",
    )
    _error(
        api.client.post("/v1/verify", headers=api.kiosk, json={"images": ["%%%"]}),
        400,
        "bad_image",
    )
    _error(
        api.client.post(
            "/v1/verify",
            headers=api.admin,  # a kiosk key is answered "rejected" (tests/test_hardening_api_guard.py)
            data={"name": "Nobody Known"},
            files=[("image", api.image(OBAMA_PROBE))],
        ),
        404,
        "unknown_user",
    )
    # Validation: missing fields, unknown fields, no image, bad query values.
    _error(
        api.client.post("/v1/enrol", headers=api.admin, files={"image": api.image(OBAMA)}),
        422,
        "bad_input",
    )
    _error(
        api.client.post("/v1/verify", headers=api.kiosk, json={"images": [], "claimed": "x"}),
        422,
        "bad_input",
    )
    _error(
        api.client.post("/v1/verify", headers=api.kiosk, data={"name": "Barack Obama"}),
        422,
        "bad_input",
    )
    _error(
        api.client.post(
            "/v1/verify", headers={**api.kiosk, "Content-Type": "text/plain"}, content=b"hi"
        ),
        415,
        "unsupported_media_type",
    )
    _error(
        api.client.post(
            "/v1/verify",
            headers={**api.kiosk, "Content-Type": "application/json"},
            content=b"{not json",
        ),
        400,
        "bad_request",
    )
    _error(api.client.get("/v1/attendance?limit=0", headers=api.reporter), 422, "bad_input")
    _error(api.client.get("/v1/report?date=someday", headers=api.reporter), 422, "bad_input")
    _error(api.client.get("/v1/report?tz=Mars/Base", headers=api.reporter), 422, "bad_input")
    _error(api.client.get("/v1/attendance?user=Nobody", headers=api.reporter), 404, "unknown_user")


def test_keys_and_roles(api: Api) -> None:
    no_key = api.client.get("/v1/users")
    _error(no_key, 401, "unauthorized")
    assert no_key.headers["www-authenticate"] == "Bearer"
    _error(api.client.get("/v1/users", headers=_bearer("fdb_wrong")), 401, "unauthorized")
    _error(
        api.client.get("/v1/users", headers={"Authorization": "Basic eDp5"}), 401, "unauthorized"
    )
    # The roles: a kiosk verifies and identifies only; a reporter reads only.
    _error(api.client.get("/v1/users", headers=api.kiosk), 403, "forbidden")
    _error(api.client.get("/v1/attendance", headers=api.kiosk), 403, "forbidden")
    _error(api.client.post("/v1/enrol", headers=api.kiosk, json={}), 403, "forbidden")
    _error(api.client.post("/v1/verify", headers=api.reporter, json={}), 403, "forbidden")
    _error(api.client.post("/v1/identify", headers=api.reporter, json={}), 403, "forbidden")
    _error(api.client.delete("/v1/users/x", headers=api.reporter), 403, "forbidden")
    assert api.client.get("/v1/report", headers=api.reporter).status_code == 200
    assert api.client.get("/v1/attendance", headers=api.admin).status_code == 200
    # X-API-Key works like a bearer token; a revoked key stops at once.
    service = api.state.service
    token = access.create_key(service, "door", "admin").token
    assert api.client.get("/v1/users", headers={"X-API-Key": token}).json() == []
    access.revoke_key(service, "door")
    _error(api.client.get("/v1/users", headers={"X-API-Key": token}), 401, "unauthorized")
    # Only the hash is stored.
    assert all(token not in repr(k) for k in access.list_keys(service, include_revoked=True))


def test_health_schema_and_kiosk_pages(api: Api) -> None:
    health = api.client.get("/v1/health")
    assert health.status_code == 200, health.text
    body = health.json()
    assert body["status"] == "ok" and body["database"] == {"ok": True, "error": None}
    assert {m["role"] for m in body["models"]} == {"detector", "embedder"}
    assert all(m["provider"].endswith("ExecutionProvider") for m in body["models"])
    schema = api.client.get("/openapi.json").json()
    # The admin console's routes (/admin) are tested in tests/test_console.py.
    assert {p for p in schema["paths"] if not p.startswith("/admin")} == {
        "/v1/enrol",
        "/v1/verify",
        "/v1/identify",
        "/v1/users",
        "/v1/users/{name}",
        "/v1/users/{name}/forget",
        "/v1/attendance",
        "/v1/report",
        "/v1/health",
        "/v1/review",
        "/v1/review/{event}/thumbnail",
        "/v1/review/{event}/accept",
        "/v1/review/{event}/dismiss",
        "/v1/review/{event}/reassign",
        "/v1/review/unknowns",
        "/v1/review/unknowns/{group}/enrol",
        "/v1/review/unknowns/{group}/dismiss",
        "/v1/timesheet",
    }
    verify_body = schema["paths"]["/v1/verify"]["post"]["requestBody"]["content"]
    assert set(verify_body) == {"multipart/form-data", "application/json"}
    assert {"HTTPBearer", "APIKeyHeader"} <= set(schema["components"]["securitySchemes"])
    kiosk = api.client.get("/")
    assert kiosk.status_code == 200 and 'aria-live="polite"' in kiosk.text
    assert "default-src 'self'" in kiosk.headers["content-security-policy"]
    assert "getUserMedia" in api.client.get("/common.js").text
    assert "/v1/verify" in api.client.get("/kiosk.js").text
    assert "/v1/enrol" in api.client.get("/enrol.js").text
    assert api.client.get("/enrol.html").status_code == 200
    _error(api.client.get("/no-such-page"), 404, "not_found")


def test_request_size_limit(settings: Settings, pipeline: FacePipeline, faces_dir: Path) -> None:
    app = create_app(settings.replace(api_max_request_mb=0.1), pipeline=pipeline)
    with TestClient(app) as client:
        token = access.create_key(app.state.facedb.service, "k", "kiosk").token
        big = (faces_dir / OBAMA).read_bytes()  # 280 KB
        declared = client.post(
            "/v1/verify", headers=_bearer(token), files={"image": ("a.jpg", big, "image/jpeg")}
        )
        assert "0.1 MB" in _error(declared, 413, "too_large")

        def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
            for start in range(0, len(big), 16_384):
                yield big[start : start + 16_384]

        chunked = client.post(
            "/v1/verify",
            headers={**_bearer(token), "Content-Type": "application/json"},
            content=chunks(),
        )
        _error(chunked, 413, "too_large")
        small = client.post(
            "/v1/verify",
            headers=_bearer(token),
            files={"image": ("s.jpg", (faces_dir / NO_FACE).read_bytes(), "image/png")},
        )
        _error(small, 422, "no_face")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_database_down_is_503(settings: Settings, pipeline: FacePipeline) -> None:
    down = settings.replace(database_url=f"postgresql://facedb@127.0.0.1:{_closed_port()}/facedb")
    with TestClient(create_app(down, pipeline=pipeline)) as client:
        health = client.get("/v1/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable"
        assert "cannot reach the database" in health.json()["database"]["error"]
        key = _bearer("fdb_anything")
        for response in (
            client.get("/v1/users", headers=key),
            client.post("/v1/verify", headers=key, json={"images": ["aGk="]}),
            client.get("/v1/report", headers=key),
        ):
            assert "cannot reach the database" in _error(response, 503, "database_unavailable")


def test_concurrent_verifications_share_one_service(api: Api) -> None:
    """Eight verifications at once through one app (one pipeline, one engine): every
    answer is right, and the log holds exactly the rows the answers say were logged."""
    assert api.enrol("Barack Obama", OBAMA, OBAMA_2).status_code == 201
    assert api.enrol("Joe Biden", BIDEN).status_code == 201
    probes = [OBAMA_PROBE, BIDEN_2] * 4
    app = api.client.app

    async def run_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://kiosk") as client:
            return await asyncio.gather(
                *(
                    client.post("/v1/verify", headers=api.kiosk, files={"image": api.image(probe)})
                    for probe in probes
                )
            )

    responses = asyncio.run(run_all())
    assert [r.status_code for r in responses] == [200] * len(probes)
    expected = {OBAMA_PROBE: "Barack Obama", BIDEN_2: "Joe Biden"}
    assert [r.json()["person"] for r in responses] == [expected[p] for p in probes]
    logged = {r.json()["event_id"] for r in responses if r.json()["logged"]}
    rows = api.client.get("/v1/attendance", headers=api.reporter).json()
    assert {r["event_id"] for r in rows} == logged
    assert {r["name"] for r in rows} == {"Barack Obama", "Joe Biden"}


def test_schemathesis_finds_no_server_error(api: Api) -> None:
    """Property-based requests from the OpenAPI schema, bounded (a few dozen per
    operation): no 5xx, every status documented, every body as the schema says."""
    import schemathesis
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.result import Ok
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    assert api.enrol("Barack Obama", OBAMA).status_code == 201
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    operations = [
        r.ok()
        for r in schema.get_all_operations()
        if isinstance(r, Ok) and r.ok().path.startswith("/v1")  # the console: test_console.py
    ]
    assert len(operations) == 18
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=SCHEMATHESIS_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(headers=api.admin, checks=checks)

        check()
