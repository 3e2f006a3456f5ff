"""Wakes the delivery worker as soon as a message is written, instead of at its
next poll: store/outbox.py NOTIFYs the channel in the writing transaction
(PostgreSQL delivers it at commit, never for a rollback), and the worker LISTENs on
a connection of its own. Polling stays as the fallback: a lost connection or a
missed notification delays a delivery by one poll, never more."""

from __future__ import annotations

import logging
import select
import threading
from collections.abc import Callable
from typing import Any

from facedb.store import outbox

log = logging.getLogger(__name__)

CHANNEL = outbox.NOTIFY_CHANNEL


class Wakeup:
    """``connect``: a new DBAPI (psycopg2) connection, not from a pool."""

    def __init__(self, connect: Callable[[], Any], stop: threading.Event) -> None:
        self.connect = connect
        self.stop = stop
        self._connection: Any = None
        self.woken = 0  # notifications received so far

    def listen(self) -> None:
        """LISTENs now if not already (before a round, so that nothing written
        during the round is missed)."""
        if self._connection is not None:
            return
        try:
            connection = self.connect()
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute(f"LISTEN {CHANNEL}")
        except Exception as exc:  # the database may be down: poll instead
            log.debug("no LISTEN (%s): polling", exc)
            return
        self._connection = connection

    def wait(self, timeout: float) -> None:
        """Until a message is written, stop is set (within a second), or timeout."""
        if self._connection is None:
            self.stop.wait(timeout)
            return
        try:
            ready, _, _ = select.select([self._connection], [], [], min(timeout, 1.0))
            if ready:
                self._connection.poll()
                if self._connection.notifies:
                    self.woken += 1
                self._connection.notifies.clear()
        except Exception as exc:  # a lost connection: listen again at the next round
            log.debug("LISTEN connection lost (%s)", exc)
            self.close()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                connection.close()
            except Exception as exc:
                log.debug("closing the LISTEN connection: %s", exc)
