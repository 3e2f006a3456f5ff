"""The cooldown across processes: parallel verifications of one person at one kiosk,
through `facedb serve --workers 2` and through `facedb verify` processes, log exactly
one event per cooldown window (the advisory lock in SqlMatcher.accepted_since)."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from facedb import access
from facedb.config import Settings
from facedb.service import FaceService
from facedb.store.tables.core import Attendance, User
from facedb.vision.pipeline import FacePipeline

PERSON = "7230"  # a CelebA identity: photos 0-3 enrolled, photo 4 the probe
REQUESTS = 12
PROCESSES = 4
COOLDOWN_S = "600"  # far longer than the test: every attempt falls in one window
STARTED = re.compile(r"Started server process \[(\d+)\]")


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    loaded = FacePipeline(Settings.load())
    loaded.load()
    return loaded


@pytest.fixture
def probe(settings: Settings, pipeline: FacePipeline, faces_dir: Path, tmp_path: Path) -> Path:
    """Enrols PERSON in this test's database; the photo to verify with."""
    photos = sorted((faces_dir / "celeba" / PERSON).glob("*.jpg"))
    folder = tmp_path / PERSON
    folder.mkdir()
    for photo in photos[:4]:
        shutil.copy(photo, folder / photo.name)
    service = FaceService(settings, pipeline=pipeline)
    try:
        assert service.enrol(PERSON, str(folder)).added >= 3
    finally:
        service.close()
    return photos[4]


def _attendance(settings: Settings, device: str) -> list[tuple[str, str | None]]:
    """(decision, person) of every row the device logged."""
    service = FaceService(settings)
    try:
        with Session(service.database.engine) as session:
            rows = session.execute(
                select(Attendance.decision, User.name)
                .outerjoin(User, User.id == Attendance.user_id)
                .where(Attendance.device == device)
            ).all()
            return [(decision, name) for decision, name in rows]
    finally:
        service.close()


def _environment(settings: Settings, home: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "FACEDB_DATABASE_URL": str(settings.database_url),
        "FACEDB_HOME": str(home),
        "FACEDB_COOLDOWN": COOLDOWN_S,
        **extra,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _owners(workers: list[int], client_ports: set[int]) -> dict[int, int]:
    """How many of the connections from ``client_ports`` each worker has accepted: the
    server ends' socket inodes (/proc/net/tcp) among each worker's open files (Linux:
    no log says which worker answered a request)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) in client_ports:
                inodes.add(f"socket:[{fields[9]}]")
    owners = {}
    for pid in workers:
        files = set()
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(FileNotFoundError):  # closed meanwhile
                files.add(os.readlink(fd))
        owners[pid] = len(files & inodes)
    return owners


class Server:
    """`facedb serve --workers 2` on a loopback port, its log in a file, and the
    token of a kiosk key (the device its rows name)."""

    def __init__(self, env: dict[str, str], log: Path, token: str) -> None:
        self.port = _free_port()
        self.log = log
        self.token = token
        self._log_file = log.open("w")
        command = ["serve", "--port", str(self.port), "--workers", "2"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "facedb.cli", *command],
            env=env,
            stdout=subprocess.DEVNULL,  # the access log
            stderr=self._log_file,
        )

    def workers(self, timeout_s: float = 120) -> list[int]:
        """The workers' pids once both have started up (models loaded) and the server
        answers."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"facedb serve exited: {self.log.read_text()}"
            text = self.log.read_text()
            if text.count("Application startup complete") >= 2:
                try:
                    health = httpx.get(f"http://127.0.0.1:{self.port}/v1/health", timeout=5)
                    if health.status_code == 200:
                        return [int(pid) for pid in STARTED.findall(text)]
                except httpx.TransportError:
                    pass
            time.sleep(0.2)
        raise AssertionError(f"facedb serve did not start: {self.log.read_text()}")

    def connect_to_both(self, workers: list[int], tries: int = 60) -> list[HTTPConnection]:
        """REQUESTS open connections, at least one accepted by each worker. Which
        worker accepts a connection is the kernel's choice, so they are made again
        (nothing sent yet) until both workers hold some; a worker still busy after its
        start (warming its models) accepts nothing, so the tries are spread over ~30 s."""
        for _ in range(tries):
            connections = [
                HTTPConnection("127.0.0.1", self.port, timeout=120) for _ in range(REQUESTS)
            ]
            for connection in connections:
                connection.connect()
            ports = {c.sock.getsockname()[1] for c in connections}
            deadline = time.monotonic() + 10
            owners = _owners(workers, ports)
            while sum(owners.values()) < REQUESTS and time.monotonic() < deadline:
                time.sleep(0.02)
                owners = _owners(workers, ports)
            if sum(owners.values()) == REQUESTS and min(owners.values()) > 0:
                print(f"\nconnections per worker: {owners}")
                return connections
            for connection in connections:
                connection.close()
            time.sleep(0.5)
        raise AssertionError(f"the connections never reached both workers: {owners}")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_file.close()


@pytest.fixture
def server(settings: Settings, probe: Path, tmp_path: Path) -> Iterator[Server]:
    service = FaceService(settings)
    try:
        token = access.create_key(service, "door-serve", "kiosk").token
    finally:
        service.close()
    env = _environment(settings, tmp_path / "server")
    running = Server(env, tmp_path / "serve.log", token)
    try:
        yield running
    finally:
        running.stop()


def test_two_serve_workers_log_one_event_for_parallel_verifications(
    settings: Settings, probe: Path, server: Server
) -> None:
    workers = server.workers()
    assert len(workers) == 2 and server.process.pid not in workers
    connections = server.connect_to_both(workers)
    request = httpx.Request(
        "POST",
        f"http://127.0.0.1:{server.port}/v1/verify",
        headers={"Authorization": f"Bearer {server.token}"},
        files=[("image", (probe.name, probe.read_bytes(), "image/jpeg"))],
    )
    body, headers = request.read(), dict(request.headers)
    barrier = threading.Barrier(REQUESTS)

    def attempt(connection: HTTPConnection) -> tuple[int, dict[str, Any]]:
        barrier.wait()
        connection.request("POST", "/v1/verify", body, headers)
        response = connection.getresponse()
        answer = (response.status, json.loads(response.read()))
        connection.close()
        return answer

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
        answers = list(pool.map(attempt, connections))
    elapsed = time.perf_counter() - started
    print(f"{REQUESTS} parallel verifications on 2 workers: {elapsed:.1f} s")

    assert [status for status, _ in answers] == [200] * REQUESTS, answers
    results = [result for _, result in answers]
    assert all(r["decision"] == "accepted" and r["person"] == PERSON for r in results), results
    assert sum(r["logged"] for r in results) == 1, results
    assert _attendance(settings, "door-serve") == [("accepted", PERSON)]


def test_parallel_verify_processes_log_one_event(
    settings: Settings, probe: Path, tmp_path: Path
) -> None:
    env = _environment(settings, tmp_path / "kiosk", FACEDB_DEVICE_NAME="door-cli")
    command = [sys.executable, "-m", "facedb.cli", "verify", "--source", str(probe), "--json"]
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(PROCESSES)
    ]
    outputs = [p.communicate(timeout=180) for p in processes]
    print(f"\n{PROCESSES} parallel `facedb verify`: {time.perf_counter() - started:.1f} s")

    assert [p.returncode for p in processes] == [0] * PROCESSES, outputs  # 0: accepted
    results = [json.loads(out) for out, _ in outputs]
    assert all(r["decision"] == "accepted" and r["name"] == PERSON for r in results), results
    assert sum(r["logged"] for r in results) == 1, results
    assert _attendance(settings, "door-cli") == [("accepted", PERSON)]
