"""Plain psycopg2 connections, for the commands that must answer within a second (the
payroll export, `facedb timesheet --format csv`): importing SQLAlchemy alone takes
~0.35 s on a 2-core machine. The same database, URL rules, checks and one-line errors
as store/engine.py (both take them from store/connection.py).

An embedded server that is stopped, or a schema that is behind, goes through
engine.open_database once (start, upgrade), exactly as any other command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.extensions

from facedb.config import Settings
from facedb.errors import DatabaseUnreachableError, InvalidInputError
from facedb.store import embedded
from facedb.store.connection import (
    APPLICATION_NAME,
    CONNECT_TIMEOUT_S,
    check_url,
    describe_connection_error,
    libpq_url,
)
from facedb.store.revision import HEAD_REVISION, REVISION_SQL, UNDEFINED_TABLE, require_head


def _open(url: str) -> Any:
    try:
        return psycopg2.connect(
            libpq_url(url), connect_timeout=CONNECT_TIMEOUT_S, application_name=APPLICATION_NAME
        )
    except psycopg2.ProgrammingError as exc:  # a malformed URL: libpq cannot parse it
        raise InvalidInputError(f"FACEDB_DATABASE_URL is not a valid database URL: {exc}") from None
    except psycopg2.OperationalError as exc:
        raise describe_connection_error(exc, url) from None


def _revision(conn: Any) -> str | None:
    with conn.cursor() as cursor:
        try:
            cursor.execute(REVISION_SQL)
        except psycopg2.ProgrammingError as exc:
            conn.rollback()
            if exc.pgcode == UNDEFINED_TABLE:
                return None
            raise
        row = cursor.fetchone()
    conn.rollback()
    return None if row is None else str(row[0])


def _connect(settings: Settings) -> tuple[Any, str]:
    if settings.database_url:
        check_url(settings.database_url)
        conn = _open(settings.database_url)
        try:
            require_head(_revision(conn))
        except BaseException:
            conn.close()
            raise
        return conn, settings.database_url
    server = embedded.running_server(settings.home)
    if server is not None:
        try:
            conn = _open(server.libpq_url())
        except DatabaseUnreachableError:
            conn = None  # no facedb database in it yet
        if conn is not None:
            if _revision(conn) == HEAD_REVISION:
                return conn, server.libpq_url()
            conn.close()
    # Stopped, no database yet, or behind: started, created and upgraded as by every command.
    from facedb.store.engine import open_database

    database = open_database(settings)
    database.engine.dispose()
    return _open(database.libpq_url), database.libpq_url


@contextmanager
def connect(settings: Settings) -> Iterator[Any]:
    """A psycopg2 connection on the configured database at the head revision, closed
    at the end; a server lost on the way is DatabaseUnreachableError."""
    conn, url = _connect(settings)
    try:
        yield conn
    except (psycopg2.OperationalError, psycopg2.InterfaceError) as exc:
        raise describe_connection_error(exc, url) from None
    finally:
        conn.close()
