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
# Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties.txt, 15.1):
# what a renderer shows as nothing. Most are format characters (Cf, refused above);
# these also hold combining marks (U+034F grapheme joiner, U+17B4/U+17B5 Khmer
# inherent vowels, U+180B-180F Mongolian and U+FE00-FE0F variation selectors) and
# unassigned code points that would print as nothing.
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD),
    (0x034F, 0x034F),
    (0x061C, 0x061C),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFF8),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)


def clean_name(name: str) -> str:
    """The stored form of a person's name: NFKC (so that compatibility forms such as
    full-width letters, ligatures and non-breaking spaces are one spelling), trimmed,
    runs of spaces made one, not too long; refused (InvalidInputError) when it holds a
    control, bidi, zero-width or other invisible (Unicode default-ignorable) character,
    or a combining mark on no letter, so that no two names that look alike are two
    people. Every entry point (CLI, API, import, cache) calls this."""
    normalised = unicodedata.normalize("NFKC", name)
    bad = next((ch for ch in normalised if _invisible(ch)), None)
    if bad is not None:
        kind = "a control" if unicodedata.category(bad) == "Cc" else "an invisible or bidi"
        raise InvalidInputError(
            f"a name cannot contain {kind} character (U+{ord(bad):04X} "
            f"{unicodedata.name(bad, 'unnamed')}): {ascii(name)[:80]}"
        )
    cleaned = " ".join(normalised.split())
    stray = _stray_mark(cleaned)
    if stray is not None:
        raise InvalidInputError(
            f"a name cannot contain a combining mark on no letter (U+{ord(stray):04X} "
            f"{unicodedata.name(stray, 'unnamed')}): {ascii(name)[:80]}"
        )
    if not cleaned:
        raise InvalidInputError("a name cannot be empty")
    if len(cleaned) > NAME_MAX_LENGTH:
        raise InvalidInputError(
            f"a name is at most {NAME_MAX_LENGTH} characters, not {len(cleaned)}"
        )
    return cleaned


def _invisible(ch: str) -> bool:
    if unicodedata.category(ch) in _REFUSED_CATEGORIES or ch in _INVISIBLE:
        return True
    code = ord(ch)
    return any(low <= code <= high for low, high in _DEFAULT_IGNORABLE)


def _stray_mark(name: str) -> str | None:
    """A combining mark with no letter or digit to sit on (at the start, or after a
    space or punctuation): it prints over nothing, or over the character before."""
    base = False
    for ch in name:
        category = unicodedata.category(ch)
        if category.startswith("M"):
            if not base:
                return ch
        else:
            base = category[0] in "LN"
    return None
