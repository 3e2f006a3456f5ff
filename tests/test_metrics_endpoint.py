"""/metrics of facedb serve, scraped after a known sequence of requests: decisions
by kind and device, stage and request latency histograms, outbox backlog, spool
depth, gallery cache age, model providers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from delivery_helpers import free_port
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from facedb import access
from facedb.api.app import create_app
from facedb.config import Settings
from facedb.events import hooks
from facedb.vision.pipeline import FacePipeline

OBAMA = "face_recognition/examples/obama.jpg"
OBAMA_PROBE = "face_recognition/examples/knn_examples/test/obama1.jpg"
STRANGER = "openface/examples/carell.jpg"

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")  # no API key: like /v1/health
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def _delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture
def client(settings: Settings, faces_dir: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    pipeline = FacePipeline(settings)
    pipeline.load()
    app = create_app(settings.replace(cooldown=0), pipeline=pipeline)
    with TestClient(app) as test_client:
        service = app.state.facedb.service
        token = access.create_key(service, "front-door", "admin").token
        port = free_port()  # a receiver that is down: deliveries stay pending
        hooks.add_webhook(service, f"http://127.0.0.1:{port}/hook", ["accepted"], None)
        yield test_client, {"Authorization": f"Bearer {token}"}


def test_metrics_after_a_known_sequence_of_requests(
    client: tuple[TestClient, dict[str, str]], faces_dir: Path
) -> None:
    http, key = client

    def post(path: str, image: str, **data: str) -> int:
        files = [("image", (image, (faces_dir / image).read_bytes(), "image/jpeg"))]
        return http.post(path, headers=key, data=data, files=files).status_code

    before = _scrape(http)
    assert post("/v1/enrol", OBAMA, name="Barack Obama") == 201
    assert post("/v1/verify", OBAMA_PROBE) == 200  # accepted
    assert post("/v1/verify", OBAMA_PROBE) == 200  # accepted (no cooldown)
    assert post("/v1/verify", STRANGER) == 200  # unknown
    assert post("/v1/verify", OBAMA_PROBE, name="Barack Obama") == 200  # 1:1 accepted
    after = _scrape(http)

    decisions = "facedb_decisions_total"
    device = {"device": "front-door", "offline": "false"}  # the API logs the key's name
    assert _delta(after, before, decisions, kind="identify", decision="accepted", **device) == 2
    assert _delta(after, before, decisions, kind="identify", decision="unknown", **device) == 1
    assert _delta(after, before, decisions, kind="verify", decision="accepted", **device) == 1

    requests = "facedb_http_request_seconds_count"
    assert _delta(after, before, requests, method="POST", route="/v1/verify", status="200") == 4
    assert _delta(after, before, requests, method="POST", route="/v1/enrol", status="201") == 1
    # Every image went through the detector and every decision through the embedder.
    assert _delta(after, before, "facedb_stage_seconds_count", stage="detect") >= 5
    assert _delta(after, before, "facedb_stage_seconds_count", stage="embed") >= 5
    # SQL: 4 searches (3 identify, 1 verify) or more, 5 rows written (a person, 4 events) or more.
    assert _delta(after, before, "facedb_stage_seconds_count", stage="match") >= 4
    assert _delta(after, before, "facedb_stage_seconds_count", stage="write") >= 5
    assert _delta(after, before, "facedb_stage_seconds_count", stage="database") >= 1
    assert _delta(after, before, "facedb_frames_total") >= 5
    latency = _delta(after, before, "facedb_stage_seconds_sum", stage="detect")
    assert 0 < latency < 120

    # Three accepted events for a webhook that cannot be reached: three pending.
    assert after[("facedb_outbox_backlog", ())] == 3
    assert after[("facedb_outbox_dead", ())] == 0
    assert after[("facedb_spool_depth", ())] == 0
    assert 0 <= after[("facedb_gallery_cache_age_seconds", ())] < 600
    providers = {labels for name, labels in after if name == "facedb_model_info"}
    models = {dict(labels)["model"] for labels in providers}
    assert {"scrfd_2.5g_bnkps", "w600k_mbf_int8"} <= models
    assert all(dict(labels)["provider"].endswith("ExecutionProvider") for labels in providers)
