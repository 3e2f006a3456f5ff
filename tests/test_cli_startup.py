"""An instant CLI: listing the commands imports none of them, nor numpy,
onnxruntime or SQLAlchemy (facedb/cli/lazy.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import click

from facedb.cli.commands import COMMANDS
from facedb.cli.main import main

HEAVY = ("numpy", "onnxruntime", "onnx", "cv2", "sqlalchemy", "alembic", "fastapi")

PROBE = """
import json, sys
from facedb.cli.main import main
try:
    main(sys.argv[1:], prog_name="facedb")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def _imported(*args: str) -> set[str]:
    run = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60
    )
    return set(json.loads(run.stderr.strip().splitlines()[-1]))


def test_help_imports_no_heavy_module() -> None:
    modules = _imported("--help")
    assert "facedb.cli.main" in modules  # the probe did run facedb
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert not heavy, f"`facedb --help` imports {heavy[:5]}"
    commands = sorted(m for m in modules if m.startswith("facedb.cli.") and m.count(".") == 2)
    assert commands == [
        "facedb.cli.commands",
        "facedb.cli.lazy",
        "facedb.cli.main",
        "facedb.cli.suggest",
    ]


def test_users_help_loads_only_its_module() -> None:
    modules = _imported("users", "--help")
    assert "facedb.cli.users" in modules
    assert "facedb.cli.enrol" not in modules
    assert "onnx" not in modules


def test_help_lines_of_the_table_are_listed() -> None:
    text = main.get_help(click.Context(main, info_name="facedb"))
    for name, (_, line) in COMMANDS.items():
        assert name in text
        assert line.split()[0] in text


def test_commands_that_only_read_the_database_load_no_vision_stack() -> None:
    for command in (("users", "list", "--help"), ("report", "--help")):
        modules = _imported(*command)
        assert f"facedb.cli.{command[0]}" in modules
        vision = sorted(
            m
            for m in modules
            if m.split(".")[0] in ("cv2", "onnxruntime", "onnx", "PIL", "alembic")
            or m.startswith(("facedb.vision", "facedb.media"))
        )
        assert not vision, f"`facedb {' '.join(command)}` imports {vision[:5]}"
