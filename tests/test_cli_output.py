"""Tables print data as it is: text that looks like rich markup is not markup."""

from __future__ import annotations

import click
from click.testing import CliRunner

from facedb.cli.output import print_table


@click.command()
def _show() -> None:
    print_table(("name", "last error"), [("[bold]Eve[/bold]", "HTTP 500: [/]")])


def test_markup_in_a_cell_is_printed_not_interpreted() -> None:
    result = CliRunner().invoke(_show)
    assert result.exit_code == 0, result.output  # "[/]" used to raise MarkupError
    assert "[bold]Eve[/bold]" in result.output
    assert "[/]" in result.output
