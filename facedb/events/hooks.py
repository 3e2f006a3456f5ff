"""Use cases of `facedb hooks`: webhook sinks, delivery status, replay, a test POST,
and the delivery worker. The CLI calls only these."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from facedb.domain.constants import DECISIONS
from facedb.errors import InvalidInputError, UnknownUserError
from facedb.events.webhooks import Outcome, check_url, post
from facedb.events.worker import DeliveryWorker
from facedb.service import FaceService
from facedb.store import outbox
from facedb.store.outbox import Sink, SinkStatus

__all__ = [
    "Sink",
    "SinkStatus",
    "add_webhook",
    "find_webhook",
    "remove_webhook",
    "replay",
    "sinks",
    "status",
    "test_webhook",
    "worker",
]


class UnknownWebhookError(UnknownUserError):
    """A webhook id or URL that is not registered (exit code 7, as an unknown name)."""


def _decisions(events: Iterable[str] | None) -> list[str] | None:
    if events is None:
        return None
    wanted = sorted({e.strip() for e in events if e.strip()})
    unknown = [e for e in wanted if e not in DECISIONS]
    if unknown:
        raise InvalidInputError(
            f"unknown decision(s) {', '.join(unknown)}: choose among {', '.join(DECISIONS)}"
        )
    return wanted or None


def add_webhook(
    service: FaceService,
    url: str,
    events: Iterable[str] | None,
    secret: str | None,
    *,
    allow_private: bool = False,
) -> Sink:
    """A new webhook for the events written from now on. Without ``secret`` one is
    made (deliveries are always signed); it is shown once, by the caller. Its host
    must be one events/addresses.py allows (private addresses with ``allow_private``)."""
    check_url(url, allow_private=allow_private)
    if secret is not None and (len(secret) < 16 or not secret.isprintable()):
        raise InvalidInputError("a webhook secret is at least 16 printable characters")
    with service.transaction() as session:
        sink = outbox.add_sink(
            session,
            "webhook",
            url,
            _decisions(events),
            secret or secrets.token_urlsafe(32),
            allow_private=allow_private,
        )
    if sink is None:
        raise InvalidInputError(f"a webhook to {url} exists already (facedb hooks list)")
    return sink


def sinks(service: FaceService) -> list[Sink]:
    with service.transaction() as session:
        return outbox.list_sinks(session)


def find_webhook(service: FaceService, ref: str) -> Sink:
    """The webhook with this id or URL."""
    with service.transaction() as session:
        for sink in outbox.list_sinks(session, "webhook"):
            if ref in (str(sink.id), sink.target):
                return sink
    raise UnknownWebhookError(f"no webhook {ref!r} (facedb hooks list)")


def remove_webhook(service: FaceService, ref: str) -> Sink:
    """Deletes the webhook and its deliveries, pending or not."""
    sink = find_webhook(service, ref)
    with service.transaction() as session:
        outbox.remove_sink(session, sink.id)
    return sink


def status(service: FaceService) -> list[SinkStatus]:
    with service.transaction() as session:
        return outbox.status(session)


def replay(service: FaceService, ref: str | None = None, event_id: str | None = None) -> int:
    """Makes dead deliveries due again (all, or one webhook's); with ``event_id``,
    that event's deliveries are sent again, delivered or dead. Returns how many."""
    sink_id = None
    if ref == "mqtt":
        sink_id = next((s.id for s in sinks(service) if s.kind == "mqtt"), -1)
    elif ref is not None:
        sink_id = find_webhook(service, ref).id
    wanted = None
    if event_id is not None:
        try:
            wanted = uuid.UUID(event_id)
        except ValueError:
            raise InvalidInputError(f"not an event id: {event_id!r}") from None
    with service.transaction() as session:
        return outbox.replay(session, sink_id, event_id=wanted)


def test_webhook(service: FaceService, ref: str) -> Outcome:
    """POSTs a signed test event (type "test", a new event id) to the webhook now,
    outside the outbox."""
    sink = find_webhook(service, ref)
    payload = {
        "type": "test",
        "version": outbox.PAYLOAD_VERSION,
        "event_id": str(uuid.uuid4()),
        "occurred_at": datetime.now(UTC).isoformat(),
        "device": service.settings.device_name,
    }
    return post(
        sink.target,
        payload,
        secret=sink.secret,
        attempt=1,
        timeout=service.settings.hooks_timeout,
        allow_private=sink.allow_private,
    )


def worker(service: FaceService, *, poll: float = 1.0) -> DeliveryWorker:
    """The delivery worker on the service's database and settings."""
    from facedb.events import metrics

    def listen_connection() -> Any:
        pooled = service.database.engine.raw_connection()
        pooled.detach()  # LISTEN keeps it: never back to the pool
        return pooled.dbapi_connection

    return DeliveryWorker(
        service.settings,
        service.transaction,
        poll=poll,
        on_result=lambda sink, outcome: metrics.record_delivery(sink, outcome.ok),
        listen=listen_connection,
    )
