"""Alembic environment. facedb passes its engine in config.attributes["engine"];
developers running `alembic` by hand get the URL from facedb's settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from facedb.store.tables.base import Base

target_metadata = Base.metadata


def _engine() -> Engine:
    engine = context.config.attributes.get("engine")
    if engine is not None:
        return engine  # type: ignore[no-any-return]
    from facedb.config import Settings
    from facedb.store.engine import open_database

    return open_database(Settings.load(), require_schema=False).engine


def include_object(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    # The alembic_version table is alembic's own.
    return not (type_ == "table" and name == "alembic_version")


def run_migrations_online() -> None:
    with _engine().connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            include_object=include_object,
            transaction_per_migration=True,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("facedb migrations run online only: `facedb db upgrade`")
run_migrations_online()
