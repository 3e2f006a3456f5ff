"""Events to a real MQTT broker (Debian's mosquitto, started on 127.0.0.1 here):
QoS 1 events, retained availability and Home Assistant discovery, and events that
queue while the broker is down and are published once it is back."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from delivery_helpers import free_port, until

from facedb.config import Settings
from facedb.domain.attendance import AttendanceEvent
from facedb.errors import ConfigError
from facedb.events import hooks
from facedb.events.mqtt import MqttConfig, device_topic
from facedb.service import FaceService
from facedb.store import attendance, gallery

FRONT = device_topic("front door")  # front_door-<hash>: the name has a space

MOSQUITTO = shutil.which("mosquitto") or next(
    (p for p in ("/usr/sbin/mosquitto",) if Path(p).exists()), None
)
pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto is not installed (.ci/run installs Debian's package)"
)


class Broker:
    def __init__(self, port: int, folder: Path) -> None:
        self.port = port
        self.config = folder / "mosquitto.conf"
        self.config.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert MOSQUITTO is not None
        self.process = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    error = self.process.stderr.read().decode() if self.process.stderr else ""
                    pytest.skip(f"mosquitto could not be started: {error.strip()[:200]}")
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


class Subscriber:
    """A client that collects every message under facedb/# and homeassistant/#."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[tuple[str, bytes, bool]] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4()}")
        self.client.on_connect = lambda c, *_: (
            c.subscribe([("facedb/#", 1), ("homeassistant/#", 1)]),
            self.ready.set(),
        )
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert self.ready.wait(10)
        time.sleep(0.2)  # the SUBACK

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        with self.lock:
            self.messages.append((message.topic, message.payload, bool(message.retain)))

    def on(self, topic: str) -> list[bytes]:
        with self.lock:
            return [payload for t, payload, _ in self.messages if t == topic]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    server = Broker(free_port(), tmp_path)
    server.start()
    yield server
    server.stop()


def _service(settings: Settings, port: int, **changes: Any) -> FaceService:
    return FaceService(
        settings.replace(
            mqtt_url=f"mqtt://127.0.0.1:{port}",
            device_name="kiosk-7",
            hooks_backoff=0.05,
            hooks_timeout=2.0,
            **changes,
        )
    )


def _event(user_id: int | None, decision: str = "accepted") -> AttendanceEvent:
    return AttendanceEvent(
        event_id=uuid.uuid4(),
        occurred_at=datetime.now(UTC),
        kind="identify",
        decision=decision,
        user_id=user_id,
        claimed_user_id=None,
        similarity=0.7,
        threshold=0.3,
        liveness=0.98,
        device="front door",
        model="w600k_mbf_int8",
    )


def test_events_reach_the_broker_with_availability_and_discovery(
    settings: Settings, broker: Broker
) -> None:
    service = _service(settings, broker.port, mqtt_discovery="on")
    subscriber = Subscriber(broker.port)
    try:
        worker = hooks.worker(service)
        worker.run_once()  # registers the MQTT sink: events from now on are published
        with service.transaction() as session:
            user = gallery.create_user(session, "Dana")
        events = [_event(user.id), _event(None, "unknown")]
        with service.transaction() as session:
            for event in events:
                attendance.log_event(session, event)
        state = lambda: next(s for s in hooks.status(service) if s.sink.kind == "mqtt")  # noqa: E731
        until(lambda: state().delivered == 2, worker)
        time.sleep(0.3)
        received = [json.loads(p) for p in subscriber.on(f"facedb/{FRONT}/event")]
        assert [r["event_id"] for r in received] == [str(e.event_id) for e in events]
        assert received[0]["person"] == "Dana" and received[0]["liveness"] == pytest.approx(0.98)
        assert subscriber.on(f"facedb/{FRONT}/last_person") == [b"Dana"]
        assert subscriber.on("facedb/kiosk-7/availability")[-1] == b"online"
        [config] = subscriber.on(f"homeassistant/sensor/facedb_{FRONT}/last_person/config")
        discovery = json.loads(config)
        assert discovery["state_topic"] == f"facedb/{FRONT}/last_person"
        assert discovery["device"]["identifiers"] == [f"facedb_{FRONT}"]
        worker.stop()
        time.sleep(0.3)
        assert subscriber.on("facedb/kiosk-7/availability")[-1] == b"offline"
    finally:
        subscriber.close()
        service.close()
    # Retained: a client connecting later still reads them.
    late = Subscriber(broker.port)
    try:
        time.sleep(0.3)
        assert late.on(f"facedb/{FRONT}/last_person") == [b"Dana"]
        assert late.on("facedb/kiosk-7/availability") == [b"offline"]
        assert late.on(f"facedb/{FRONT}/event") == []  # events are not retained
    finally:
        late.close()


def test_events_queue_while_the_broker_is_down(settings: Settings, tmp_path: Path) -> None:
    broker = Broker(free_port(), tmp_path)
    service = _service(settings, broker.port, hooks_max_attempts=50)
    worker = hooks.worker(service)
    try:
        worker.run_once()  # the sink exists; the broker is not running
        events = [_event(None, "unknown") for _ in range(3)]
        with service.transaction() as session:
            for event in events:
                attendance.log_event(session, event)
        worker.run_once()
        state = next(s for s in hooks.status(service) if s.sink.kind == "mqtt")
        assert state.pending == 3 and state.delivered == 0
        assert state.last_error is not None and "broker" in state.last_error
        broker.start()
        subscriber = Subscriber(broker.port)
        try:
            time.sleep(0.2)
            until(
                lambda: (
                    next(s for s in hooks.status(service) if s.sink.kind == "mqtt").delivered == 3
                ),
                worker,
            )
            time.sleep(0.3)
            got = {json.loads(p)["event_id"] for p in subscriber.on(f"facedb/{FRONT}/event")}
            assert got == {str(e.event_id) for e in events}  # none lost
        finally:
            subscriber.close()
    finally:
        worker.stop()
        service.close()
        broker.stop()


def test_a_verification_reaches_the_webhook_and_the_broker(
    settings: Settings, broker: Broker, faces_dir: Path
) -> None:
    from test_hooks import SECRET, Receiver

    from facedb.events.webhooks import verify_signature

    receiver = Receiver()
    service = _service(settings, broker.port)
    subscriber = Subscriber(broker.port)
    worker = hooks.worker(service)
    try:
        worker.run_once()  # the MQTT sink
        hooks.add_webhook(service, receiver.url, None, SECRET)
        knn = faces_dir / "face_recognition/examples/knn_examples"
        service.enrol("Barack Obama", str(knn / "train/obama"), recursive=True)
        result = service.verify(str(knn / "test/obama1.jpg"))
        assert result.decision == "accepted"
        done = lambda: all(s.delivered == 1 for s in hooks.status(service))  # noqa: E731
        until(done, worker)
        time.sleep(0.3)
        [posted] = receiver.received
        stamp, signature = (
            posted.headers["X-Facedb-Timestamp"],
            posted.headers["X-Facedb-Signature"],
        )
        assert verify_signature(SECRET, stamp, posted.body, signature)
        device = service.settings.device_name
        [published] = [json.loads(p) for p in subscriber.on(f"facedb/{device_topic(device)}/event")]
        assert published == posted.payload  # one payload, two transports
        assert published["event_id"] == str(result.event_id)
        assert published["person"] == "Barack Obama"
    finally:
        worker.stop()
        subscriber.close()
        receiver.close()
        service.close()


def _tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl)."""
    ca_key, ca, key, csr, cert = (
        folder / n for n in ("ca.key", "ca.pem", "s.key", "s.csr", "s.pem")
    )
    ext = folder / "san.cnf"
    ext.write_text("subjectAltName = IP:127.0.0.1\n")
    for command in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
         "-days", "2", "-subj", "/CN=facedb test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ):  # fmt: skip
        subprocess.run(["openssl", *map(str, command)], check=True, capture_output=True)
    return ca, cert, key


@pytest.mark.skipif(
    shutil.which("openssl") is None or shutil.which("mosquitto_passwd") is None,
    reason="needs openssl and mosquitto_passwd (Debian's openssl and mosquitto)",
)
def test_tls_and_credentials(settings: Settings) -> None:
    # Not under pytest's tmp_path (mode 700): mosquitto started as root reads its
    # certificates as the mosquitto user.
    tmp_path = Path(tempfile.mkdtemp(prefix="facedb-test-mqtt-"))
    tmp_path.chmod(0o755)
    other = tmp_path / "other"
    other.mkdir(mode=0o755)
    ca, cert, key = _tls_files(tmp_path)
    passwords = tmp_path / "passwords"
    subprocess.run(
        ["mosquitto_passwd", "-c", "-b", str(passwords), "kiosk", "p@ss:word"], check=True
    )
    passwords.chmod(0o644)  # mosquitto may drop root for its own user
    key.chmod(0o644)
    broker = Broker(free_port(), tmp_path)
    broker.config.write_text(
        f"listener {broker.port} 127.0.0.1\nallow_anonymous false\npersistence false\n"
        f"password_file {passwords}\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
    )
    broker.start()
    try:
        url = f"mqtts://kiosk:p%40ss%3Aword@127.0.0.1:{broker.port}"
        good = FaceService(settings.replace(mqtt_url=url, mqtt_ca_file=ca, hooks_timeout=3.0))
        worker = hooks.worker(good)
        worker.run_once()
        with good.transaction() as session:
            attendance.log_event(session, _event(None, "unknown"))
        until(
            lambda: next(s for s in hooks.status(good) if s.sink.kind == "mqtt").delivered == 1,
            worker,
        )
        worker.stop()
        good.close()
        # A wrong password, and a CA that did not sign the broker's certificate: no
        # delivery, the error says why, nothing is lost.
        for bad_url, bad_ca in (
            (url.replace("p%40ss", "wrong"), ca),
            (url, _tls_files(other)[0]),
        ):
            bad = FaceService(
                settings.replace(mqtt_url=bad_url, mqtt_ca_file=bad_ca, hooks_timeout=1.0)
            )
            bad_worker = hooks.worker(bad)
            with bad.transaction() as session:
                attendance.log_event(session, _event(None, "unknown"))
            bad_worker.run_once()
            bad_worker.stop()
            state = next(s for s in hooks.status(bad) if s.sink.kind == "mqtt")
            assert state.pending >= 1 and state.last_error
            bad.close()
    finally:
        broker.stop()
        shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.parametrize("url", ["mqtt://[::1", "mqtt://127.0.0.1:99999", "http://127.0.0.1"])
def test_a_malformed_broker_url_is_a_config_error(settings: Settings, url: str) -> None:
    with pytest.raises(ConfigError):  # one line at startup, not urlsplit's ValueError
        MqttConfig.from_settings(settings.replace(mqtt_url=url))
