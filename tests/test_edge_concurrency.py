"""Concurrent verifications on both kinds of /v1/verify body (images from a kiosk,
embeddings from a device): every accepted attempt is recorded exactly once, one row
per person and device within the cooldown, the rows exactly those the answers say
were logged."""

from __future__ import annotations

import asyncio
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from facedb import access
from facedb.api.app import create_app
from facedb.config import Settings
from facedb.vision.pipeline import FacePipeline

OBAMA = "face_recognition/examples/obama.jpg"
OBAMA_2 = "face_recognition/examples/obama2.jpg"
OBAMA_PROBE = "face_recognition/examples/knn_examples/test/obama1.jpg"
BIDEN = "face_recognition/examples/biden.jpg"
BIDEN_2 = "face_recognition/examples/knn_examples/train/biden/biden2.jpg"
EACH = 4  # concurrent attempts per person and endpoint


def _image(faces: Path, relative: str) -> tuple[str, bytes, str]:
    return (Path(relative).name, (faces / relative).read_bytes(), "image/jpeg")


def test_each_accepted_attempt_is_recorded_once_on_both_endpoints(
    settings: Settings, faces_dir: Path
) -> None:
    pipeline = FacePipeline(settings)
    app = create_app(settings.replace(cooldown=600.0), pipeline=pipeline)
    with TestClient(app) as client:
        service = app.state.facedb.service
        keys = {
            r: access.create_key(service, f"{r}-key", r).token for r in ("admin", "kiosk", "device")
        }
        auth = {r: {"Authorization": f"Bearer {t}"} for r, t in keys.items()}
        for name, images in (("Barack Obama", (OBAMA, OBAMA_2)), ("Joe Biden", (BIDEN,))):
            files = [("image", _image(faces_dir, i)) for i in images]
            enrolled = client.post(
                "/v1/enrol", headers=auth["admin"], data={"name": name}, files=files
            )
            assert enrolled.status_code == 201, enrolled.text
        probes = {"Barack Obama": OBAMA_PROBE, "Joe Biden": BIDEN_2}
        # The device's embeddings: what its own models make of the same photos.
        embeddings = {
            name: _embedding(service.pipeline, faces_dir / p) for name, p in probes.items()
        }
        model = service.pipeline.embedder_name

        async def run_all() -> list[tuple[str, httpx.Response]]:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://edge") as http:
                calls = []
                for name, probe in list(probes.items()) * EACH:
                    calls.append(
                        (
                            name,
                            http.post(
                                "/v1/verify",
                                headers=auth["kiosk"],
                                files={"image": _image(faces_dir, probe)},
                            ),
                        )
                    )
                    calls.append(
                        (
                            name,
                            http.post(
                                "/v1/verify",
                                headers=auth["device"],
                                json={"embedding": embeddings[name], "model": model},
                            ),
                        )
                    )
                answers = await asyncio.gather(*(c for _, c in calls))
                return [(n, a) for (n, _), a in zip(calls, answers, strict=True)]

        answers = asyncio.run(run_all())
        assert [a.status_code for _, a in answers] == [200] * len(answers)
        assert [a.json()["person"] for _, a in answers] == [n for n, _ in answers]
        logged = [a.json() for _, a in answers if a.json()["logged"]]
        # One row per person and device (kiosk-key, device-key) in the cooldown.
        assert sorted((o["person"], o["images"] > 0) for o in logged) == sorted(
            (n, images) for n in probes for images in (False, True)
        )
        rows = client.get("/v1/attendance", headers=auth["admin"]).json()
        assert sorted(r["event_id"] for r in rows) == sorted(o["event_id"] for o in logged)
        assert {(r["name"], r["device"]) for r in rows} == {
            (n, d) for n in probes for d in ("kiosk-key", "device-key")
        }


def _embedding(pipeline: FacePipeline, path: Path) -> list[float]:
    faces = pipeline.analyse([_decoded(path)])[0]
    assert len(faces) == 1 and faces[0].embedding is not None
    return [float(v) for v in faces[0].embedding]


def _decoded(path: Path) -> np.ndarray:
    image = cv2.imread(str(path))
    if image is None:
        pytest.fail(f"cannot read {path}")
    return np.asarray(image)
