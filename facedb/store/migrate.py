"""Alembic, configured in code from the package's own migrations/ (shipped as
facedb.migrations), so that an installed wheel can upgrade a database too."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from facedb.errors import ExtensionMissingError, first_line

_INSUFFICIENT_PRIVILEGE = "42501"


def migrations_dir() -> Path:
    return Path(str(resources.files("facedb.migrations")))


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError("facedb ships no migrations")
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Runs the migrations up to ``revision``. A role that may not create the pgvector
    extension (not yet created in the database) is ExtensionMissingError (exit 14)."""
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
    command.downgrade(alembic_config(engine), revision)


def history() -> list[tuple[str, str]]:
    """(revision, message) from base to head."""
    script = ScriptDirectory.from_config(alembic_config())
    return [(s.revision, s.doc or "") for s in reversed(list(script.walk_revisions()))]
