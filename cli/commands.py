"""The list of command groups, one module each."""

from __future__ import annotations

import click

from facedb.cli.db import db

ALL: list[click.Command] = [db]
