"""The smaller items of issue 17 (item 11): /docs from the package with no CDN, browser
headers on /v1/*, and a folder with no readable image is an error, not a logged
"no face"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import text

from facedb.api.app import create_app
from facedb.cli.main import main
from facedb.config import Settings
from facedb.store.engine import make_engine
from facedb.vision.pipeline import FacePipeline


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    loaded = FacePipeline(Settings.load())
    loaded.load()
    return loaded


@pytest.fixture
def client(settings: Settings, pipeline: FacePipeline) -> Iterator[TestClient]:
    with TestClient(create_app(settings, pipeline=pipeline)) as test_client:
        yield test_client


def test_api_answers_carry_nosniff_and_csp(client: TestClient) -> None:
    for response in (
        client.get("/v1/health"),
        client.get("/v1/users"),  # 401: errors too
        client.get("/openapi.json"),
        client.post("/v1/verify", content=b"x", headers={"Content-Type": "text/plain"}),
    ):
        assert response.headers["x-content-type-options"] == "nosniff", response.url
        assert response.headers["content-security-policy"].startswith("default-src 'none'")
        assert response.headers["cache-control"] == "no-store"


def test_docs_load_nothing_from_elsewhere(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") for s in sources), sources
    assert "cdn" not in page.text.lower()
    policy = page.headers["content-security-policy"]
    script_src = policy.split("script-src")[1].split(";")[0]
    assert "'sha256-" in script_src and "unsafe-inline" not in script_src
    for asset in sources:
        assert client.get(asset).status_code == 200, asset


def test_a_folder_with_no_readable_image_is_an_error_and_logs_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "scene"
    folder.mkdir()
    (folder / "cut.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / "empty.png").write_bytes(b"")
    result = CliRunner().invoke(main, ["verify", "--source", str(folder)])
    assert result.exit_code == 10, result.output
    assert "no readable image in folder" in result.output
    engine = make_engine(settings.database_url or "")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM attendance")).scalar_one() == 0
    engine.dispose()
