"""Database administration (`facedb db ...`): status, migrations, URL, psql, the
reporter role and the embedded server."""

from __future__ import annotations

import time
from dataclasses import dataclass

from facedb.config import Settings
from facedb.errors import InvalidInputError
from facedb.store import embedded, migrate, roles
from facedb.store.admin import DatabaseStatus, database_status
from facedb.store.engine import Database, open_database


@dataclass(frozen=True)
class StatusReport:
    info: DatabaseStatus
    elapsed_ms: float  # connecting included


def status() -> StatusReport:
    """Server kind, versions, schema revision and row counts; the schema may be behind."""
    started = time.perf_counter()
    info = database_status(open_database(Settings.load(), require_schema=False))
    return StatusReport(info, (time.perf_counter() - started) * 1000)


def _unmigrated() -> Database:
    return open_database(Settings.load(), require_schema=False, auto_upgrade=False)


def upgrade(revision: str) -> str | None:
    """Applies migrations up to ``revision``; the revision the schema is at after."""
    database = _unmigrated()
    migrate.upgrade(database.engine, revision)
    return migrate.current_revision(database.engine)


def downgrade(revision: str) -> str | None:
    """Reverts migrations down to ``revision``; None when at base."""
    database = _unmigrated()
    migrate.downgrade(database.engine, revision)
    return migrate.current_revision(database.engine)


def url(show_password: bool) -> str:
    """The libpq URL of the database, its password masked unless ``show_password``."""
    database = open_database(Settings.load(), require_schema=False)
    return database.libpq_url if show_password else database.masked_url()


def psql_argv(extra: tuple[str, ...]) -> list[str]:
    """The command line of the bundled psql on the database (argv[0] is the program)."""
    database = open_database(Settings.load(), require_schema=False)
    return [str(embedded.bin_dir() / "psql"), database.libpq_url, *extra]


def grant_reporter(role: str, password: str | None) -> bool:
    """Creates or updates the read-only reporter role; True when created."""
    database = open_database(Settings.load())
    return roles.grant_reporter(database.engine, role, password)


def _embedded_settings() -> Settings:
    settings = Settings.load()
    if settings.database_url:
        raise InvalidInputError("FACEDB_DATABASE_URL is set: facedb does not manage that server")
    return settings


def start_embedded() -> str:
    """Starts the embedded server (if not running); its masked URL."""
    return open_database(_embedded_settings(), require_schema=False).masked_url()


def stop_embedded() -> bool:
    """Stops the embedded server; False when it was not running."""
    settings = _embedded_settings()
    with embedded.home_lock(settings.home):
        return embedded.stop(settings.home)
