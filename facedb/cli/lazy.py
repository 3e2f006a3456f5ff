"""A click group that imports a command's module only when that command runs.

``facedb --help`` lists every command from the table's one-line help, so that
listing imports none of them (no numpy, onnxruntime or SQLAlchemy: tests/test_cli_startup.py).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping

import click


class LazyGroup(click.Group):
    """Commands from ``lazy_commands``: name -> ("module:attribute", one-line help),
    the module relative to ``lazy_package``."""

    lazy_commands: Mapping[str, tuple[str, str]] = {}
    lazy_package: str = __package__ or "facedb.cli"

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy_commands, *super().list_commands(ctx)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = self.lazy_commands.get(cmd_name)
        if entry is None:
            return super().get_command(ctx, cmd_name)
        module_name, attribute = entry[0].split(":")
        module = importlib.import_module(f".{module_name}", self.lazy_package)
        command = getattr(module, attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{entry[0]} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_line) for name, (_, help_line) in self.lazy_commands.items()]
        rows += [
            (name, command.get_short_help_str(formatter.width))
            for name, command in self.commands.items()
            if not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)
