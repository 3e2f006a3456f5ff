"""Reads from a streaming replica (FACEDB_REPLICA_URL), with read-your-writes.

Before a search or a report reads from the replica, the primary's WAL flush position
is read (pg_current_wal_flush_lsn: every transaction committed by then, by any
process, is at or before it) and the replica is waited for until it has replayed that
far. So a person enrolled a moment ago, by this process or any other, is never
unknown because the replica lags: the read sees every write committed before the
decision began. A replica that has not caught up within FACEDB_REPLICA_WAIT seconds,
or that cannot be reached, is not read: the primary answers (and a warning is logged),
so a lagging replica slows nothing beyond that wait.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from facedb.errors import first_line
from facedb.store.engine import make_engine

log = logging.getLogger(__name__)

# How often a lagging replica is asked again, in seconds.
POLL_S = 0.002
_PRIMARY_LSN = text("SELECT CAST(pg_current_wal_flush_lsn() AS text)")
# On a server that is not a replica (no replay position), every write is there.
_CAUGHT_UP = text(
    "SELECT coalesce(pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn), NOT pg_is_in_recovery())"
)


class Replica:
    """The replica's engine, made on first use (one for every thread of a process);
    no engine without a URL (FACEDB_REPLICA_URL unset)."""

    def __init__(self, url: str | None) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def engine(self) -> Engine | None:
        if self.url is None:
            return None
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = make_engine(self.url)
        return self._engine

    def dispose(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


@contextmanager
def reading(primary: Session, replica: Engine | None, wait_s: float) -> Iterator[Session]:
    """A session to read from: one on the ``replica`` once it has replayed every
    transaction the primary had committed when this was entered, else ``primary``
    itself (no replica, one too far behind after ``wait_s``, or one unreachable)."""
    if replica is None:
        yield primary
        return
    lsn = primary.execute(_PRIMARY_LSN).scalar_one()
    session = Session(replica, expire_on_commit=False)
    try:
        caught_up = _wait(session, str(lsn), wait_s)
    except DBAPIError as exc:
        session.close()
        log.warning("reading from the primary: the replica cannot be reached (%s)", first_line(exc))
        yield primary
        return
    if not caught_up:
        session.close()
        log.warning("reading from the primary: the replica is more than %.3f s behind", wait_s)
        yield primary
        return
    with session, session.begin():
        yield session


def _wait(session: Session, lsn: str, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while True:
        # Autocommit statements: each sees the replica's latest replayed state.
        if session.execute(_CAUGHT_UP, {"lsn": lsn}).scalar_one():
            session.commit()
            return True
        session.commit()
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_S)
