"""Webhooks and the transactional outbox, against a real HTTP receiver on 127.0.0.1:
one transaction for a row and its message, signed deliveries, retries with backoff,
dead letters and replay, and redelivery after a worker dies between send and ack."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from delivery_helpers import free_port, until
from sqlalchemy import func, select

from facedb.cli.main import main
from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.events import hooks
from facedb.events.webhooks import verify_signature
from facedb.events.worker import DeliveryWorker
from facedb.service import FaceService
from facedb.store import attendance, gallery
from facedb.store.tables.core import Attendance
from facedb.store.tables.outbox import OutboxDelivery, OutboxMessage

SECRET = "a-test-secret-of-some-length"
FACES = Path(__file__).resolve().parent.parent.parent / "shared" / "faces"


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


class Receiver:
    """A webhook receiver on 127.0.0.1: answers 503 to the first ``fail_first``
    requests, then 200; with ``hold``, keeps the first request unanswered until
    ``release()``. Deduplicates by event id, as the README tells receivers to."""

    def __init__(self, port: int = 0, *, fail_first: int = 0, hold: bool = False) -> None:
        self.received: list[Received] = []
        self.fail_first = fail_first
        self.released = threading.Event()
        if not hold:
            self.released.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.received.append(Received(dict(self.headers.items()), body))
                receiver.released.wait(30)
                failing = len(receiver.received) <= receiver.fail_first
                self.send_response(503 if failing else 200)
                self.end_headers()
                self.wfile.write(b"busy" if failing else b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def release(self) -> None:
        self.released.set()

    def event_ids(self) -> list[str]:
        return [r.headers["X-Facedb-Event-Id"] for r in self.received]

    def deduplicated(self) -> dict[str, dict[str, Any]]:
        return {r.headers["X-Facedb-Event-Id"]: r.payload for r in self.received}

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def service(settings: Settings) -> Iterator[FaceService]:
    fast = settings.replace(hooks_backoff=0.05, hooks_timeout=2.0, hooks_max_attempts=3)
    svc = FaceService(fast)
    yield svc
    svc.close()


def _event(decision: str = "accepted", user_id: int | None = None) -> AttendanceEvent:
    return AttendanceEvent(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        kind="identify",
        decision=decision,
        user_id=user_id,
        claimed_user_id=None,
        similarity=0.61,
        threshold=0.3,
        liveness=None,
        device="door-1",
        model="w600k_mbf_int8",
    )


def _counts(service: FaceService) -> tuple[int, int, int]:
    with service.transaction() as session:
        return tuple(  # type: ignore[return-value]
            int(session.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (Attendance, OutboxMessage, OutboxDelivery)
        )


def _state(service: FaceService, sink_id: int) -> hooks.SinkStatus:
    return next(s for s in hooks.status(service) if s.sink.id == sink_id)


def test_row_and_message_are_written_in_one_transaction(service: FaceService) -> None:
    with service.transaction() as session:  # nobody listens: no message
        attendance.log_event(session, _event())
    assert _counts(service) == (1, 0, 0)
    hooks.add_webhook(service, "http://127.0.0.1:9/all", None, SECRET)
    hooks.add_webhook(service, "http://127.0.0.1:9/accepted", ["accepted"], SECRET)
    with pytest.raises(RuntimeError), service.transaction() as session:
        attendance.log_event(session, _event())
        raise RuntimeError("the transaction fails after the insert")
    assert _counts(service) == (1, 0, 0)  # neither the row nor its message
    unknown = _event("unknown")
    with service.transaction() as session:
        assert attendance.log_event(session, _event())
        assert attendance.log_event(session, unknown)
        assert not attendance.log_event(session, unknown)  # a replay is one row, one message
    assert _counts(service) == (3, 2, 3)  # accepted: both sinks; unknown: "all" only


def test_spooled_events_get_their_message_when_replayed(service: FaceService) -> None:
    hooks.add_webhook(service, "http://127.0.0.1:9/hook", None, SECRET)
    events = [_event(), _event("unknown")]
    for event in events:
        service.spool.append(event)
    assert service.replay_spool().inserted == 2
    for event in events:  # replayed again (a crash before the spool file went): no copies
        service.spool.append(event)
    assert service.replay_spool().inserted == 0
    assert _counts(service) == (2, 2, 2)
    with service.transaction() as session:
        payloads = list(session.scalars(select(OutboxMessage.payload)))
    assert {p["event_id"] for p in payloads} == {str(e.event_id) for e in events}


def test_a_verification_reaches_the_receiver_signed(
    service: FaceService, receiver: Receiver
) -> None:
    train = FACES / "face_recognition/examples/knn_examples/train/obama"
    service.enrol("Obama", str(train), recursive=True)
    sink = hooks.add_webhook(service, receiver.url, ["accepted"], SECRET)
    probe = FACES / "face_recognition/examples/knn_examples/test/obama1.jpg"
    result = service.verify(str(probe))
    assert result.decision == "accepted" and result.logged
    worker = hooks.worker(service)
    until(lambda: _state(service, sink.id).delivered == 1, worker)
    worker.stop()
    [got] = receiver.received
    assert got.headers["Content-Type"] == "application/json"
    stamp, sig = got.headers["X-Facedb-Timestamp"], got.headers["X-Facedb-Signature"]
    assert verify_signature(SECRET, stamp, got.body, sig)
    assert not verify_signature(SECRET, stamp, got.body.replace(b"Obama", b"Osama"), sig)
    assert not verify_signature("another secret, same length", stamp, got.body, sig)
    assert not verify_signature(SECRET, str(int(stamp) - 3600), got.body, sig)  # too old
    payload = got.payload
    assert payload["event_id"] == str(result.event_id) == got.headers["X-Facedb-Event-Id"]
    assert payload["type"] == "attendance"
    assert payload["decision"] == "accepted" and payload["person"] == "Obama"
    assert payload["similarity"] == pytest.approx(result.similarity, abs=1e-9)
    assert payload["threshold"] == pytest.approx(result.threshold, abs=1e-9)
    assert payload["device"] == service.settings.device_name
    assert datetime.fromisoformat(payload["occurred_at"]) == result.occurred_at


def test_a_failing_receiver_gets_the_event_once_it_answers(service: FaceService) -> None:
    flaky = Receiver(fail_first=2)
    try:
        sink = hooks.add_webhook(service, flaky.url, None, SECRET)
        with service.transaction() as session:
            attendance.log_event(session, _event())
        worker = hooks.worker(service)
        until(lambda: _state(service, sink.id).delivered == 1, worker)
        worker.stop()
    finally:
        flaky.close()
    assert [r.headers["X-Facedb-Delivery-Attempt"] for r in flaky.received] == ["1", "2", "3"]
    assert len(set(flaky.event_ids())) == 1 and len(flaky.deduplicated()) == 1
    state = _state(service, sink.id)
    assert (state.pending, state.delivered, state.dead) == (0, 1, 0)


def test_a_receiver_down_dead_letters_then_replay_delivers(service: FaceService) -> None:
    port = free_port()
    sink = hooks.add_webhook(service, f"http://127.0.0.1:{port}/hook", None, SECRET)
    with service.transaction() as session:
        for _ in range(3):
            attendance.log_event(session, _event())
    worker = hooks.worker(service)
    until(lambda: _state(service, sink.id).dead == 3, worker)
    state = _state(service, sink.id)
    assert state.pending == 0 and state.delivered == 0
    assert state.last_error is not None and "cannot reach" in state.last_error
    back = Receiver(port)
    try:
        assert worker.run_once().attempted == 0  # dead stays dead until replayed
        assert hooks.replay(service, str(sink.id)) == 3
        until(lambda: _state(service, sink.id).delivered == 3, worker)
    finally:
        worker.stop()
        back.close()
    assert len(back.deduplicated()) == 3  # none lost


def test_a_worker_killed_between_send_and_ack_redelivers(
    service: FaceService, settings: Settings
) -> None:
    held = Receiver(hold=True)
    try:
        sink = hooks.add_webhook(service, held.url, None, SECRET)
        with service.transaction() as session:
            attendance.log_event(session, _event())
        env = {**os.environ, "FACEDB_HOOKS_TIMEOUT": "1", "FACEDB_HOOKS_BACKOFF": "0.05"}
        worker = subprocess.Popen(
            [sys.executable, "-m", "facedb.cli", "hooks", "run", "--poll", "0.1"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while not held.received:  # sent, not answered: kill it now
            assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            assert time.monotonic() < deadline, "the worker sent nothing"
            time.sleep(0.01)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
        held.release()
        state = _state(service, sink.id)
        assert (state.pending, state.delivered) == (1, 0)  # not acknowledged
        # Another worker (the lease of the dead one is 3 * 1 s + 1 s) sends it again.
        survivor = DeliveryWorker(service.settings.replace(hooks_timeout=1.0), service.transaction)
        until(lambda: _state(service, sink.id).delivered == 1, survivor, seconds=30)
        survivor.stop()
    finally:
        held.close()
    assert len(held.received) == 2 and len(set(held.event_ids())) == 1
    assert len(held.deduplicated()) == 1  # the receiver keeps one


def test_a_forgotten_person_is_not_named_by_a_later_delivery(
    service: FaceService, receiver: Receiver
) -> None:
    with service.transaction() as session:
        user = gallery.create_user(session, "Carol")
    hooks.add_webhook(service, receiver.url, None, SECRET)
    with service.transaction() as session:
        attendance.log_event(session, _event(user_id=user.id))
    with service.transaction() as session:
        [payload] = session.scalars(select(OutboxMessage.payload))
    assert payload["person"] == "Carol"
    service.forget_user("Carol", "anonymise")
    worker = hooks.worker(service)
    until(lambda: len(receiver.received) == 1, worker)
    worker.stop()
    sent = receiver.received[0].payload
    assert sent["person"] is None and sent["user_id"] is None
    assert b"Carol" not in receiver.received[0].body


def test_hooks_commands(settings: Settings, receiver: Receiver) -> None:
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(main, ["hooks", *args], catch_exceptions=False)

    added = run("add", receiver.url, "--events", "accepted,unknown", "--json")
    assert added.exit_code == 0, added.output
    hook = json.loads(added.output)
    assert hook["events"] == ["accepted", "unknown"] and len(hook["secret"]) >= 32
    assert run("add", receiver.url).exit_code == 2  # exists already
    assert run("add", "ftp://127.0.0.1/x").exit_code == 2
    assert run("add", "http://[::1/x").exit_code == 2  # urlsplit's ValueError, not a traceback
    assert run("add", "http://127.0.0.1:99999/x").exit_code == 2  # no such port
    assert run("add", "http://user:pw@127.0.0.1:9/x").exit_code == 2  # never sent, shown
    assert run("add", "http://127.0.0.1:9/x", "--events", "smiled").exit_code == 2
    assert run("add", "http://127.0.0.1:9/x", "--secret", "short").exit_code == 2
    listed = run("list", "--json")
    assert [h["id"] for h in json.loads(listed.output)] == [hook["id"]]
    assert hook["secret"] not in listed.output and "secret" not in json.loads(listed.output)[0]
    tested = run("test", str(hook["id"]))
    assert tested.exit_code == 0 and "HTTP 200" in tested.output
    [got] = receiver.received
    assert got.payload["type"] == "test"
    headers = got.headers
    assert verify_signature(
        hook["secret"], headers["X-Facedb-Timestamp"], got.body, headers["X-Facedb-Signature"]
    )
    status = json.loads(run("status", "--json").output)
    assert status[0]["pending"] == 0 and status[0]["dead"] == 0
    assert run("replay").exit_code == 0
    assert run("replay", "--event", "not-a-uuid").exit_code == 2
    assert run("test", "http://127.0.0.1:9/none").exit_code == 7
    assert run("remove", receiver.url).exit_code == 0
    assert run("remove", str(hook["id"])).exit_code == 7
    assert json.loads(run("list", "--json").output) == []


def test_a_running_worker_is_woken_by_a_new_event_not_its_poll(
    service: FaceService, receiver: Receiver
) -> None:
    hooks.add_webhook(service, receiver.url, None, SECRET)
    worker = hooks.worker(service, poll=30.0)  # polling alone would take up to 30 s
    worker.start()
    try:
        time.sleep(1.0)  # idle: listening
        with service.transaction() as session:
            attendance.log_event(session, _event())
        committed = time.monotonic()
        while not receiver.received and time.monotonic() - committed < 10:
            time.sleep(0.01)
        latency = time.monotonic() - committed
    finally:
        worker.stop()
    assert receiver.received, "not delivered within 10 s"
    assert latency < 5.0  # measured 0.04-0.09 s on 2 busy cores


def test_a_receiver_down_for_a_while_gets_every_event_when_it_is_back(
    service: FaceService,
) -> None:
    port = free_port()
    sink = hooks.add_webhook(service, f"http://127.0.0.1:{port}/hook", None, SECRET)
    events = [_event() for _ in range(5)]
    with service.transaction() as session:
        for event in events:
            attendance.log_event(session, event)
    worker = DeliveryWorker(service.settings.replace(hooks_max_attempts=50), service.transaction)
    assert worker.run_once().retried == 5  # connection refused: retried later
    state = _state(service, sink.id)
    assert (state.pending, state.delivered, state.dead) == (5, 0, 0)
    back = Receiver(port)
    try:
        until(lambda: _state(service, sink.id).delivered == 5, worker)
    finally:
        worker.stop()
        back.close()
    assert set(back.deduplicated()) == {str(e.event_id) for e in events}  # none lost
    assert _state(service, sink.id).dead == 0


def test_hooks_run_logs_failures_as_json_and_exits_0_on_sigterm(
    service: FaceService, settings: Settings
) -> None:
    """An unreachable receiver shows in the worker's log (one JSON line per failed
    delivery, one when the sink starts failing), and SIGTERM stops it with status 0."""
    hooks.add_webhook(service, "http://127.0.0.1:9/down", None, SECRET)
    with service.transaction() as session:
        attendance.log_event(session, _event())
    env = {
        **os.environ,
        "FACEDB_HOOKS_TIMEOUT": "1",
        "FACEDB_HOOKS_BACKOFF": "0.05",
        "FACEDB_LOG_FORMAT": "json",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "facedb.cli", "hooks", "run", "--poll", "0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stderr is not None
    lines: list[dict[str, object]] = []
    deadline = time.monotonic() + 60
    while not any("is failing" in str(line.get("message")) for line in lines):
        assert time.monotonic() < deadline, lines
        text = worker.stderr.readline()
        if text.startswith("{"):
            lines.append(json.loads(text))
    os.kill(worker.pid, signal.SIGTERM)
    assert worker.wait(30) == 0
    messages = [str(line.get("message")) for line in lines]
    assert any("webhook http://127.0.0.1:9/down is failing" in m for m in messages), messages
    assert any(m.startswith("delivery of event") and "failed" in m for m in messages), messages
