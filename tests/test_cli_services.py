"""Services that say what they do: serve refuses a taken port before announcing
anything, an image URL the server refuses is reported as the HTTP error, and an API
refusal names what was refused."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from facedb import access
from facedb.api.app import create_app
from facedb.cli.main import main
from facedb.cli.serve import EXIT_PORT_TAKEN
from facedb.config import Settings
from facedb.errors import SourceError
from facedb.media.frames import open_source


@pytest.fixture
def web() -> Iterator[int]:
    """A web server on a free port that has no files (every GET is 404)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, directory="/nonexistent-facedb", **kwargs)  # type: ignore[arg-type]

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_serve_on_a_taken_port_exits_22_before_announcing(web: int) -> None:
    result = CliRunner().invoke(main, ["serve", "--port", str(web)])
    assert result.exit_code == EXIT_PORT_TAKEN == 22, result.output
    assert "serving on" not in result.output
    assert result.output.strip() == result.output.strip().splitlines()[0]  # one line
    assert f"127.0.0.1:{web}" in result.output and "--port" in result.output


def test_an_image_url_the_server_refuses_is_reported_as_http(web: int) -> None:
    with pytest.raises(SourceError, match="HTTP 404"):
        open_source(f"http://127.0.0.1:{web}/alice.jpg")
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(SourceError, match="no answer from the server"):
        open_source(f"http://127.0.0.1:{port}/alice.jpg")


def test_an_api_refusal_names_the_resource(settings: Settings) -> None:
    from fastapi.testclient import TestClient

    app = create_app(settings)
    with TestClient(app) as client:
        token = access.create_key(app.state.facedb.service, "desk", "reporter").token
        response = client.get("/v1/review", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 403, response.text
    message = response.json()["error"]["message"]
    assert message == "a reporter key may not use GET /v1/review: it needs an admin key"
