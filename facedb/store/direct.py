"""Plain psycopg2 connections, for the commands that must answer within a second (the
payroll export, `facedb timesheet --format csv`): importing SQLAlchemy alone takes
~0.35 s on a 2-core machine. The same database, URL rules, checks and one-line errors
as store/engine.py, which takes its URL and error helpers from here.

An embedded server that is stopped, or a schema that is behind, goes through
engine.open_database once (start, upgrade), exactly as any other command."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg2
import psycopg2.extensions

from facedb.config import Settings
from facedb.errors import (
    DatabaseAuthError,
    DatabaseUnreachableError,
    InvalidInputError,
    first_line,
)
from facedb.secrets import mask_text, mask_url
from facedb.store import embedded
from facedb.store.revision import HEAD_REVISION, REVISION_SQL, UNDEFINED_TABLE, require_head

CONNECT_TIMEOUT_S = 5
APPLICATION_NAME = "facedb"
_SCHEMES = ("postgresql", "postgres")
_DRIVERS = ("postgresql", "postgres", "psycopg2")


def libpq_url(url: str) -> str:
    return re.sub(r"^postgresql\+\w+://", "postgresql://", url)


def check_url(url: str) -> None:
    """InvalidInputError unless FACEDB_DATABASE_URL names PostgreSQL (through psycopg2)
    in a form libpq parses, before any connection: an unknown option (``?foo=bar``) is
    one line, not a traceback from the first query, and a user name or password with
    an unencoded "@" is refused, since libpq would take what follows it for the host
    name and print it (the password's tail) in its error."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme.split("+", 1)[0] not in _SCHEMES or scheme.split("+", 1)[-1] not in _DRIVERS:
        raise InvalidInputError(
            f"FACEDB_DATABASE_URL must be a postgresql:// URL, not {mask_url(url)!r}"
        )
    authority = re.split(r"[/?#]", url.split("://", 1)[1], maxsplit=1)[0]
    if authority.count("@") > 1:
        raise InvalidInputError(
            "FACEDB_DATABASE_URL: the user name or password holds an unencoded '@' "
            f"(write it as %40): {mask_url(url)}"
        )
    try:
        psycopg2.extensions.parse_dsn(libpq_url(url))
    except psycopg2.ProgrammingError as exc:
        detail = first_line(exc).removeprefix("invalid dsn: ")
        raise InvalidInputError(
            f"FACEDB_DATABASE_URL is not a valid database URL ({_without_secrets(detail, url)}): "
            f"{mask_url(url)}"
        ) from None


def _without_secrets(detail: str, url: str) -> str:
    """libpq's message, with any quoted part of the URL's user-info masked."""
    userinfo = url.split("://", 1)[1].rpartition("@")[0] if "@" in url else ""

    def mask(match: re.Match[str]) -> str:
        return '"***"' if match.group(1) and match.group(1) in userinfo else match.group(0)

    return mask_text(re.sub(r'"([^"]*)"', mask, detail))


def describe_connection_error(
    exc: BaseException, url: str
) -> DatabaseAuthError | DatabaseUnreachableError:
    """One line a person understands for a failed connection."""
    detail = mask_text(first_line(exc))
    where = mask_url(libpq_url(url))
    if "password authentication failed" in detail or "no password supplied" in detail:
        return DatabaseAuthError(f"the database refused the credentials in {where}: {detail}")
    return DatabaseUnreachableError(f"cannot reach the database at {where}: {detail}")


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
