"""What every table module builds on, and nothing else: the declarative Base, the
column helpers and the embedding dimension (a leaf: imports no table)."""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

EMBEDDING_DIM = 512


class Base(DeclarativeBase):
    pass


def one_of(column: str, values: tuple[str, ...]) -> str:
    """A CHECK constraint's text: the column holds one of these values."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"
