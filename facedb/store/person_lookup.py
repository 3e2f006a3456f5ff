"""People named as users type them: a name that is nobody's exactly is accepted when
it can only mean one person (the unique start of a name, or the first name of exactly
one person), and otherwise refused with the closest names."""

from __future__ import annotations

import difflib

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facedb.store.tables.core import User

MIN_PREFIX = 2  # characters: a single letter names nobody
_SHOWN = 3
_NAMES_COMPARED = 10_000  # for the suggestions; a larger gallery is named exactly


def only_match(session: Session, typed: str) -> User | None:
    """The one person ``typed`` can mean: the only name starting with it (any case),
    else the only person whose first name it is; None when no one or several."""
    if len(typed) < MIN_PREFIX:
        return None
    pattern = _like_escaped(typed.lower()) + "%"
    found = list(
        session.scalars(
            select(User)
            .where(func.lower(User.name).like(pattern, escape="\\"))
            .order_by(func.lower(User.name), User.id)
            .limit(50)
        )
    )
    if len(found) == 1:
        return found[0]
    first_names = [u for u in found if u.name.split()[0].lower() == typed.lower()]
    return first_names[0] if len(first_names) == 1 else None


def not_found_message(session: Session, typed: str) -> str:
    """Why ``typed`` names nobody, with the names it may have meant."""
    starting = (
        list(
            session.scalars(
                select(User.name)
                .where(func.lower(User.name).like(_like_escaped(typed.lower()) + "%", escape="\\"))
                .order_by(func.lower(User.name))
                .limit(_SHOWN + 1)
            )
        )
        if len(typed) >= MIN_PREFIX
        else []
    )
    if len(starting) > 1:
        shown = ", ".join(repr(n) for n in starting[:_SHOWN])
        more = ", ..." if len(starting) > _SHOWN else ""
        return f"{typed!r} could be {shown}{more}: give more of the name"
    names = list(session.scalars(select(User.name).limit(_NAMES_COMPARED)))
    if not names:
        return f"no enrolled person is called {typed!r}: nobody is enrolled yet (facedb enrol)"
    by_lower = {n.lower(): n for n in names}
    close = [n.lower() for n in starting]  # a name it starts: the first suggestion
    close += difflib.get_close_matches(typed.lower(), list(by_lower), n=_SHOWN, cutoff=0.6)
    # A first name or a surname alone compares badly with a whole name: each word too.
    words = {w.lower(): n for n in names for w in n.split()}
    close += [words[w] for w in difflib.get_close_matches(typed.lower(), list(words), n=_SHOWN)]
    suggestions = list(dict.fromkeys(by_lower.get(c, c) for c in close))[:_SHOWN]
    hint = f"; did you mean {' or '.join(repr(s) for s in suggestions)}?" if suggestions else ""
    return f"no enrolled person is called {typed!r}{hint} (facedb users list shows everyone)"


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
