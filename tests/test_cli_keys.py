"""`facedb keys` and `facedb serve`: API keys from the command line, and the server
the way a user starts it."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from click.testing import CliRunner

from facedb import access
from facedb.cli.main import main
from facedb.config import Settings
from facedb.service import FaceService


def test_create_list_revoke(settings: Settings) -> None:
    runner = CliRunner()
    created = runner.invoke(main, ["keys", "create", "--name", "front-door", "--role", "kiosk"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("fdb_") and len(token) > 40
    service = FaceService(settings)
    key = access.authenticate(service, token)
    assert key is not None and (key.name, key.role) == ("front-door", "kiosk")

    listed = runner.invoke(main, ["keys", "list", "--json"])
    assert [(k["name"], k["role"]) for k in json.loads(listed.stdout)] == [("front-door", "kiosk")]
    assert token not in listed.stdout

    duplicate = runner.invoke(main, ["keys", "create", "--name", "front-door", "--role", "admin"])
    assert duplicate.exit_code == 8 and "front-door" in duplicate.stderr
    assert runner.invoke(main, ["keys", "create", "--name", "x", "--role", "root"]).exit_code == 2

    assert runner.invoke(main, ["keys", "revoke", "front-door"]).exit_code == 0
    assert access.authenticate(service, token) is None
    assert json.loads(runner.invoke(main, ["keys", "list", "--json"]).stdout) == []
    everything = json.loads(runner.invoke(main, ["keys", "list", "--all", "--json"]).stdout)
    assert everything[0]["revoked_at"] is not None
    again = runner.invoke(main, ["keys", "revoke", "front-door"])
    assert again.exit_code == 2 and "no live API key" in again.stderr
    # The name is free again once revoked.
    assert (
        runner.invoke(main, ["keys", "create", "--name", "front-door", "--role", "admin"]).exit_code
        == 0
    )
    service.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_answers_health_refuses_requests_without_a_key_and_logs_no_key(
    settings: Settings,
) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "facedb.cli", "serve", "--port", str(port)],
        env=dict(os.environ),  # the settings fixture's database
        stdout=subprocess.PIPE,  # uvicorn's access log
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        health = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/health", timeout=5) as r:
                    health = json.load(r)
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        if health is None:
            server.kill()
            raise AssertionError(f"the server did not answer: {server.communicate()[1]}")
        assert health["status"] == "ok" and health["database"]["ok"]
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/users", timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 401
            assert json.load(exc)["error"]["code"] == "unauthorized"
        else:
            raise AssertionError("a request without a key was answered")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/?key=fdb_in_the_url") as page:
            assert page.status == 200
    finally:
        server.send_signal(signal.SIGINT)
        stdout, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert f"http://127.0.0.1:{port}/" in stderr
    assert "GET /?key=*** HTTP/1.1" in stdout
    assert "fdb_in_the_url" not in stdout + stderr


def test_serve_refuses_a_missing_model(settings: Settings) -> None:
    result = CliRunner().invoke(
        main, ["serve", "--port", str(_free_port())], env={"FACEDB_EMBEDDER": "no_such_model"}
    )
    assert result.exit_code == 11 and "no_such_model" in result.stderr
