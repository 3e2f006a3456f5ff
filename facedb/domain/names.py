"""The names of people, sites, groups, shifts and reviewers: how long one may be and
its one stored spelling."""

from __future__ import annotations

import unicodedata

from facedb.errors import InvalidInputError

NAME_MAX_LENGTH = 200

# Unicode categories refused in names: controls (Cc), format characters (Cf: the bidi
# overrides and isolates U+202A-202E, U+2066-2069, the marks U+200E/U+200F/U+061C,
# zero-width space, joiners, BOM, soft hyphen), surrogates, private use, and line or
# paragraph separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
# Letters that render as nothing (Hangul fillers, braille blank).
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def clean_name(name: str) -> str:
    """The stored form of a person's name: NFKC (so that compatibility forms such as
    full-width letters, ligatures and non-breaking spaces are one spelling), trimmed,
    runs of spaces made one, not too long; refused (InvalidInputError) when it holds a
    control, bidi, zero-width or other invisible character, so that no two names that
    look alike are two people. Every entry point (CLI, API, import, cache) calls this."""
    normalised = unicodedata.normalize("NFKC", name)
    bad = next(
        (ch for ch in normalised if unicodedata.category(ch) in _REFUSED_CATEGORIES),
        None,
    ) or next((ch for ch in normalised if ch in _INVISIBLE), None)
    if bad is not None:
        kind = "a control" if unicodedata.category(bad) == "Cc" else "an invisible or bidi"
        raise InvalidInputError(
            f"a name cannot contain {kind} character (U+{ord(bad):04X} "
            f"{unicodedata.name(bad, 'unnamed')}): {ascii(name)[:80]}"
        )
    cleaned = " ".join(normalised.split())
    if not cleaned:
        raise InvalidInputError("a name cannot be empty")
    if len(cleaned) > NAME_MAX_LENGTH:
        raise InvalidInputError(
            f"a name is at most {NAME_MAX_LENGTH} characters, not {len(cleaned)}"
        )
    return cleaned
