"""The offline spool: attendance events decided while the database was unreachable,
kept on the kiosk's disk until they are replayed into the database.

Files under FACEDB_HOME/spool/ (JSON lines: one event per line, ASCII only):

    events.jsonl           new events are appended here
    replay-<ns>.jsonl      events.jsonl, taken aside by a replay (oldest first)
    rejected.jsonl         events the database refused, with the reason (kept, not replayed)
    unreadable.txt         lines that were not a complete event (a torn last line)
    .lock                  flock: appends, take-asides and reads, between processes
    .replay.lock           flock: one replay at a time

Guarantees:

- ``append`` writes the line with one ``write`` on an O_APPEND descriptor and fsyncs
  it before returning: an event that ``append`` returned for survives a crash or a
  power cut. A crash in the middle of an append leaves at most a torn last line; the
  next append starts a new line, and readers skip such a line with a warning (it is
  copied to unreadable.txt).
- ``replay`` sends events in spool order, in batches of ``REPLAY_BATCH``, each batch
  in one transaction of the caller; the caller inserts them idempotently (ON CONFLICT
  (event_id) DO NOTHING). A spool file is deleted only after the batch holding its
  last event committed. A crash at any point therefore loses nothing, and the events
  a crash makes the next replay send again are not inserted twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from facedb.domain.attendance import AttendanceEvent
from facedb.fsio import fsync_dir, storage_error, write_all
from facedb.offline.spool_lines import event_to_line, read_events

log = logging.getLogger(__name__)

SPOOL_DIR = "spool"
EVENTS_FILE = "events.jsonl"
REJECTED_FILE = "rejected.jsonl"
UNREADABLE_FILE = "unreadable.txt"
REPLAY_PREFIX = "replay-"
DATABASE_FILE = "database"  # the target (facedb/offline/identity.py) the pending events belong to
FOREIGN_PREFIX = "other-database-"
# Events per replay transaction.
REPLAY_BATCH = 200


@dataclass(frozen=True)
class BatchOutcome:
    """What the database did with one batch: how many rows it inserted (the others
    were there already), and the events it refused, with the reason."""

    inserted: int
    refused: list[tuple[AttendanceEvent, str]] = field(default_factory=list)
    # Logged but not counted: they would change a locked pay period (offline/sync.py).
    set_aside: list[tuple[AttendanceEvent, str]] = field(default_factory=list)


# The caller's half of a replay: write one batch in one committed transaction.
WriteBatch = Callable[[list[AttendanceEvent]], BatchOutcome]


@dataclass(frozen=True)
class ReplayResult:
    sent: int  # events read from the spool and sent to the database
    inserted: int  # rows the database did not have yet
    refused: int  # events the database refused (moved to rejected.jsonl)
    unreadable: int  # lines skipped (moved to unreadable.txt)
    skipped: bool = False  # another process was replaying: nothing done
    foreign: int = 0  # events of another database, set aside (never replayed here)
    set_aside: int = 0  # logged, voided for review: they fell in a locked pay period


@dataclass(frozen=True)
class SpoolStatus:
    directory: Path
    pending: int  # events waiting to be replayed
    files: int
    oldest: datetime | None
    newest: datetime | None
    unreadable: int  # lines in the pending files that are not events
    rejected: int  # events kept in rejected.jsonl


class Spool:
    """The spool of one FACEDB_HOME. Safe to use from several threads and processes."""

    def __init__(self, home: Path, database: str | None = None) -> None:
        """``database``: the target (facedb/offline/identity.py) that events appended now
        belong to; the spool records it, and a replay towards another database sets
        the events aside instead of sending them (None: not recorded or checked)."""
        self.directory = home / SPOOL_DIR
        self.database = database

    @property
    def database_path(self) -> Path:
        return self.directory / DATABASE_FILE

    def recorded_database(self) -> str | None:
        try:
            return self.database_path.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def _bind(self) -> int:
        """Under the lock: pending events of another database are set aside (their
        count is returned), then this spool is marked as the current database's. Events
        spooled before any database was recorded (an older facedb) are taken as the
        current database's."""
        if self.database is None:
            return 0
        recorded = self.recorded_database()
        if recorded == self.database:
            return 0
        foreign = self._set_aside(recorded) if recorded is not None else 0
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.database_path.write_text(self.database + "\n", encoding="utf-8")
        fsync_dir(self.directory)
        return foreign

    def _set_aside(self, recorded: str | None) -> int:
        """Moves the pending files to other-database-N/ with their database's name."""
        pending = [p for p in self._pending_files() if _size(p) > 0]
        if not pending:
            return 0
        count = sum(len(read_events(p)[0]) for p in pending)
        index = 1
        while (self.directory / f"{FOREIGN_PREFIX}{index}").exists():
            index += 1
        aside = self.directory / f"{FOREIGN_PREFIX}{index}"
        aside.mkdir(mode=0o700)
        (aside / DATABASE_FILE).write_text((recorded or "not recorded") + "\n", encoding="utf-8")
        for path in pending:
            path.rename(aside / path.name)
        fsync_dir(self.directory)
        log.warning(
            "%d spooled event(s) belong to another database (%s), not %s: set aside in %s, "
            "never replayed here",
            count,
            recorded or "not recorded",
            self.database,
            aside,
        )
        return count

    @property
    def events_path(self) -> Path:
        return self.directory / EVENTS_FILE

    # -- writing ------------------------------------------------------------------

    def append(self, event: AttendanceEvent) -> None:
        """Adds one event, durably (fsync'd) before returning."""
        line = event_to_line(event)
        with self._locked(".lock"):
            self._bind()
            fd = os.open(self.events_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    # The last append was torn by a crash: end that line first.
                    line = b"\n" + line
                write_all(fd, line)
                os.fsync(fd)
            except OSError as exc:
                with contextlib.suppress(OSError):  # no half line left behind
                    os.ftruncate(fd, size)
                raise storage_error(
                    exc, f"the attempt to the offline spool {self.events_path} (it is not logged)"
                ) from None
            finally:
                os.close(fd)
            if size == 0:
                fsync_dir(self.directory)
        log.info("spooled attendance event %s (%s)", event.event_id, event.decision)

    # -- reading ------------------------------------------------------------------

    def pending(self) -> list[AttendanceEvent]:
        """The events waiting to be replayed, oldest first (unreadable lines skipped)."""
        with self._locked(".lock"):
            return [e for path in self._pending_files() for e in read_events(path)[0]]

    def has_pending(self) -> bool:
        """Cheap: whether any spool file with content exists (no parsing)."""
        return any(_size(p) > 0 for p in self._pending_files())

    def accepted_since(self, user_id: int, device: str, since: datetime) -> bool:
        """Whether the spool holds an accepted event of this person at this device since then."""
        return any(
            e.decision == "accepted"
            and e.user_id == user_id
            and e.device == device
            and e.occurred_at >= since
            for e in self.pending()
        )

    def status(self) -> SpoolStatus:
        with self._locked(".lock"):
            files = self._pending_files()
            events: list[AttendanceEvent] = []
            unreadable = 0
            for path in files:
                good, bad = read_events(path)
                events.extend(good)
                unreadable += len(bad)
        rejected_path = self.directory / REJECTED_FILE
        rejected = _count_lines(rejected_path) if rejected_path.exists() else 0
        moments = [e.occurred_at for e in events]
        return SpoolStatus(
            directory=self.directory,
            pending=len(events),
            files=sum(1 for p in files if _size(p) > 0),
            oldest=min(moments) if moments else None,
            newest=max(moments) if moments else None,
            unreadable=unreadable,
            rejected=rejected,
        )

    # -- replay -------------------------------------------------------------------

    def replay(self, write_batch: WriteBatch, *, wait: bool = True) -> ReplayResult:
        """Sends every pending event to ``write_batch``, in order, and deletes each
        spool file once all its events are committed. ``wait``: when another process is
        replaying, wait for it (True) or return at once with ``skipped`` (False).

        An exception of ``write_batch`` (the database went away) propagates; what was
        not committed stays in the spool for the next replay."""
        if not self.directory.is_dir():
            return ReplayResult(0, 0, 0, 0)
        with self._locked(".replay.lock", wait=wait) as acquired:
            if not acquired:
                return ReplayResult(0, 0, 0, 0, skipped=True)
            foreign = 0
            if self.database is not None and self.recorded_database() not in (None, self.database):
                with self._locked(".lock"):
                    foreign = self._bind()
            self._take_aside()
            sent = inserted = refused = unreadable = set_aside = 0
            for path in sorted(self.directory.glob(f"{REPLAY_PREFIX}*.jsonl")):
                events, bad_lines = read_events(path)
                for start in range(0, len(events), REPLAY_BATCH):
                    outcome = write_batch(events[start : start + REPLAY_BATCH])
                    sent += min(REPLAY_BATCH, len(events) - start)
                    inserted += outcome.inserted
                    refused += len(outcome.refused)
                    set_aside += len(outcome.set_aside)
                    self._keep_refused(outcome.refused)
                    for event, reason in outcome.set_aside:
                        log.warning("spooled event %s set aside: %s", event.event_id, reason)
                if bad_lines:
                    unreadable += len(bad_lines)
                    self._keep_unreadable(path, bad_lines)
                path.unlink()
                fsync_dir(self.directory)
                log.info("replayed %s: %d event(s)", path.name, len(events))
            return ReplayResult(
                sent, inserted, refused, unreadable, foreign=foreign, set_aside=set_aside
            )

    def _take_aside(self) -> None:
        """Renames events.jsonl to a replay file, so that appends go on meanwhile."""
        with self._locked(".lock"):
            if _size(self.events_path) > 0:
                target = self.directory / f"{REPLAY_PREFIX}{time.time_ns():020d}.jsonl"
                os.replace(self.events_path, target)
                fsync_dir(self.directory)

    def _keep_refused(self, refused: list[tuple[AttendanceEvent, str]]) -> None:
        for event, reason in refused:
            log.warning("the database refused spooled event %s: %s", event.event_id, reason)
            record = json.loads(event_to_line(event))
            record["refused"] = reason
            self._append_raw(REJECTED_FILE, json.dumps(record, ensure_ascii=True) + "\n")

    def _keep_unreadable(self, path: Path, lines: list[bytes]) -> None:
        for line in lines:
            log.warning("skipping a line of %s that is not a complete event", path.name)
            text = line.decode("ascii", errors="backslashreplace")
            self._append_raw(UNREADABLE_FILE, f"{path.name}: {text}\n")

    def _append_raw(self, name: str, text: str) -> None:
        with self._locked(".lock"):
            fd = os.open(self.directory / name, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                write_all(fd, text.encode("ascii", errors="backslashreplace"))
                os.fsync(fd)
            finally:
                os.close(fd)

    # -- helpers ------------------------------------------------------------------

    def _pending_files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        files = sorted(self.directory.glob(f"{REPLAY_PREFIX}*.jsonl"))
        if self.events_path.exists():
            files.append(self.events_path)
        return files

    @contextmanager
    def _locked(self, name: str, *, wait: bool = True) -> Iterator[bool]:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.directory / name, "a+") as handle:
            flags = fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB
            try:
                fcntl.flock(handle, flags)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _size(path: Path) -> int:
    """The size of a spool file; 0 when it is gone (replayed by another process)."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _count_lines(path: Path) -> int:
    return sum(1 for line in path.read_bytes().split(b"\n") if line.strip())
