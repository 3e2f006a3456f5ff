"""Events to an MQTT broker (paho-mqtt), QoS 1, and the topics Home Assistant reads.

Topics, under the prefix FACEDB_MQTT_TOPIC_PREFIX ("facedb"), with <device> the
kiosk's name when it is made of letters, digits, - and _, else that name reduced to
them with a short hash of the whole name (device_topic: "door 1" -> door_1-b222c10d1c):

    <prefix>/<device>/event          every event's JSON (QoS 1, not retained)
    <prefix>/<device>/last_person    the last person accepted (retained)
    <prefix>/<device>/availability   "online" / "offline" (retained; the broker
                                     publishes "offline" if the worker dies)
    homeassistant/sensor/facedb_<device>/last_person/config
                                     Home Assistant discovery (FACEDB_MQTT_DISCOVERY=on)

A delivery is acknowledged when the broker's PUBACK arrives; until then it stays due.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from facedb.config import Settings
from facedb.errors import ConfigError
from facedb.events.webhooks import Outcome, encode

log = logging.getLogger(__name__)

DISCOVERY_PREFIX = "homeassistant"
_TOPIC_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_TOPIC_SAFE = re.compile(r"[A-Za-z0-9_-]{1,100}")
_HASHED = re.compile(r"-[0-9a-f]{10}$")


@dataclass(frozen=True)
class MqttConfig:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None
    prefix: str
    ca_file: Path | None
    discovery: bool
    timeout: float

    @classmethod
    def from_settings(cls, settings: Settings) -> MqttConfig | None:
        """None when no broker is configured (FACEDB_MQTT_URL unset)."""
        if not settings.mqtt_url:
            return None
        try:
            parts = urlsplit(settings.mqtt_url)
            port = parts.port
        except ValueError:  # "mqtt://[::1", "mqtt://host:99999"
            raise ConfigError("mqtt_url (FACEDB_MQTT_URL) has an invalid host or port") from None
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ConfigError("mqtt_url (FACEDB_MQTT_URL) is mqtt://host[:port] or mqtts://...")
        prefix = settings.mqtt_topic_prefix.strip("/")
        if not prefix or any(c in prefix for c in "+#\x00") or not prefix.isprintable():
            raise ConfigError(f"invalid mqtt_topic_prefix: {settings.mqtt_topic_prefix!r}")
        if settings.mqtt_discovery not in ("on", "off"):
            raise ConfigError(f"mqtt_discovery is on or off, not {settings.mqtt_discovery!r}")
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            prefix=prefix,
            ca_file=settings.mqtt_ca_file,
            discovery=settings.mqtt_discovery == "on",
            timeout=settings.hooks_timeout,
        )

    @property
    def target(self) -> str:
        """The broker, without credentials (the sink's target, what status shows)."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def device_topic(device: str) -> str:
    """The topic level of a kiosk name, one for each name and the same at every run.

    A name of letters, digits, - and _ (at most 100) is its own level, unless it ends
    like a suffix below; any other name is reduced to those characters and suffixed
    with "-" and 10 hex digits of its SHA-256, so that "door 1" and "door/1", or 正門
    and 裏口, are two devices (issue 29: they shared topics and one Home Assistant
    device)."""
    if _TOPIC_SAFE.fullmatch(device) and not _HASHED.search(device):
        return device
    digest = hashlib.sha256(device.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{_TOPIC_UNSAFE.sub('_', device)[:80] or 'device'}-{digest}"


class MqttPublisher:
    """One connection to the broker, opened on first use and reopened after a loss.
    ``device``: this process's kiosk, whose availability it publishes."""

    def __init__(self, config: MqttConfig, device: str) -> None:
        self.config = config
        self.device = device_topic(device)
        self._client: Any = None
        self._connected = threading.Event()
        self._announced: set[str] = set()  # devices whose discovery config is published

    def topic(self, device: str, leaf: str) -> str:
        return f"{self.config.prefix}/{device_topic(device)}/{leaf}"

    def _connect(self) -> Any:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        if self._client is not None and self._connected.is_set():
            return self._client
        self.close(announce=False)
        # One client id per process: a broker disconnects a client when another
        # connects with its id (facedb serve --workers N runs N workers).
        client_id = f"facedb-{self.device}-{os.getpid()}-{secrets.token_hex(3)}"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
        client.connect_timeout = self.config.timeout
        if self.config.username:
            client.username_pw_set(self.config.username, self.config.password)
        if self.config.tls:
            client.tls_set(
                ca_certs=str(self.config.ca_file) if self.config.ca_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
            )
        availability = self.topic(self.device, "availability")
        client.will_set(availability, "offline", qos=1, retain=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        self._connected.clear()
        self._announced.clear()
        try:
            client.connect(self.config.host, self.config.port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise ConnectionError(
                f"cannot reach the MQTT broker {self.config.target}: {exc}"
            ) from None
        client.loop_start()
        if not self._connected.wait(self.config.timeout):
            client.loop_stop()
            raise ConnectionError(f"the MQTT broker {self.config.target} did not accept us")
        self._client = client
        client.publish(availability, "online", qos=1, retain=True)
        return client

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not reason.is_failure:
            self._connected.set()
        else:
            log.warning("MQTT broker %s refused the connection: %s", self.config.target, reason)

    def _on_disconnect(
        self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any
    ) -> None:
        self._connected.clear()

    def _publish(self, client: Any, topic: str, body: bytes | str, retain: bool = False) -> None:
        info = client.publish(topic, body, qos=1, retain=retain)
        info.wait_for_publish(self.config.timeout)
        if not info.is_published():
            raise ConnectionError(f"no PUBACK from {self.config.target} within the timeout")

    def publish_event(self, payload: dict[str, Any]) -> Outcome:
        """One event to <prefix>/<device>/event (and last_person when accepted)."""
        device = str(payload.get("device") or "unknown")
        try:
            client = self._connect()
            if self.config.discovery and device_topic(device) not in self._announced:
                self._publish_discovery(client, device)
            self._publish(client, self.topic(device, "event"), encode(payload))
            if payload.get("decision") == "accepted" and payload.get("person"):
                self._publish(
                    client, self.topic(device, "last_person"), str(payload["person"]), retain=True
                )
        except (ConnectionError, RuntimeError, ValueError, OSError) as exc:
            self._connected.clear()
            return Outcome(False, str(exc) or type(exc).__name__)
        return Outcome(True, "PUBACK")

    def _publish_discovery(self, client: Any, device: str) -> None:
        node = device_topic(device)
        config = {
            "name": "Last person",
            "unique_id": f"facedb_{node}_last_person",
            "state_topic": self.topic(device, "last_person"),
            "icon": "mdi:account-check",
            "device": {
                "identifiers": [f"facedb_{node}"],
                "name": f"facedb {device}",
                "manufacturer": "facedb",
            },
        }
        if node == self.device:
            config["availability_topic"] = self.topic(device, "availability")
        topic = f"{DISCOVERY_PREFIX}/sensor/facedb_{node}/last_person/config"
        self._publish(client, topic, json.dumps(config), retain=True)
        self._announced.add(node)

    def close(self, *, announce: bool = True) -> None:
        """Says "offline" (retained) and disconnects."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if announce and self._connected.is_set():
                availability = self.topic(self.device, "availability")
                client.publish(availability, "offline", qos=1, retain=True).wait_for_publish(
                    self.config.timeout
                )
            client.disconnect()
        except (RuntimeError, ValueError, OSError):
            pass
        finally:
            client.loop_stop()
            self._connected.clear()
