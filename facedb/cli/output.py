"""One way to print results: a rich table for people, JSON for machines."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast
from uuid import UUID

import click

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

P = ParamSpec("P")
R = TypeVar("R")


# rich is imported on first use (~0.1 s): commands that print no table start without it.
@functools.cache
def console() -> Console:
    from rich.console import Console

    return Console()


@functools.cache
def err_console() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def json_option(func: Callable[P, R]) -> Callable[P, R]:
    """Adds --json to a command that prints data."""
    option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
    return option(func)


def format_option(help: str | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Adds --format table|csv|json (as ``fmt``) to a command that prints a report,
    and --json, the same as --format json, as on every command that prints data."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def command(*args: Any, json_flag: bool = False, **kwargs: Any) -> Any:
            if json_flag:
                kwargs["fmt"] = "json"
            return func(*args, **kwargs)

        with_json = click.option(
            "--json", "json_flag", is_flag=True, help="Print JSON (the same as --format json)."
        )(command)
        with_format = click.option(
            "--format",
            "fmt",
            type=click.Choice(["table", "csv", "json"]),
            default="table",
            show_default=True,
            help=help,
        )(with_json)
        return cast("Callable[P, R]", with_format)

    return decorate


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, Path | UUID):
        return str(value)
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot serialise {type(value).__name__}")


def to_json(data: Any) -> str:
    if is_dataclass(data) and not isinstance(data, type):
        data = asdict(data)
    return json.dumps(data, default=_default, ensure_ascii=False, indent=2)


def print_json(data: Any) -> None:
    click.echo(to_json(data))


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    title: str | None = None,
    *,
    styles: Mapping[str, str] | None = None,
) -> None:
    """A table that fits the terminal (80 columns in a pipe): a cell of up to
    _WHOLE characters is never wrapped and no word is split across lines; when even
    that does not fit, the last columns are left out (so columns go most useful
    first), and a line on stderr says which (--json has them all). ``styles``: a
    rich style for the cells of exactly this text (``{"fail": "red"}``), shown on a
    terminal only."""
    from rich.markup import escape
    from rich.table import Table

    cells = [["" if v is None else _cell(v) for v in row] for row in rows]
    widths = [
        max(_min_width(t) for t in [name, *(r[i] for r in cells)]) for i, name in enumerate(columns)
    ]
    shown = len(columns)
    # Each column takes its text, a space either side and a rule; plus the last rule.
    while shown > 1 and sum(widths[:shown]) + 3 * shown + 1 > console().width:
        shown -= 1
    table = Table(title=title, show_lines=False)
    for name, width in zip(columns[:shown], widths[:shown], strict=True):
        table.add_column(name, min_width=width, overflow="ellipsis")
    from rich.text import Text

    for row in cells:
        table.add_row(*(Text(text, style=(styles or {}).get(text, "")) for text in row[:shown]))
    console().print(table)
    if shown < len(columns):
        left_out = ", ".join(columns[shown:])
        err_console().print(f"(not shown at this width: {escape(left_out)}; --json has all)")


# A cell this short (a time with its offset, a name) is kept on one line; a longer
# one wraps between words, and a word longer than _MAX_WORD (a path, a URL) is cut
# short with "…" rather than widening its column past the terminal.
_WHOLE = 22
_MAX_WORD = 24


def _min_width(text: str) -> int:
    if len(text) <= _WHOLE:
        return len(text)
    return min(_MAX_WORD, max((len(word) for word in text.split()), default=0))


def _cell(value: Any) -> str:
    """A cell's text (a rich Text, never read as markup: names, reasons and a receiver's
    error text are data, and "[/]" in one would otherwise stop the table with an error):
    yes/no for booleans, times with their UTC offset, no trailing zeros."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1 else f"{value:.1f}"
    if isinstance(value, datetime):
        from .times import offset

        if value.tzinfo is None:
            return f"{value:%Y-%m-%d %H:%M}"
        return f"{value:%Y-%m-%d %H:%M}{offset(value)}"
    return str(value)


def count_progress(verb: str, *, quiet: bool) -> Progress:
    """A progress bar over a known number of items (people, rows), naming the
    current one in the field ``item``; silent for --json and when stderr is no
    terminal."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(
        TextColumn(f"[bold]{verb}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[item]}"),
        TimeElapsedColumn(),
        console=err_console(),
        disable=quiet or not err_console().is_terminal,
    )
