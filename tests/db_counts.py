"""Row counts of the tables a refused input must leave unchanged."""

from __future__ import annotations

from sqlalchemy import func, select

from facedb.config import Settings
from facedb.service import FaceService
from facedb.store.tables.core import Attendance, FaceEmbedding, User


def row_counts(settings: Settings) -> tuple[int, int, int]:
    """(users, face embeddings, attendance rows) in the settings' database."""
    service = FaceService(settings)
    try:
        with service.transaction() as session:
            users, faces, rows = (
                int(session.execute(select(func.count()).select_from(table)).scalar_one())
                for table in (User, FaceEmbedding, Attendance)
            )
    finally:
        service.close()
    return users, faces, rows
