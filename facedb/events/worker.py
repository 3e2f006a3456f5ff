"""The delivery worker: takes due deliveries from the outbox, sends them (webhooks,
MQTT), and records the answer: delivered, due again after a backoff, or dead.

At least once: a delivery is leased before it is sent and acknowledged after, so a
worker that dies in between leaves it to be sent again when the lease runs out.
Receivers deduplicate by the event id. Several workers (one per `facedb serve`
process, `facedb hooks run`) can share one database: SKIP LOCKED hands each due
delivery to one of them.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from facedb.config import Settings
from facedb.errors import FacedbError
from facedb.events.mqtt import MqttConfig, MqttPublisher
from facedb.events.wakeup import Wakeup
from facedb.events.webhooks import Outcome, post
from facedb.store import outbox
from facedb.store.outbox import Claimed

log = logging.getLogger(__name__)

BACKOFF_CAP_S = 3600.0
BATCH = 50
PARALLEL_POSTS = 4
# Messages whose every delivery is done are deleted this long after they were written.
KEEP_DELIVERED = timedelta(days=7)
# Dead and still pending messages (a sink down or removed for this long) are deleted
# too: a payload names a person, and is not kept forever for nobody.
KEEP_UNDELIVERED = timedelta(days=30)


@dataclass(frozen=True)
class RoundResult:
    attempted: int
    delivered: int
    retried: int
    dead: int


def retry_delay(settings: Settings, attempt: int) -> float:
    """Seconds before the attempt after ``attempt`` (1-based): hooks_backoff doubled at
    every attempt, at most an hour, with up to 10 % jitter so that receivers coming
    back are not hit by every retry at once."""
    base = min(settings.hooks_backoff * 2.0 ** (attempt - 1), BACKOFF_CAP_S)
    return base * (1.0 + 0.1 * random.random())


class DeliveryWorker:
    """``transaction``: a context manager giving a session in one committed
    transaction (FaceService.transaction). ``on_result``: called after each
    attempt (metrics)."""

    def __init__(
        self,
        settings: Settings,
        transaction: Callable[[], AbstractContextManager[Session]],
        *,
        poll: float = 1.0,
        on_result: Callable[[str, Outcome], None] | None = None,
        listen: Callable[[], Any] | None = None,
    ) -> None:
        self.settings = settings
        self.transaction = transaction
        self.poll = poll
        self.on_result = on_result
        self.mqtt_config = MqttConfig.from_settings(settings)
        self.publisher = (
            MqttPublisher(self.mqtt_config, settings.device_name) if self.mqtt_config else None
        )
        self._stop = threading.Event()
        # ``listen``: a new DBAPI connection, to LISTEN for new messages.
        self._wakeup = Wakeup(listen, self._stop) if listen is not None else None
        self._thread: threading.Thread | None = None
        self._pool = ThreadPoolExecutor(PARALLEL_POSTS, thread_name_prefix="facedb-hook")
        self._rounds = 0
        self._mqtt_sink_id: int | None = None
        self._failing: set[int] = set()  # sinks whose last attempt failed (logged once)

    @property
    def lease(self) -> timedelta:
        # Longer than one attempt can take (an MQTT publish waits twice: connect, PUBACK).
        return timedelta(seconds=3 * self.settings.hooks_timeout + 1)

    def _sink_ids(self) -> list[int]:
        with self.transaction() as session:
            sinks = [s for s in outbox.list_sinks(session) if s.active]
            ids = [s.id for s in sinks if s.kind == "webhook"]
            if self.mqtt_config is not None:
                # Created once per worker, not by an INSERT at every poll.
                if self._mqtt_sink_id is None:
                    self._mqtt_sink_id = outbox.ensure_sink(session, "mqtt", "mqtt").id
                ids.append(self._mqtt_sink_id)
        return ids

    def run_once(self) -> RoundResult:
        """One round: claims up to BATCH due deliveries, sends them, records the
        outcomes. Returns what it did."""
        sink_ids = self._sink_ids()
        with self.transaction() as session:
            claimed = outbox.claim(session, sink_ids=sink_ids, limit=BATCH, lease=self.lease)
        if not claimed:
            self._maybe_prune()
            return RoundResult(0, 0, 0, 0)
        webhooks = [c for c in claimed if c.sink.kind == "webhook"]
        mqtt = [c for c in claimed if c.sink.kind == "mqtt"]
        outcomes = list(zip(webhooks, self._pool.map(self._post, webhooks), strict=True))
        outcomes += self._publish_all(mqtt)
        delivered = retried = dead = 0
        with self.transaction() as session:
            for item, outcome in outcomes:
                if outcome.ok:
                    outbox.acknowledge(session, item.delivery_id)
                    delivered += 1
                elif item.attempt >= self.settings.hooks_max_attempts:
                    outbox.fail(session, item.delivery_id, outcome.detail, None)
                    dead += 1
                    log.warning(
                        "delivery of event %s to %s is dead after %d attempts: %s",
                        item.event_id, item.sink.target, item.attempt, outcome.detail,
                    )  # fmt: skip
                else:
                    delay = timedelta(seconds=retry_delay(self.settings, item.attempt))
                    outbox.fail(session, item.delivery_id, outcome.detail, delay)
                    retried += 1
                    log.warning(
                        "delivery of event %s to %s failed (attempt %d, retry in %.0f s): %s",
                        item.event_id, item.sink.target, item.attempt,
                        delay.total_seconds(), outcome.detail,
                    )  # fmt: skip
        self._log_sink_states(outcomes)
        for item, outcome in outcomes:
            if self.on_result is not None:
                self.on_result(item.sink.kind, outcome)
        return RoundResult(len(claimed), delivered, retried, dead)

    def _log_sink_states(self, outcomes: list[tuple[Claimed, Outcome]]) -> None:
        """One line when a sink starts failing and one when it delivers again."""
        for sink_id, (item, outcome) in {i.sink.id: (i, o) for i, o in outcomes}.items():
            if not outcome.ok and sink_id not in self._failing:
                self._failing.add(sink_id)
                log.warning(
                    "%s %s is failing: %s", item.sink.kind, item.sink.target, outcome.detail
                )
            elif outcome.ok and sink_id in self._failing:
                self._failing.discard(sink_id)
                log.warning("%s %s delivers again", item.sink.kind, item.sink.target)

    def _post(self, item: Claimed) -> Outcome:
        return post(
            item.sink.target,
            item.payload,
            secret=item.sink.secret,
            attempt=item.attempt,
            timeout=self.settings.hooks_timeout,
            allow_private=item.sink.allow_private,
        )

    def _publish_all(self, items: list[Claimed]) -> list[tuple[Claimed, Outcome]]:
        """In order; after a failure (the broker is down) the rest of the round fails
        with it, without waiting for the broker once per event."""
        outcomes: list[tuple[Claimed, Outcome]] = []
        failed: Outcome | None = None
        for item in items:
            if failed is None:
                if self.publisher is None:  # claimed only when configured
                    outcome = Outcome(False, "MQTT is not configured")
                else:
                    outcome = self.publisher.publish_event(item.payload)
                failed = None if outcome.ok else outcome
            else:
                outcome = failed
            outcomes.append((item, outcome))
        return outcomes

    def _maybe_prune(self) -> None:
        self._rounds += 1
        if self._rounds % 600 != 1:
            return
        with self.transaction() as session:
            pruned = outbox.prune(session, KEEP_DELIVERED, KEEP_UNDELIVERED)
        if pruned:
            log.info("pruned %d old outbox message(s)", pruned)

    def run(self, *, until_idle: bool = False) -> None:
        """Rounds until stop() (or, with ``until_idle``, until nothing is due); waits
        ``poll`` s when nothing was due. A database that is down is waited for."""
        paused = False
        while not self._stop.is_set():
            if self._wakeup is not None:
                self._wakeup.listen()
            try:
                result = self.run_once()
            except (FacedbError, DBAPIError) as exc:
                if until_idle:
                    raise
                if not paused:  # said once per outage, not at every poll
                    log.warning("event delivery paused: %s", getattr(exc, "message", exc))
                paused = True
                result = RoundResult(0, 0, 0, 0)
            else:
                if paused:
                    log.warning("event delivery resumed")
                paused = False
            if result.attempted == 0:
                if until_idle:
                    return
                self._idle(self.poll)

    def _idle(self, seconds: float) -> None:
        """Waits ``seconds``, or less when a message is written (wakeup.py)."""
        if self._wakeup is None:
            self._stop.wait(seconds)
            return
        deadline = time.monotonic() + seconds
        while not self._stop.is_set() and (left := deadline - time.monotonic()) > 0:
            before = self._wakeup.woken
            self._wakeup.wait(left)
            if self._wakeup.woken != before:
                return

    def start(self) -> None:
        """run() on a daemon thread (facedb serve)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="facedb-delivery", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._pool.shutdown(wait=False, cancel_futures=True)
        if self.publisher is not None:
            self.publisher.close()
        if self._wakeup is not None:
            self._wakeup.close()
