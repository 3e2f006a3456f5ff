"""The two-stage 1:N search (store/search.py) on a real PostgreSQL: with stage one
starved (ef_search 1), every decision is still exact search's, and the attendance row
says which stage decided; vision at the edge (an embedding sent by a device) gets the
same decisions over the HTTP API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from facedb import access
from facedb.api.app import create_app
from facedb.cli.main import main
from facedb.config import Settings
from facedb.decision import judge_search
from facedb.domain.people import Match
from facedb.events import metrics
from facedb.service import FaceService
from facedb.store import gallery
from facedb.store.tables.core import Attendance
from facedb.usecases.results import VerifyResult

PEOPLE = 1500  # one face each: an isotropic gallery, the index's worst case
MODEL = "w600k_mbf_int8"  # the default embedder: the gallery's model
# Probes closer than this to a threshold or margin are left out of the comparison with
# numpy (float rounding between the two could tip them); none are expected.
TIE = 1e-4


@dataclass(frozen=True)
class Gallery:
    names: list[str]
    vectors: np.ndarray  # float32 [PEOPLE, 512], row i is names[i]'s face


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=-1, keepdims=True)).astype(np.float32)


def _enrol_random(service: FaceService, seed: int) -> Gallery:
    rng = np.random.default_rng(seed)
    vectors = _unit(rng.standard_normal((PEOPLE, 512)))
    names = [f"person {i:04d}" for i in range(PEOPLE)]
    with service.transaction() as session:
        for name, vector in zip(names, vectors, strict=True):
            user = gallery.create_user(session, name)
            gallery.add_embeddings(
                session, user.id, [gallery.NewEmbedding(vector, 0.9, 0.9, "test")], MODEL
            )
    return Gallery(names, vectors)


def _probes(people: Gallery, seed: int) -> np.ndarray:
    """Genuine probes at similarities from 0.15 to 0.8 to their person (both sides of
    any 1:N threshold, many near it), halfway mixes of two people (ambiguous or
    unknown), and strangers."""
    rng = np.random.default_rng(seed)
    probes = []
    for i, similarity in enumerate(np.linspace(0.15, 0.8, 40)):
        target = people.vectors[(7 * i) % PEOPLE]
        noise = rng.standard_normal(512)
        noise -= (noise @ target) * target
        noise /= np.linalg.norm(noise)
        probes.append(similarity * target + np.sqrt(1 - similarity**2) * noise)
    for i in range(10):
        a, b = people.vectors[3 * i], people.vectors[3 * i + 1]
        probes.append(a + b + 0.3 * _unit(rng.standard_normal(512)))
    probes += list(rng.standard_normal((20, 512)))
    return _unit(np.stack(probes))


def _exact(people: Gallery, probe: np.ndarray, threshold: float, margin: float) -> tuple[str, str]:
    """Exact search's decision, in numpy: (decision, person or '')."""
    scores = people.vectors @ probe
    order = np.argsort(-scores)[:5]
    matches = [Match(int(i), people.names[i], float(scores[i])) for i in order]
    best, second = float(scores[order[0]]), float(scores[order[1]])
    if min(abs(best - threshold), abs(best - second - margin)) < TIE:
        pytest.skip("a probe ties a threshold to float rounding")  # pragma: no cover
    verdict = judge_search(matches, threshold, margin)
    return verdict.decision, verdict.person.name if verdict.person else ""


@pytest.fixture
def starved(settings: Settings) -> Iterator[FaceService]:
    """A service whose stage one is starved (ef_search 1), cooldown 0 (every accept
    logged)."""
    service = FaceService(settings.replace(ef_search=1, search_ef=1, cooldown=0.0))
    try:
        yield service
    finally:
        service.close()


def _counted(stage: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "facedb_search_stage_decisions_total", {"stage": stage}
    )
    return value or 0.0


def _stages(service: FaceService, results: list[VerifyResult]) -> list[str | None]:
    with service.transaction() as session:
        stage = dict(session.execute(select(Attendance.event_id, Attendance.search_stage)).all())
    return [stage[r.event_id] for r in results]


def test_a_starved_index_still_gets_exact_search_decisions(starved: FaceService) -> None:
    people = _enrol_random(starved, seed=1)
    probes = _probes(people, seed=2)
    before = {s: _counted(s) for s in ("index", "codes")}
    results = [starved.verify_embedding(p.tolist(), model=MODEL, device="door") for p in probes]
    margin = starved.settings.margin
    got = [(r.decision, r.name or "") for r in results]
    expected = [
        _exact(people, p, r.threshold, margin) for p, r in zip(probes, results, strict=True)
    ]
    assert got == expected
    decisions = {d for d, _ in got}
    assert {"accepted", "unknown"} <= decisions, decisions  # both sides were probed
    stages = _stages(starved, results)
    clear = starved.settings.search_clear
    for result, stage in zip(results, stages, strict=True):
        assert result.logged
        if stage == "index":  # stage one's answer stood: a clear accept only
            assert result.decision == "accepted"
            assert result.similarity is not None
            assert result.similarity >= result.threshold + clear
            assert result.runner_up is None or (
                result.similarity - result.runner_up >= margin + clear
            )
        else:  # stage two, by default over the binary codes
            assert stage == "codes", stage
    # Every doubtful answer went to stage two (the row says so).
    doubtful = [s for r, s in zip(results, stages, strict=True) if r.decision != "accepted"]
    assert doubtful and set(doubtful) == {"codes"}
    # /metrics counts the rows by stage.
    for stage in ("index", "codes"):
        assert _counted(stage) - before[stage] == stages.count(stage)


def test_the_index_only_misses_and_search_clear_1_is_all_exact(starved: FaceService) -> None:
    """What the two-stage search rests on: the index alone (ef_search 1) never finds a
    higher similarity than exact search (it can only miss people); and with
    search_clear 1 no accept is clear enough, so every search goes to stage two, here
    the scan of every float vector (search_candidates 0)."""
    people = _enrol_random(starved, seed=3)
    probes = _probes(people, seed=4)
    with starved.transaction() as session:
        alone = gallery.identify(session, probes, MODEL, ef_search=1)
        exact = gallery.identify(session, probes, MODEL, exact=True)
    for found, truth in zip(alone, exact, strict=True):
        # The index can only miss people: never a higher similarity than exact search's.
        assert not found or found[0].similarity <= truth[0].similarity + 1e-6
    everything_exact = FaceService(starved.settings.replace(search_clear=1.0, search_candidates=0))
    try:
        results = [
            everything_exact.verify_embedding(p.tolist(), model=MODEL, device="door")
            for p in probes[:12]
        ]
        assert set(_stages(everything_exact, results)) == {"exact"}
    finally:
        everything_exact.close()


def test_device_embeddings_over_the_api(settings: Settings) -> None:
    """POST /v1/verify with an embedding: only a device key, only the gallery's model,
    answered like an image verification, recorded with the device's liveness claim."""
    app = create_app(settings.replace(cooldown=0.0))
    with TestClient(app) as client:
        service = app.state.facedb.service
        people = _enrol_random(service, seed=5)
        created = CliRunner().invoke(
            main, ["keys", "create", "--name", "device-key", "--role", "device", "--json"]
        )
        assert created.exit_code == 0, created.output
        device = {"Authorization": f"Bearer {json.loads(created.stdout)['key']}"}
        kiosk = {"Authorization": f"Bearer {access.create_key(service, 'kiosk', 'kiosk').token}"}
        body = {"embedding": people.vectors[42].tolist(), "model": MODEL, "liveness": 0.93}

        answer = client.post("/v1/verify", headers=device, json=body)
        assert answer.status_code == 200, answer.text
        out = answer.json()
        assert (out["decision"], out["person"], out["kind"]) == (
            "accepted",
            "person 0042",
            "identify",
        )
        assert out["similarity"] == pytest.approx(1.0, abs=1e-4)
        assert out["threshold"] < 0.9 and out["images"] == 0 and out["faces"] == []
        # Over HTTP too, every probe gets exact search's decision at the stated threshold.
        for probe in _probes(people, seed=6)[::3]:
            sent = {"embedding": probe.tolist(), "model": MODEL}
            got = client.post("/v1/verify", headers=device, json=sent).json()
            want = _exact(people, probe, got["threshold"], service.settings.margin)
            assert (got["decision"], got["person"] or "") == want
        claim = client.post("/v1/verify", headers=device, json={**body, "name": "person 0041"})
        assert claim.json()["decision"] == "rejected" and claim.json()["kind"] == "verify"
        with service.transaction() as session:
            row = session.execute(
                select(Attendance).where(Attendance.event_id == out["event_id"])
            ).scalar_one()
            assert (row.device, row.liveness, row.search_stage) == ("device-key", 0.93, "index")

        def refused(response: object, status: int) -> str:
            assert response.status_code == status, response.text  # type: ignore[attr-defined]
            message: str = response.json()["error"]["message"]  # type: ignore[attr-defined]
            assert "\n" not in message
            return message

        other = client.post("/v1/verify", headers=device, json={**body, "model": "buffalo_l"})
        assert "holds w600k_mbf_int8 embeddings, not 'buffalo_l'" in refused(other, 422)
        assert "device key" in refused(client.post("/v1/verify", headers=kiosk, json=body), 403)
        images = client.post("/v1/verify", headers=device, json={"images": ["aGVsbG8="]})
        assert "not images" in refused(images, 403)
        short = client.post("/v1/verify", headers=device, json={**body, "embedding": [0.1] * 511})
        refused(short, 422)
        zeros = client.post("/v1/verify", headers=device, json={**body, "embedding": [0] * 512})
        assert "all zeros" in refused(zeros, 422)
        spoof = client.post("/v1/verify", headers=device, json={**body, "liveness": 0.1})
        assert spoof.json()["decision"] == "spoof"


def test_stage_two_over_binary_codes(settings: Settings) -> None:
    """With FACEDB_SEARCH_CANDIDATES, stage two scans the faces' binary codes (kept in
    step with the faces by a trigger) and re-ranks the nearest exactly: the same
    decisions as exact search on this gallery."""
    service = FaceService(
        settings.replace(ef_search=1, search_ef=1, cooldown=0.0, search_candidates=100)
    )
    try:
        people = _enrol_random(service, seed=8)
        probes = _probes(people, seed=9)
        results = [service.verify_embedding(p.tolist(), model=MODEL, device="door") for p in probes]
        margin = service.settings.margin
        assert [(r.decision, r.name or "") for r in results] == [
            _exact(people, p, r.threshold, margin) for p, r in zip(probes, results, strict=True)
        ]
        assert "codes" in _stages(service, results)
        sync = text(
            "SELECT count(*) FILTER (WHERE c.code = CAST(binary_quantize(e.embedding) AS bit(512))"
            " AND c.user_id = e.user_id), count(*), (SELECT count(*) FROM face_codes)"
            " FROM face_embeddings e LEFT JOIN face_codes c ON c.embedding_id = e.id"
        )
        with service.transaction() as session:
            assert session.execute(sync).one() == (PEOPLE, PEOPLE, PEOPLE)
            gallery.remove_user(session, "person 0001")  # its codes go with its faces
            assert session.execute(sync).one() == (PEOPLE - 1,) * 3
    finally:
        service.close()
