"""Where a database is and how a failed connection is told: the URL rules (libpq,
SQLAlchemy and the form local copies record), the connection timeout and the one-line
errors. Plain strings: no SQLAlchemy, and the driver only to check a URL (store/direct.py answers within a
second with psycopg2 alone; store/engine.py builds SQLAlchemy engines)."""

from __future__ import annotations

import re

from facedb.errors import DatabaseAuthError, DatabaseUnreachableError, InvalidInputError, first_line
from facedb.secrets import mask_text, mask_url

CONNECT_TIMEOUT_S = 5
APPLICATION_NAME = "facedb"
_SCHEMES = ("postgresql", "postgres")
_DRIVERS = ("postgresql", "postgres", "psycopg2")


def libpq_url(url: str) -> str:
    """The URL as libpq and psql take it: postgresql://, no driver."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme.split("+", 1)[0].lower() in _SCHEMES:
        return "postgresql://" + rest
    return url


def sqlalchemy_url(url: str) -> str:
    """Accepts libpq-style postgres:// URLs as well as SQLAlchemy ones."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix) :]
    return url


def check_url(url: str) -> None:
    """InvalidInputError unless FACEDB_DATABASE_URL names PostgreSQL (through psycopg2)
    in a form libpq parses, before any connection: an unknown option (``?foo=bar``) is
    one line, not a traceback from the first query, and a user name or password with
    an unencoded "@" is refused, since libpq would take what follows it for the host
    name and print it (the password's tail) in its error."""
    import psycopg2.extensions  # the driver only when a URL is checked

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


def recorded_url(url: str) -> str:
    """The URL as local copies record their database (offline/identity.py): libpq form,
    password masked (a password change is the same database)."""
    return mask_url(libpq_url(url))


def describe_connection_error(
    exc: BaseException, url: str
) -> DatabaseAuthError | DatabaseUnreachableError:
    """One line a person understands for a failed connection."""
    detail = mask_text(first_line(exc))
    where = mask_url(libpq_url(url))
    if "password authentication failed" in detail or "no password supplied" in detail:
        return DatabaseAuthError(f"the database refused the credentials in {where}: {detail}")
    return DatabaseUnreachableError(f"cannot reach the database at {where}: {detail}")
