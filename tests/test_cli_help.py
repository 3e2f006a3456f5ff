"""Every command explains itself: --help works and says what the command does."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from facedb.cli.commands import COMMANDS
from facedb.cli.main import main


def _all_commands() -> list[list[str]]:
    paths: list[list[str]] = []
    context = click.Context(main)
    for name in COMMANDS:
        command = main.get_command(context, name)
        assert command is not None, name
        paths.append([name])
        if isinstance(command, click.Group):
            paths += [[name, sub] for sub in command.list_commands(context)]
    return paths


@pytest.mark.parametrize("path", _all_commands(), ids=" ".join)
def test_every_command_has_help(path: list[str]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    description = result.output.split("\n\n")[1].strip()
    assert len(description) > 15, f"{' '.join(path)} has no description"


def test_an_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["enrl"])
    assert result.exit_code == 2
    assert "No such command 'enrl'. Did you mean 'enrol'?" in result.output
