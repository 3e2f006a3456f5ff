"""Database roles for people who read reports with their own tools (psql, a BI tool).

A reporter may read the attendance log, the views and the function that the docs send
psql users to (attendance_daily, attendance_effective, timesheet(), timesheet_today),
who the people are (users: id, name, external_id, active), and what timesheet() reads
to compute a work day (sites, groups' members, shifts and their assignments, holidays,
the dates and kinds of leave), and nothing else: not face_embeddings or evidence
(biometric data), not users.meta, not the notes of leave or corrections, not the API
keys. The password is sent as a
SCRAM-SHA-256 verifier computed on this side (as psql's \\password does), so the
clear text never reaches the server's logs, and it is never logged here.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from psycopg2 import errors as pg_errors
from psycopg2 import sql
from psycopg2.extensions import encrypt_password
from sqlalchemy import Engine

from facedb.errors import DatabaseAuthError, InvalidInputError, first_line

log = logging.getLogger(__name__)

REPORTER_TABLES = (
    "attendance",
    "attendance_daily",
    "attendance_effective",
    "timesheet_today",
    # What timesheet() reads; it runs with the reporter's rights (SECURITY INVOKER).
    "user_sites",
    "sites",
    "group_members",
    "shifts",
    "shift_assignments",
    "holidays",
)
REPORTER_USER_COLUMNS = ("id", "name", "external_id", "active")
REPORTER_LEAVE_COLUMNS = ("id", "user_id", "kind", "day_from", "day_to", "minutes")
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_role_name(role: str) -> str:
    if not _ROLE_NAME.match(role) or role.startswith("pg_"):
        raise InvalidInputError(
            f"a role name is 1 to 63 lower-case letters, digits or _, not starting with a "
            f"digit or pg_: {role!r}"
        )
    return role


def grant_reporter(engine: Engine, role: str, password: str | None = None) -> bool:
    """Creates ``role`` if needed (LOGIN when a password is given) and grants it the
    reporter's rights on this database. Returns True when the role was created."""
    check_role_name(role)
    if password is not None and (not password or "\x00" in password):
        raise InvalidInputError("the password cannot be empty or contain NUL characters")
    raw = engine.raw_connection()
    connection: Any = raw.dbapi_connection
    try:
        with connection.cursor() as cursor:
            created = _grant(cursor, connection, role, password)
        connection.commit()
    except pg_errors.InsufficientPrivilege as exc:
        connection.rollback()
        user = engine.url.username or "the database user"
        raise DatabaseAuthError(
            f"{user} may not create or grant roles on this server ({first_line(exc)}): "
            "run this as the database owner, with CREATEROLE"
        ) from None
    except BaseException:
        connection.rollback()  # the role is created and granted in one transaction, or not
        raise
    finally:
        raw.close()
    log.info("granted the reporter rights to role %s", role)
    return created


def _grant(cursor: Any, connection: Any, role: str, password: str | None) -> bool:
    name = sql.Identifier(role)
    cursor.execute(
        "SELECT rolsuper, rolcreaterole, rolname = current_user FROM pg_roles WHERE rolname = %s",
        (role,),
    )
    found = cursor.fetchone()
    if found is not None and any(found):
        raise InvalidInputError(
            f"role {role!r} is a superuser, may create roles, or is the role facedb connects "
            "as: a reporter must be an ordinary role"
        )
    if found is None:
        cursor.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(name))
    if password is not None:
        verifier = encrypt_password(password, role, connection, "scram-sha-256")
        cursor.execute(
            sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(name, sql.Literal(verifier))
        )
    cursor.execute("SELECT current_database()")
    database = cursor.fetchone()[0]
    statements = [
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), name),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(name),
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {}").format(name),
        sql.SQL("GRANT SELECT ON {} TO {}").format(
            sql.SQL(", ").join(sql.Identifier(t) for t in REPORTER_TABLES), name
        ),
        sql.SQL("GRANT SELECT ({}) ON users TO {}").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in REPORTER_USER_COLUMNS), name
        ),
        sql.SQL("GRANT SELECT ({}) ON leave TO {}").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in REPORTER_LEAVE_COLUMNS), name
        ),
        sql.SQL("GRANT EXECUTE ON FUNCTION timesheet(date, date, text, bigint[]) TO {}").format(
            name
        ),
    ]
    for statement in statements:
        cursor.execute(statement)
    return found is None
