"""One way to print results: a rich table for people, JSON for machines."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar
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
    """Adds --format table|csv|json (as ``fmt``) to a command that prints a report."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "csv", "json"]),
        default="table",
        show_default=True,
        help=help,
    )


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
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
    columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None
) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for index, column in enumerate(columns):
        # The first column names the row (a person, a model): never cut it short.
        table.add_column(column, no_wrap=index == 0, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else _cell(v, escape) for v in row))
    console().print(table)


def _cell(value: Any, escape: Callable[[str], str]) -> str:
    """A cell's text, markup escaped: names, reasons and a webhook receiver's error
    text are data, and "[/]" in one would otherwise stop the table with an error."""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    return escape(str(value))


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
