"""The SQL of a backup's restore (usecases/backup.py): whether a database holds data,
and an empty database made in place of the embedded one."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, text


def first_table_with_rows(engine: Engine, tables: Sequence[str]) -> str | None:
    """The first of ``tables`` that exists and holds a row; None when none does."""
    with engine.connect() as conn:
        for table in tables:
            exists = conn.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar()
            if exists and conn.execute(text(f"SELECT EXISTS (SELECT 1 FROM {table})")).scalar():
                return table
    return None


def recreate_database(admin: Engine, name: str) -> None:
    """Drops ``name`` (ending its connections) and creates it empty."""
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
