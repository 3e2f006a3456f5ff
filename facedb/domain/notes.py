"""Free text that people type and the database keeps (notes of corrections, leave and
reviews, reasons of unlocks): bounded, trimmed, no control characters."""

from __future__ import annotations

import unicodedata

from facedb.errors import InvalidInputError

NOTE_MAX_LENGTH = 2000


def clean_note(note: str | None, what: str = "a note") -> str | None:
    """A free-text note as stored: trimmed, at most NOTE_MAX_LENGTH characters, no
    control characters but newlines and tabs (PostgreSQL refuses NUL in text); None
    when empty. InvalidInputError (exit code 2, HTTP 422) otherwise."""
    if note is None or not note.strip():
        return None
    if any(unicodedata.category(ch) == "Cc" and ch not in "\n\t" for ch in note):
        raise InvalidInputError(f"{what} cannot contain control characters")
    if len(note.strip()) > NOTE_MAX_LENGTH:
        raise InvalidInputError(
            f"{what} is at most {NOTE_MAX_LENGTH} characters, not {len(note.strip()):,}"
        )
    return note.strip()
