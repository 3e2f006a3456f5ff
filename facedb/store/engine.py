"""Which PostgreSQL to use, and an engine on it that is ready for facedb.

With FACEDB_DATABASE_URL the engine points at that server and is only checked
(reachable, pgvector available, schema at the head revision). Without it, the
embedded server is started when needed and upgraded automatically.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

from facedb.config import Settings
from facedb.errors import (
    ExtensionMissingError,
    InvalidInputError,
)
from facedb.secrets import mask_url
from facedb.store import embedded, migrate
from facedb.store.connection import (
    APPLICATION_NAME,
    CONNECT_TIMEOUT_S,
    check_url,
    describe_connection_error,
    libpq_url,
    sqlalchemy_url,
)
from facedb.store.revision import require_head

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Database:
    """An engine on a facedb database, and where it is."""

    engine: Engine
    embedded: bool
    libpq_url: str  # for psql; holds the password of an external server
    home: Path

    def masked_url(self) -> str:
        return mask_url(self.libpq_url)


def make_engine(url: str) -> Engine:
    check_url(url)
    try:
        return create_engine(
            sqlalchemy_url(url),
            pool_pre_ping=True,
            # Parameters hold embeddings (biometric data): never in logs or error messages.
            hide_parameters=True,
            connect_args={
                "connect_timeout": CONNECT_TIMEOUT_S,
                "application_name": APPLICATION_NAME,
            },
        )
    except (ArgumentError, ValueError) as exc:
        raise InvalidInputError(f"FACEDB_DATABASE_URL is not a valid database URL: {exc}") from None


# SQLSTATEs of a server that went away: connection exceptions (class 08) and the
# server shutting down or starting up (57P01-57P03).
_CONNECTION_LOST_STATES = ("57P01", "57P02", "57P03")


def connection_lost(exc: DBAPIError) -> bool:
    """Whether a database error means the server cannot be reached (down, restarting,
    network gone), as opposed to an error of the statement (a deadlock, a constraint)."""
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    code = getattr(exc.orig, "pgcode", None)
    # No SQLSTATE: libpq failed before or outside any statement (refused, no socket).
    return code is None or code.startswith("08") or code in _CONNECTION_LOST_STATES


@contextmanager
def transaction(settings: Settings, database: Callable[[], Database]) -> Iterator[Session]:
    """A session in one transaction on ``database()`` (opened on first use), committed
    at the end. A server that goes away (down, restarting, network lost) is
    DatabaseUnreachableError, not a traceback."""
    opened: Database | None = None
    try:
        opened = database()
        with Session(opened.engine, expire_on_commit=False) as session, session.begin():
            yield session
    except DBAPIError as exc:
        if not connection_lost(exc):
            raise
        where = (
            opened.libpq_url
            if opened is not None
            else settings.database_url or "the embedded server"
        )
        raise describe_connection_error(exc, where) from None


def check_connection(engine: Engine) -> None:
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as exc:
        raise describe_connection_error(
            exc, engine.url.render_as_string(hide_password=False)
        ) from None


def check_pgvector(engine: Engine) -> None:
    with engine.connect() as conn:
        available = conn.execute(
            text("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        ).first()
    if available is None:
        raise ExtensionMissingError(
            "the pgvector extension is not installed on the database server: install it "
            "(e.g. the pgvector/pgvector image, or apt install postgresql-NN-pgvector)"
        )


def open_database(
    settings: Settings, *, require_schema: bool = True, auto_upgrade: bool = True
) -> Database:
    """An engine on the configured database, checked.

    An external database must be at the head revision when require_schema is set;
    the embedded one is upgraded to it unless auto_upgrade is off (`facedb db
    upgrade/downgrade` manage the revision themselves).
    """
    if settings.database_url:
        engine = make_engine(settings.database_url)
        check_connection(engine)
        check_pgvector(engine)
        if require_schema:
            require_head(migrate.current_revision(engine))
        return Database(engine, False, libpq_url(settings.database_url), settings.home)
    return _open_embedded(settings.home, upgrade=auto_upgrade)


def _open_embedded(home: Path, *, upgrade: bool) -> Database:
    with embedded.home_lock(home):
        server = embedded.start(home)
        admin = make_engine(server.url("postgres"))
        try:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                exists = conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"),
                    {"name": embedded.DATABASE},
                ).first()
                if exists is None:
                    conn.execute(text(f'CREATE DATABASE "{embedded.DATABASE}"'))
        except OperationalError as exc:
            raise describe_connection_error(exc, server.url("postgres")) from None
        finally:
            admin.dispose()
        engine = make_engine(server.url())
        if upgrade and migrate.current_revision(engine) != migrate.head_revision():
            log.info("upgrading the embedded database to %s", migrate.head_revision())
            migrate.upgrade(engine)
    return Database(engine, True, server.libpq_url(), home)


def database_name(url: str) -> str:
    return make_url(sqlalchemy_url(url)).database or ""
