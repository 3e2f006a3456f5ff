"""What an administrator asks of the database: versions, revision, row counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text

from facedb.store import migrate
from facedb.store.engine import Database
from facedb.store.tables.core import ApiKey, Attendance, FaceEmbedding, User


@dataclass(frozen=True)
class DatabaseStatus:
    server: str  # "embedded" or "external"
    url: str  # password masked
    data_dir: str | None  # the embedded cluster's folder
    postgres_version: str
    started_at: datetime  # when the server started: equal on two calls = one server
    pgvector_version: str | None
    revision: str | None
    head_revision: str
    users: int | None
    embeddings: int | None
    attendance: int | None

    @property
    def up_to_date(self) -> bool:
        return self.revision == self.head_revision


def database_status(db: Database) -> DatabaseStatus:
    revision = migrate.current_revision(db.engine)
    head = migrate.head_revision()
    with db.engine.connect() as conn:
        pg_version = conn.execute(text("SHOW server_version")).scalar_one()
        started_at = conn.execute(text("SELECT pg_postmaster_start_time()")).scalar_one()
        vector_version = conn.execute(
            text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        ).scalar()
        counts: list[int | None] = [None, None, None]
        if revision is not None:
            counts = [
                conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (User, FaceEmbedding, Attendance)
            ]
    return DatabaseStatus(
        server="embedded" if db.embedded else "external",
        url=db.masked_url(),
        data_dir=str(db.home / "pgdata") if db.embedded else None,
        postgres_version=str(pg_version),
        started_at=started_at,
        pgvector_version=vector_version,
        revision=revision,
        head_revision=head,
        users=counts[0],
        embeddings=counts[1],
        attendance=counts[2],
    )


def server_clock_and_keys(db: Database, *, count_keys: bool) -> tuple[datetime, int | None]:
    """The server's clock, and (``count_keys``: the schema is at the head) how many API
    keys are live."""
    with db.engine.connect() as conn:
        server_now = conn.execute(text("SELECT now()")).scalar_one()
        keys = None
        if count_keys:
            keys = conn.execute(
                select(func.count()).select_from(ApiKey).where(ApiKey.revoked_at.is_(None))
            ).scalar_one()
    return server_now, None if keys is None else int(keys)
