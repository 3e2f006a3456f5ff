"""Unique names: the database's unique violation, as the error a caller can read."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from facedb.errors import DuplicateNameError


@contextmanager
def refused_as_duplicate(session: Session, message: str, **by_column: str) -> Iterator[None]:
    """A savepoint: what the database refuses inside it (a unique name taken) rolls back
    to it and is DuplicateNameError(``message``), or the message given for the column
    the database's error names (``external_id="external id 'x' is already enrolled"``)."""
    try:
        with session.begin_nested():
            yield
    except IntegrityError as exc:
        refused = str(exc.orig)
        shown = next((text for column, text in by_column.items() if column in refused), message)
        raise DuplicateNameError(shown) from None
