"""Alembic, configured in code from the package's own migrations/ (shipped as
facedb.migrations), so that an installed wheel can upgrade a database too.

Every command checks the schema revision on start, so that check reads the
alembic_version table with one query and compares it with HEAD_REVISION: importing
alembic and walking the migration scripts would cost every command ~0.2 s.
tests/test_migrations.py keeps HEAD_REVISION equal to the scripts' head."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from facedb.errors import ExtensionMissingError, first_line
from facedb.store.revision import HEAD_REVISION, REVISION_SQL, UNDEFINED_TABLE

if TYPE_CHECKING:
    from alembic.config import Config


_INSUFFICIENT_PRIVILEGE = "42501"


def migrations_dir() -> Path:
    return Path(str(resources.files("facedb.migrations")))


def alembic_config(engine: Engine | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    return HEAD_REVISION


def scripts_head() -> str | None:
    """The head revision as alembic finds it in the migration scripts."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The database's revision; None before the first migration."""
    with engine.connect() as conn:
        try:
            return conn.execute(text(REVISION_SQL)).scalar()
        except ProgrammingError as exc:
            if getattr(exc.orig, "pgcode", None) == UNDEFINED_TABLE:
                return None
            raise


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Runs the migrations up to ``revision``. A role that may not create the pgvector
    extension (not yet created in the database) is ExtensionMissingError (exit 14)."""
    from alembic import command

    try:
        command.upgrade(alembic_config(engine), revision)
    except DBAPIError as exc:
        detail = first_line(exc)
        if getattr(exc.orig, "pgcode", None) == _INSUFFICIENT_PRIVILEGE and "extension" in detail:
            raise ExtensionMissingError(
                f"cannot create the pgvector extension in this database ({detail}): "
                "run CREATE EXTENSION vector once as a superuser, then facedb db upgrade"
            ) from None
        raise


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(engine), revision)


def history() -> list[tuple[str, str]]:
    """(revision, message) from base to head."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return [(s.revision, s.doc or "") for s in reversed(list(script.walk_revisions()))]
