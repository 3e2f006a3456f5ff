"""`facedb models fetch` against a real HTTP server on 127.0.0.1 serving copies of the
shared model files: downloads are verified and installed atomically, dropped
connections resume, truncated and damaged files are never installed."""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner, Result
from onnx import TensorProto, helper, numpy_helper

from facedb.cli.main import main
from facedb.vision.models import load_manifest

IN_USE = ("minifasnet_v2", "scrfd_2.5g_bnkps", "w600k_mbf_int8")


@dataclass
class Behaviour:
    """What the server does; tests change it between requests."""

    drop_after: int | None = None  # close the connection after this many body bytes
    drop_times: int = 0  # ... for this many requests (then serve normally)
    ignore_range: bool = False
    redirect_to: str | None = None
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)


class ModelServer(ThreadingHTTPServer):
    files: dict[str, bytes]
    behaviour: Behaviour


class Handler(BaseHTTPRequestHandler):
    server: ModelServer

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        behaviour = self.server.behaviour
        behaviour.requests.append((self.path, self.headers.get("Range")))
        if behaviour.redirect_to is not None:
            self.send_response(302)
            self.send_header("Location", behaviour.redirect_to)
            self.end_headers()
            return
        body = self.server.files.get(self.path.removeprefix("/w/"))
        if body is None:
            self.send_error(404)
            return
        start = 0
        wanted = self.headers.get("Range")
        if wanted and not behaviour.ignore_range:
            start = int(wanted.removeprefix("bytes=").split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        part = body[start:]
        if behaviour.drop_after is not None and behaviour.drop_times > 0:
            behaviour.drop_times -= 1
            self.wfile.write(part[: behaviour.drop_after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(part)


@pytest.fixture
def server(weights_dir: Path) -> Iterator[ModelServer]:
    httpd = ModelServer(("127.0.0.1", 0), Handler)
    httpd.files = {p.name: p.read_bytes() for p in weights_dir.glob("*.onnx")}
    httpd.behaviour = Behaviour()
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A FACEDB_HOME with no models, and no FACEDB_WEIGHTS: fetch installs into home/models."""
    monkeypatch.setenv("FACEDB_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FACEDB_WEIGHTS", raising=False)
    monkeypatch.delenv("FACEDB_MODELS_URL", raising=False)
    for proxy in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(proxy, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    return tmp_path / "home"


def _url(server: ModelServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/w"


def _fetch(*args: str) -> Result:
    return CliRunner().invoke(main, ["models", "fetch", *args])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob(".partial-*")) if folder.is_dir() else []


def test_fetch_downloads_verifies_and_installs_the_models_in_use(
    server: ModelServer, home: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `facedb models` reads calibrated thresholds: the test database, not an embedded
    # server of its own in this FACEDB_HOME.
    monkeypatch.setenv("FACEDB_DATABASE_URL", database_url)
    result = _fetch("--url", _url(server), "--accept-licence", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert sorted(m["name"] for m in report["models"]) == sorted(IN_USE)
    assert report["warning"] is None
    specs = load_manifest()
    for name in IN_USE:
        installed = home / "models" / specs[name].file
        assert _sha(installed) == specs[name].sha256
    assert _leftovers(home / "models") == []

    listing = CliRunner().invoke(main, ["models", "--json"])
    assert listing.exit_code == 0, listing.output
    models = {
        m["name"]: m for m in json.loads(listing.output[listing.output.index("{") :])["models"]
    }
    for name in IN_USE:
        assert models[name]["path"] == str(home / "models" / specs[name].file)
        assert models[name]["sha256_ok"] is True

    # A second run finds them installed and downloads nothing.
    served = len(server.behaviour.requests)
    again = _fetch("--url", _url(server), "--json")
    assert again.exit_code == 0, again.output
    assert {m["status"] for m in json.loads(again.output)["models"]} == {"already installed"}
    assert len(server.behaviour.requests) == served


def test_the_research_licence_must_be_acknowledged_before_a_download(
    server: ModelServer, home: Path
) -> None:
    refused = _fetch("w600k_mbf_int8", "--url", _url(server))
    assert refused.exit_code == 2
    assert "non-commercial research use only" in refused.output
    assert "--accept-licence" in refused.output
    assert server.behaviour.requests == []
    # The Apache-2.0 liveness model needs no acknowledgement.
    apache = _fetch("minifasnet_v2", "--url", _url(server))
    assert apache.exit_code == 0, apache.output
    # Once acknowledged, later fetches into the same folder do not ask again.
    assert _fetch("w600k_mbf_int8", "--url", _url(server), "--accept-licence").exit_code == 0
    assert _fetch("scrfd_2.5g_bnkps", "--url", _url(server)).exit_code == 0


def test_a_dropped_connection_is_resumed_with_a_range_request(
    server: ModelServer, home: Path
) -> None:
    server.behaviour.drop_after = 1_000_000
    server.behaviour.drop_times = 1
    result = _fetch("w600k_mbf_int8", "--url", _url(server), "--accept-licence")
    assert result.exit_code == 0, result.output
    spec = load_manifest()["w600k_mbf_int8"]
    assert _sha(home / "models" / spec.file) == spec.sha256
    assert [r for _, r in server.behaviour.requests] == [None, "bytes=1000000-"]


def test_a_download_that_keeps_breaking_is_never_installed(server: ModelServer, home: Path) -> None:
    server.behaviour.drop_after = 500_000
    server.behaviour.drop_times = 100
    server.behaviour.ignore_range = True  # every attempt starts again and is cut short
    result = _fetch("w600k_mbf_int8", "--url", _url(server), "--accept-licence", "--retries", "1")
    assert result.exit_code == 11, result.output
    assert "cannot download w600k_mbf_int8 from http://127.0.0.1:" in result.output
    assert "--from FILE" in result.output
    # Two attempts at the mirror's copy, then the mirror's copies of the pinned sources
    # (not there: 404, not retried).
    tried = [path for path, _ in server.behaviour.requests]
    assert tried[:2] == ["/w/w600k_mbf_int8.onnx"] * 2
    assert tried[2:] == [
        "/w/media.githubusercontent.com/media/JupiterMetaLabs/Face-Auth-SDK/"
        "68481243b71e423ec940d91cc96bbe31b85715eb/assets/models/w600k_mbf.onnx",
        "/w/github.com/deepinsight/insightface/releases/download/v0.7/buffalo_s.zip",
    ]
    assert not (home / "models" / "w600k_mbf_int8.onnx").exists()
    assert _leftovers(home / "models") == []


def test_a_file_with_the_wrong_sha256_is_refused(server: ModelServer, home: Path) -> None:
    spec = load_manifest()["w600k_mbf_int8"]
    damaged = bytearray(server.files[spec.file])
    damaged[len(damaged) // 2] ^= 0xFF  # same size, one byte changed
    server.files[spec.file] = bytes(damaged)
    result = _fetch("w600k_mbf_int8", "--url", _url(server), "--accept-licence")
    assert result.exit_code == 11, result.output
    assert f"the manifest says {spec.sha256}" in result.output
    assert not (home / "models" / spec.file).exists()
    assert _leftovers(home / "models") == []


def test_a_larger_file_is_cut_off_and_refused(server: ModelServer, home: Path) -> None:
    spec = load_manifest()["minifasnet_v2"]
    server.files[spec.file] += b"\0" * 100_000
    result = _fetch("minifasnet_v2", "--url", _url(server), "--retries", "0")
    assert result.exit_code == 11, result.output
    assert f"more than the {spec.bytes} bytes" in result.output
    assert not (home / "models" / spec.file).exists()


def test_no_server_says_which_url_and_what_to_do_by_hand(home: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = _fetch(
        "minifasnet_v2", "--url", f"http://127.0.0.1:{port}/w", "--retries", "1", "--timeout", "2"
    )
    assert result.exit_code == 11, result.output
    assert f"http://127.0.0.1:{port}/w/minifasnet_v2.onnx" in result.output
    assert "no connection" in result.output
    assert "--from FILE" in result.output
    # A mirror's user name and password are not repeated in the message.
    result = _fetch(
        "minifasnet_v2",
        "--url",
        f"http://ops:s3cret@127.0.0.1:{port}/w",
        "--retries",
        "0",
        "--timeout",
        "2",
    )
    assert result.exit_code == 11, result.output
    assert f"127.0.0.1:{port}/w/minifasnet_v2.onnx" in result.output
    assert "s3cret" not in result.output and "ops:" not in result.output


def test_redirects_to_local_files_are_refused(server: ModelServer, home: Path) -> None:
    for target in ("file:///etc/passwd", "ftp://127.0.0.1/minifasnet_v2.onnx"):
        server.behaviour.redirect_to = target
        result = _fetch("minifasnet_v2", "--url", _url(server), "--retries", "0")
        assert result.exit_code == 11, result.output
        assert f"{target}' is not allowed" in result.output or "refused redirect" in result.output
        assert not (home / "models" / "minifasnet_v2.onnx").exists()
    assert _fetch("minifasnet_v2", "--url", "file:///etc").exit_code == 2


def test_offline_install_from_a_folder_and_from_a_renamed_file(
    weights_dir: Path, home: Path, tmp_path: Path
) -> None:
    result = _fetch("--from", str(weights_dir), "--accept-licence", "--json")
    assert result.exit_code == 0, result.output
    assert {m["status"] for m in json.loads(result.output)["models"]} == {"installed"}
    # A single file is recognised by its sha256, whatever its name.
    renamed = tmp_path / "download (1).onnx"
    shutil.copy(weights_dir / "scrfd_500m_bnkps.onnx", renamed)
    single = _fetch("--from", str(renamed), "--json")
    assert single.exit_code == 0, single.output
    (model,) = json.loads(single.output)["models"]
    assert model["name"] == "scrfd_500m_bnkps"
    assert (home / "models" / "scrfd_500m_bnkps.onnx").is_file()


def _tiny_embedder(path: Path) -> None:
    """A valid ONNX model with an embedder's signature: [N,3,112,112] -> [N,512]."""
    weights = numpy_helper.from_array(np.ones((3, 512), np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["x"], ["m"], axes=[2, 3], keepdims=0),
            helper.make_node("MatMul", ["m", "w"], ["y"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 512])],
        [weights],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_an_unknown_file_is_inspected_and_installed_only_for_a_role_it_fits(
    home: Path, tmp_path: Path
) -> None:
    tiny = tmp_path / "my_embedder.onnx"
    _tiny_embedder(tiny)
    shown = _fetch("--from", str(tiny))
    assert shown.exit_code == 0, shown.output
    assert _sha(tiny) in shown.output
    assert "x ['N', 3, 112, 112]" in shown.output
    assert not (home / "models" / tiny.name).exists()

    wrong = _fetch("--from", str(tiny), "--role", "liveness")
    assert wrong.exit_code == 11, wrong.output
    assert "cannot be a liveness" in wrong.output
    assert not (home / "models" / tiny.name).exists()

    right = _fetch("--from", str(tiny), "--role", "embedder")
    assert right.exit_code == 0, right.output
    assert _sha(home / "models" / tiny.name) == _sha(tiny)

    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model" * 100)
    refused = _fetch("--from", str(garbage), "--role", "embedder")
    assert refused.exit_code == 11
    assert "not an ONNX model" in refused.output


def test_a_destination_that_cannot_be_written_is_one_line(
    server: ModelServer, home: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = _fetch("minifasnet_v2", "--url", _url(server), "--dest", str(blocker / "models"))
    assert result.exit_code == 11, result.output
    assert result.output.startswith(f"error: cannot write to {blocker / 'models'}")
    assert server.behaviour.requests == []


def test_installed_models_need_no_licence_and_no_network(
    weights_dir: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEDB_WEIGHTS", str(weights_dir))  # read-only, holds every model
    result = _fetch("--url", "http://127.0.0.1:9/unused", "--json")
    assert result.exit_code == 0, result.output
    assert {m["status"] for m in json.loads(result.output)["models"]} == {"already installed"}
