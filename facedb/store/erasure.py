"""Erasure that reaches the disk: after a person's faces are deleted (``users forget``),
their vectors still lie in PostgreSQL's files until those are rewritten. A DELETE only
marks rows dead; a plain VACUUM marks their space free without overwriting it; the HNSW
index keeps its copy of each vector; and the WAL holds the inserts and the full-page
images of every page the deletion touched.

``shred`` rewrites what holds vectors and pushes the old WAL out:

1. ``VACUUM (FULL, ANALYZE)`` of each table in ``VECTOR_TABLES`` (face_embeddings,
   face_codes, evidence): a new heap, a new TOAST table and every index rebuilt (the HNSW index
   too) from the live rows only; the old files are truncated at commit and unlinked
   at the next checkpoint. It holds an ACCESS EXCLUSIVE lock on face_embeddings while
   it runs: verifications wait (measured on a shared 2-core CPU: 3.4 s at 1,000
   faces, 48 s at 10,000, most of it the HNSW build), enrolment waits too. It gives
   up after ``lock_timeout_s`` if another transaction holds the table.
2. ``VACUUM FULL pg_statistic``: the planner's sample of the embedding column (its
   histogram can hold vectors), taken again by step 1's ANALYZE without the person,
   has its old rows rewritten away.
3. ``wal_recycle = off`` (so that old WAL segments are deleted, not renamed and kept
   with their contents), ``CHECKPOINT``, ``pg_switch_wal()``, ``CHECKPOINT``: every
   segment that held the person's rows is before the last checkpoint and removed.

Steps 2 and 3 need a superuser (the embedded server's role is one). On an external
server without that right, facedb does what it may and says what it could not do in
``ShredReport.notes``. What no database command reaches: WAL archives
(archive_command), streaming replicas' own WAL, base backups, and blocks of deleted
files that the file system has not yet reused.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from facedb.errors import first_line

log = logging.getLogger(__name__)

DEFAULT_LOCK_TIMEOUT_S = 30.0
# Every table that holds a person's face: stored faces, their binary codes
# (store/search.py's stage two), the probe embeddings and thumbnails kept as evidence
# of doubtful decisions (store/evidence.py), and the faces a review found were not the
# person accepted (store/templates.py).
VECTOR_TABLES = ("face_embeddings", "face_codes", "evidence", "non_matches")


@dataclass(frozen=True)
class ShredReport:
    """What ``shred`` did. ``complete``: every step ran; ``notes``: the steps that
    could not run and why (one line each)."""

    rewritten: tuple[str, ...]  # tables rewritten with their indexes
    statistics_rewritten: bool
    wal_switched: bool
    seconds: float
    notes: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.notes


def shred(engine: Engine, *, lock_timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> ShredReport:
    """Rewrites the tables that hold vectors and pushes the WAL that held the deleted
    rows past a checkpoint (see the module's docstring). Never raises for a step the
    role may not run: it is reported in ``notes``."""
    started = time.monotonic()
    notes: list[str] = []
    rewritten: list[str] = []
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f"SET lock_timeout = '{int(lock_timeout_s * 1000)}ms'"))
        for table in VECTOR_TABLES:
            if _run(conn, f"VACUUM (FULL, ANALYZE) {table}", notes):
                rewritten.append(table)
        superuser = bool(
            conn.execute(
                text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            ).scalar()
        )
        statistics = superuser and _run(conn, "VACUUM FULL pg_catalog.pg_statistic", notes)
        if not superuser:
            notes.append(
                "not a superuser: the planner statistics, the checkpoint and the WAL "
                "switch were left to the server (old WAL goes at its next checkpoints)"
            )
            wal = False
        else:
            wal = (
                _run(conn, "ALTER SYSTEM SET wal_recycle = off", notes)
                and _run(conn, "SELECT pg_reload_conf()", notes)
                and _run(conn, "CHECKPOINT", notes)
                and _run(conn, "SELECT pg_switch_wal()", notes)
                and _run(conn, "CHECKPOINT", notes)
            )
        if wal:
            notes.extend(_wal_keepers(conn))
    report = ShredReport(
        tuple(rewritten), statistics, wal, round(time.monotonic() - started, 3), tuple(notes)
    )
    log.info(
        "shredded %s in %.2f s%s",
        ", ".join(rewritten) or "nothing",
        report.seconds,
        "" if report.complete else ": " + "; ".join(notes),
    )
    return report


def _run(conn: Connection, statement: str, notes: list[str]) -> bool:
    try:
        conn.execute(text(statement))
    except DBAPIError as exc:
        notes.append(f"{statement.split(' (')[0]}: {first_line(exc)}")
        return False
    return True


def _wal_keepers(conn: Connection) -> list[str]:
    """What makes the server keep old WAL after a checkpoint: archiving, slots,
    wal_keep_size (each a note)."""
    notes = []
    archive = conn.execute(text("SELECT current_setting('archive_mode')")).scalar()
    if archive not in (None, "off"):
        notes.append("WAL archiving is on: archived segments still hold the deleted rows")
    slots = conn.execute(text("SELECT count(*) FROM pg_replication_slots")).scalar() or 0
    if slots:
        notes.append(f"{slots} replication slot(s) keep old WAL until their consumers catch up")
    keep = conn.execute(text("SELECT current_setting('wal_keep_size')")).scalar()
    if keep not in (None, "0", "0MB"):
        notes.append(f"wal_keep_size = {keep} keeps that much old WAL")
    return notes
