"""The schema revision this facedb needs, and the one check every command makes.

No SQLAlchemy or alembic import: store/direct.py (the fast payroll export) checks the
revision too. tests/test_migrations.py keeps HEAD_REVISION equal to the scripts' head."""

from __future__ import annotations

from facedb.errors import MigrationNotAppliedError

HEAD_REVISION = "0014_search_codes"
# How every driver reads a database's revision; UNDEFINED_TABLE: none yet.
REVISION_SQL = "SELECT version_num FROM alembic_version"
UNDEFINED_TABLE = "42P01"


def require_head(current: str | None) -> None:
    """MigrationNotAppliedError unless a database at ``current`` is at HEAD_REVISION."""
    if current != HEAD_REVISION:
        raise MigrationNotAppliedError(
            f"the database schema is at {current or 'no revision'} but this facedb "
            f"needs {HEAD_REVISION}: run `facedb db upgrade`"
        )
