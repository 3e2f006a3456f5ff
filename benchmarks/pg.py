"""A dedicated embedded PostgreSQL for a benchmark: its own FACEDB_HOME in a temporary
folder (not under /tmp/pytest-of-*: the server runs as another user when started by
root), upgraded by facedb's migrations, stopped and removed at the end."""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from facedb.config import Settings
from facedb.store import embedded
from facedb.store.engine import Database, open_database


@contextmanager
def bench_database() -> Iterator[Database]:
    home = Path(tempfile.mkdtemp(prefix="facedb-bench-pg-"))
    database = None
    try:
        # open_database starts the embedded server (embedded.start), creates the
        # database and runs the migrations (migrate.upgrade), as facedb does.
        database = open_database(Settings(home=home))
        yield database
    finally:
        if database is not None:
            database.engine.dispose()
        with embedded.home_lock(home):
            embedded.stop(home)
        shutil.rmtree(home, ignore_errors=True)


def restart(database: Database, settings: dict[str, str | None]) -> Database:
    """The same embedded server restarted with ALTER SYSTEM settings (None resets one)."""
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for name, value in settings.items():
            if value is None:
                conn.execute(text(f"ALTER SYSTEM RESET {name}"))
            else:
                conn.execute(text(f"ALTER SYSTEM SET {name} = '{value}'"))
    database.engine.dispose()
    with embedded.home_lock(database.home):
        embedded.stop(database.home)
    return open_database(Settings(home=database.home))


def copy_in(engine: Engine, statement: str, data: bytes) -> None:
    """COPY ... FROM STDIN with psycopg2, in one transaction."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.copy_expert(statement, io.BytesIO(data))
        raw.commit()
    finally:
        raw.close()


def setting(engine: Engine, name: str) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text(f"SHOW {name}")).scalar_one())


def server_version(engine: Engine) -> tuple[str, str]:
    """(PostgreSQL version, pgvector version)."""
    with engine.connect() as conn:
        pg = str(conn.execute(text("SHOW server_version")).scalar_one())
        vector = conn.execute(
            text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        ).scalar()
    return pg, str(vector)
