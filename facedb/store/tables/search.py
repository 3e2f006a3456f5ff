"""The binary codes that stage two of a 1:N search scans (facedb/store/search.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Text
from sqlalchemy.dialects.postgresql import BIT
from sqlalchemy.orm import Mapped, mapped_column

from facedb.store.tables.base import EMBEDDING_DIM, Base


class FaceCode(Base):
    """The binary code of each stored face (pgvector's binary_quantize: the signs of its
    512 values, 64 bytes), kept in step with face_embeddings by the trigger
    face_codes_sync (migration 0013_search_stage). Stage two of a search scans these
    by Hamming distance, a table a twentieth the size of the faces' (store/search.py)."""

    __tablename__ = "face_codes"

    embedding_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("face_embeddings.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    model: Mapped[str] = mapped_column(Text, nullable=False)
    code: Mapped[Any] = mapped_column(BIT(EMBEDDING_DIM), nullable=False)
