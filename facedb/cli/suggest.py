"""Command names as people type them: the US spelling `enroll` for `enrol`, and
"did you mean" for a typo. Standard library only (difflib): the CLI's start stays
light."""

from __future__ import annotations

from collections.abc import Iterable

import click

# Other spellings of a command: alias -> the command's name.
ALIASES: dict[str, str] = {"enroll": "enrol"}


def closest(word: str, known: Iterable[str], limit: int = 3) -> list[str]:
    """The known words closest to ``word`` (a typo, another spelling), best first."""
    import difflib  # only for a mistyped command

    candidates = list(known)
    lowered = {c.lower(): c for c in candidates}
    found = difflib.get_close_matches(word.lower(), list(lowered), n=limit, cutoff=0.6)
    prefixed = [c for c in candidates if c.lower().startswith(word.lower()) and len(word) >= 2]
    return list(dict.fromkeys([*prefixed, *(lowered[f] for f in found)]))[:limit]


class SuggestingGroup(click.Group):
    """A group whose unknown subcommand is answered with the closest names
    ("did you mean ...?") and that knows the aliases."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name in ALIASES and self.get_command(ctx, name) is None:
            args = [ALIASES[name], *args[1:]]
        if args and not args[0].startswith("-") and self.get_command(ctx, args[0]) is None:
            guesses = closest(args[0], self.list_commands(ctx))
            hint = f" Did you mean {' or '.join(repr(g) for g in guesses)}?" if guesses else ""
            ctx.fail(f"No such command {args[0]!r}.{hint}")
        return super().resolve_command(ctx, args)
